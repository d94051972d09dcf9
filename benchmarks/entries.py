"""What writing an FAQ entry from Slack costs, over loopback HTTP with the fake Slack (bot/fakeslack.py) and the real
app on the shipped FAQ (or `--faq DIR`): for each of `--entries N` unanswered questions, the admin's click on "New
entry" until the form is opened (views.open) and until its passages are listed (views.update), then Save until it is
answered (checked by the loader) and until the entry is stored and answered with (the form's last update). The first
click of the process embeds the documents' passages; the others find them cached.

Run from the repository root: `.venv/bin/python benchmarks/entries.py [--entries 5] [--faq DIR]`."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapter.aiohttp import EVENTS_PATH, start_http  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.entry_views import ANSWER, THEME  # noqa: E402
from bot.fakemodals import initial_values, latest_view, submit  # noqa: E402
from bot.fakeslack import FakeSlack  # noqa: E402
from bot.recorder import Recorder  # noqa: E402
from bot.state import KnowledgeHolder  # noqa: E402
from bot.store import Store  # noqa: E402
from knowledge import DEFAULT_FAQ_DIR, KnowledgeBase  # noqa: E402
from knowledge.content.written import themes  # noqa: E402

ADMIN, SECRET = "UADMIN", "benchmark-signing-secret-0123456789"
# Questions the shipped FAQ declines, each unlike the others (the Home groups near-duplicates into one).
QUESTIONS = ["which gpu should our render farm buy", "how tall is the eiffel tower", "who won the chess olympiad",
             "what is the best pizza topping", "when does the canteen open on fridays", "how do I renew a passport",
             "which bike lanes cross the river", "what is the capital of mongolia", "how many moons does saturn have",
             "who painted the night watch"]


def _milliseconds(values: list[float]) -> str:
    return f"median {1000 * statistics.median(values):6.0f} ms, max {1000 * max(values):6.0f} ms"


async def measure(faq: Path, entries: int) -> None:
    kb = KnowledgeBase.load(faq)
    theme = themes(kb.faq)[0]
    fake = await FakeSlack().start()
    with tempfile.TemporaryDirectory(prefix="openllm-bench-") as scratch:
        recorder = Recorder(Store(f"sqlite:///{Path(scratch) / 'store.sqlite3'}"), b"benchmark-key-0123")
        holder = KnowledgeHolder(kb)
        config = Config(bot_token="xoxb-bench", signing_secret=SECRET, api_url=fake.api_url, command="/openllm",
                        admin_user_ids=frozenset({ADMIN}))
        runner, url = await start_http(create_app(config, holder, recorder=recorder), holder, SECRET, "127.0.0.1", 0)
        fake.send_over_http(url + EVENTS_PATH, SECRET)
        opened, listed, answered, stored = [], [], [], []
        try:
            for n in range(entries):
                question = QUESTIONS[n % len(QUESTIONS)] + (f" ({n // len(QUESTIONS)})" if n >= len(QUESTIONS) else "")
                await fake.mention(question)
                await fake.wait_for("chat.postMessage", n + 1)
                published = len(fake.calls_to("views.publish"))
                await fake.open_home(user=ADMIN)
                home = (await fake.wait_for("views.publish", published + 1))[-1].args["view"]
                button = next(e["action_id"] for b in home["blocks"] for e in b.get("elements", [])
                              if e.get("action_id", "").startswith("entry_new:"))
                opens, updates = len(fake.calls_to("views.open")), len(fake.calls_to("views.update"))
                started = time.perf_counter()
                await fake.act_in_view(home, button, user=ADMIN)
                await fake.wait_for("views.open", opens + 1)
                opened.append(time.perf_counter() - started)
                await fake.wait_for("views.update", updates + 1)
                listed.append(time.perf_counter() - started)
                view = latest_view(fake)
                assert view is not None
                passages = next(b for b in view["blocks"] if b.get("block_id", "").startswith("entry_passages:"))
                values = {**initial_values(view), ANSWER: "An answer.",
                          THEME: theme, passages["block_id"]: [passages["element"]["options"][0]["value"]]}
                started = time.perf_counter()
                _, answer = await submit(fake, view, values, ADMIN)
                answered.append(time.perf_counter() - started)
                if answer is None or answer.get("response_action") != "update":
                    raise SystemExit(f"the form was refused: {answer}")
                await fake.wait_for("views.update", updates + 2)
                stored.append(time.perf_counter() - started)
        finally:
            await runner.cleanup()
            recorder.close()
            await fake.close()
    print(f"{entries} entries written on {faq} ({len(kb.faq)} entries, {len(kb.passages.passages)} passages)")
    print(f"  click -> form opened:       {_milliseconds(opened)}")
    print(f"  click -> passages listed:   {_milliseconds(listed)}  (the first: {1000 * listed[0]:.0f} ms)")
    print(f"  save  -> answered (checked): {_milliseconds(answered)}")
    print(f"  save  -> stored, answered with: {_milliseconds(stored)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=5, help="entries to write (default 5)")
    parser.add_argument("--faq", type=Path, default=DEFAULT_FAQ_DIR, help="the FAQ folder (default: the shipped one)")
    args = parser.parse_args()
    asyncio.run(measure(args.faq, args.entries))


if __name__ == "__main__":
    main()
