"""The weekly digest posted through the fake Slack, on SQLite and PostgreSQL: exactly once across replicas racing for
it, none for a week without questions, never twice after a replica stopped mid-post (which is logged with the command
that posts it), not when due long ago; `openllm-bot digest` prints or posts a chosen week; and `serve` posts it from
two replicas at once exactly once, and refuses a hand-off channel the bot is not in, in one line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import Channel
from bot.digest import DigestPoster, Schedule
from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.reload import TaughtWatcher
from bot.state import KnowledgeHolder
from bot.store import QuestionRecord, Store, as_utc
from knowledge import KnowledgeBase
from knowledge.content.written import NewEntry

from .slackkit import FIXTURE_FAQ, SECRET, STORE_KEY, all_text, assert_sendable

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SCHEDULE = Schedule(0, 9, UTC)
HOSTILE = "is <!channel> llama open? <@U0EVIL>"


def seed(store: Store, end: datetime = END) -> None:
    asked = as_utc(end - timedelta(days=2))
    store.add_questions([QuestionRecord(asked, "mention", "answer", entry_id="licensing", text="licence terms"),
                         QuestionRecord(asked, "dm", "none", text=HOSTILE)])


def poster(fake: FakeSlack, store: Store, kb: KnowledgeBase, at: datetime, name: str) -> DigestPoster:
    """A replica's poster: a store of its own on the same database, the clock stopped at `at`."""
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    recorder = Recorder(Store(store.url), STORE_KEY)
    return DigestPoster(SCHEDULE, Channel("DIGEST_CHANNEL", "#faq-digest"), recorder, KnowledgeHolder(kb), client,
                        clock=lambda: at, name=name)


def digests(fake: FakeSlack) -> list[dict]:
    return [c.args for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "CDIGEST"]


async def test_replicas_racing_for_the_digest_post_it_once(fake: FakeSlack, store: Store, kb: KnowledgeBase) -> None:
    seed(store)
    replicas = [poster(fake, store, kb, END + timedelta(minutes=1), f"replica-{n}") for n in range(4)]
    try:
        outcomes = await asyncio.gather(*(r.check() for r in replicas))
        assert sorted(outcomes) == ["posted", "taken", "taken", "taken"]
        [posted] = digests(fake)
        assert_sendable(posted)
        assert "FAQ digest: Mon 30 Nov to Mon 07 Dec 2026, 09:00 UTC" in all_text(posted["blocks"])
        assert "&lt;!channel&gt;" in all_text(posted["blocks"])
        # Every minute after, each replica checks again: still once.
        assert {await r.check() for r in replicas} == {"taken"}
        assert len(digests(fake)) == 1 and len(fake.calls_to("conversations.list")) == 1
        record = store.digest_record("2026-12-07")
        assert record is not None and record.status == "posted" and record.channel == "CDIGEST"
        assert record.ts == fake.visible_messages("CDIGEST")[0].ts
    finally:
        for replica in replicas:
            replica.recorder.close()


async def test_a_workspaces_digest_reads_what_it_taught_as_its_own_knowledge_base_says_it(
        fake: FakeSlack, store: Store, kb: KnowledgeBase) -> None:
    # Installed in many workspaces, a digest for one of them names the entries it wrote itself (no request, and so no
    # `holder.current`, says which workspace it is for).
    asked = as_utc(END - timedelta(days=2))
    entry = NewEntry("what-is-hugging-face", "small", "What is Hugging Face?", "A hub where open models are shared.",
                     (("001_ef82fbb3a280ee8f.txt", "- Hugging Face: While not a model developer in the same vein as "
                       "Meta or Mistral, Hugging Face is an indispensable hub for the open source AI community."),))
    store.add_questions([QuestionRecord(asked, "dm", "none", team="T0AAA", text="what is hugging face")])
    store.add_written(entry, "UADMIN", "T0AAA", at=asked)
    store.add_taught("tell me about huggingface", entry.id, None, "UADMIN", at=asked, team_id="T0AAA")
    replica = poster(fake, store, kb, END + timedelta(minutes=1), "replica")
    replica.team, replica.holder.per_workspace = "T0AAA", True
    try:
        assert await TaughtWatcher(replica.holder, store).check()
        assert await replica.check() == "posted"
    finally:
        replica.recorder.close()
    [posted] = digests(fake)
    assert "“tell me about huggingface” → *What is Hugging Face?*" in all_text(posted["blocks"])


async def test_a_week_without_questions_gets_no_digest(fake: FakeSlack, store: Store, kb: KnowledgeBase) -> None:
    seed(store, END - timedelta(days=14))  # questions, but not in the week before END
    replica = poster(fake, store, kb, END + timedelta(minutes=1), "replica")
    try:
        assert await replica.check() == "empty"
        assert await replica.check() == "taken"
    finally:
        replica.recorder.close()
    assert digests(fake) == []
    record = store.digest_record("2026-12-07")
    assert record is not None and record.status == "empty"


async def test_a_replica_that_stopped_mid_post_is_not_followed_by_a_second_post(
        fake: FakeSlack, store: Store, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture) -> None:
    seed(store)
    # Another replica claimed it 20 minutes ago and never said it posted (it stopped, maybe after posting).
    store.claim_digest("2026-12-07", as_utc(END - timedelta(days=7)), as_utc(END), "gone:42",
                       at=as_utc(END + timedelta(minutes=1)))
    replica = poster(fake, store, kb, END + timedelta(minutes=21), "replica")
    try:
        with caplog.at_level(logging.WARNING, "bot.digest"):
            assert await replica.check() == "taken"
            assert await replica.check() == "taken"
    finally:
        replica.recorder.close()
    assert digests(fake) == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.digest"]
    assert len(warnings) == 1  # said once, not every minute
    assert "claimed by gone:42" in warnings[0] and "openllm-bot digest --week 2026-12-07 --post --again" in warnings[0]


async def test_a_digest_due_long_ago_is_not_posted_late_and_a_failed_post_is_not_tried_again(
        fake: FakeSlack, store: Store, kb: KnowledgeBase) -> None:
    seed(store)
    late = poster(fake, store, kb, END + timedelta(hours=25), "late")
    failing = poster(fake, store, kb, END + timedelta(hours=23), "failing")
    try:
        assert await late.check() == "not due"
        fake.fail("chat.postMessage", "channel_not_found")
        assert await failing.check() == "failed"
        assert await failing.check() == "taken"
    finally:
        late.recorder.close()
        failing.recorder.close()
    assert len(digests(fake)) == 1 and fake.visible_messages("CDIGEST") == []  # tried once, refused
    record = store.digest_record("2026-12-07")
    assert record is not None and record.status == "failed"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DIGEST_", "HANDOFF_"))}
    return subprocess.run([sys.executable, "-m", "bot", "digest", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**base, "DOTENV_PATH": os.devnull, "KNOWLEDGE_DIR": str(FIXTURE_FAQ), **env},
                          timeout=120)


async def test_the_digest_command_prints_a_chosen_week_and_refuses_mistakes_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}")
    seed(store)
    store.close()
    printed = await asyncio.to_thread(run_cli, "--week", "2026-12-05", STORE_PATH=str(path))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("FAQ digest: Mon 30 Nov to Mon 07 Dec 2026, 09:00 UTC\n")
    assert f"“{HOSTILE}” (declined 1, suggested 0)" in printed.stdout  # as typed: it is a terminal
    empty = await asyncio.to_thread(run_cli, "--week", "2026-11-01", STORE_PATH=str(path))
    assert empty.returncode == 0 and empty.stdout == "" and "no questions in the week" in empty.stderr
    for args, env, said in (
            (("--week", "soon"), {}, "--week 'soon': give a date like 2026-12-07"),
            (("--post",), {}, "--post: SLACK_BOT_TOKEN is not set"),
            (("--post",), {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"},
             "--post: DIGEST_CHANNEL is not set"),
            ((), {"DIGEST_DAY": "noday"}, "DIGEST_DAY='noday' is not a day of the week")):
        refused = await asyncio.to_thread(run_cli, *args, STORE_PATH=str(path), **env)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and said in refused.stderr, refused.stderr


async def test_the_digest_command_prints_one_workspaces_week_with_its_own_entries(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}")
    asked = as_utc(END - timedelta(days=2))
    entry = NewEntry("what-is-hugging-face", "small", "What is Hugging Face?", "A hub where open models are shared.",
                     (("001_ef82fbb3a280ee8f.txt", "- Hugging Face: While not a model developer in the same vein as "
                       "Meta or Mistral, Hugging Face is an indispensable hub for the open source AI community."),))
    store.add_questions([QuestionRecord(asked, "dm", "none", team="T0AAA", text="what is hugging face"),
                         QuestionRecord(asked, "dm", "none", team="T0BBB", text="who runs the cafeteria")])
    store.add_written(entry, "UADMIN", "T0AAA", at=asked)
    store.add_taught("tell me about huggingface", entry.id, None, "UADMIN", at=asked, team_id="T0AAA")
    store.close()
    both = await asyncio.to_thread(run_cli, "--week", "2026-12-05", STORE_PATH=str(path))
    assert both.returncode == 2 and both.stderr.count("\n") == 1, both.stderr
    assert "the store holds 2 workspaces (T0AAA, T0BBB): name one with --team" in both.stderr
    printed = await asyncio.to_thread(run_cli, "--week", "2026-12-05", "--team", "T0AAA", STORE_PATH=str(path))
    assert printed.returncode == 0, printed.stderr
    assert "what is hugging face" in printed.stdout and "cafeteria" not in printed.stdout
    assert "“tell me about huggingface” → What is Hugging Face?" in printed.stdout  # its own entry, by its question
    posted = await asyncio.to_thread(run_cli, "--post", "--team", "T0AAA", STORE_PATH=str(path))
    assert posted.returncode == 2 and posted.stderr.count("\n") == 1 and "--team: a digest is posted for the one" in (
        posted.stderr)


async def test_the_digest_command_posts_once_unless_told_again(fake: FakeSlack, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}")
    end = SCHEDULE.due(datetime.now(UTC))  # the latest week over
    seed(store, end)
    store.close()
    env = {"STORE_PATH": str(path), "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test",
           "SLACK_API_URL": fake.api_url, "DIGEST_CHANNEL": "#faq-digest"}
    week = end.date().isoformat()
    posted = await asyncio.to_thread(run_cli, "--week", week, "--post", **env)
    assert posted.returncode == 0 and f"posted the digest of the week to {week} 09:00 UTC in #faq-digest" in (
        posted.stderr)
    again = await asyncio.to_thread(run_cli, "--post", **env)  # the latest week, by default
    assert again.returncode == 1 and "was posted already" in again.stderr and "--again" in again.stderr
    assert len(digests(fake)) == 1
    forced = await asyncio.to_thread(run_cli, "--week", week, "--post", "--again", **env)
    assert forced.returncode == 0 and len(digests(fake)) == 2
    future = await asyncio.to_thread(run_cli, "--week", "2999-01-01", "--post", **env)
    assert future.returncode == 2 and "is not over yet" in future.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _serve(fake: FakeSlack, path: Path, **env: str) -> asyncio.subprocess.Process:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_", "DIGEST_", "HANDOFF_"))}
    base.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url, "KNOWLEDGE_DIR": str(FIXTURE_FAQ),
                 "DOTENV_PATH": os.devnull, "STORE_PATH": str(path), "SLACK_SIGNING_SECRET": SECRET,
                 "PORT": str(_free_port()), **env})
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", env=base, cwd=ROOT,
                                                stderr=asyncio.subprocess.PIPE)


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time given"
        await asyncio.sleep(0.1)


async def test_two_replicas_serving_post_the_digest_due_once(fake: FakeSlack, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}")
    seed(store, now)
    store.close()
    # Due at the top of this hour, today: both replicas find it due as they start.
    schedule = {"DIGEST_CHANNEL": "#faq-digest", "DIGEST_DAY": now.strftime("%A"), "DIGEST_HOUR": str(now.hour)}
    replicas = [await _serve(fake, path, **schedule) for _ in range(2)]
    try:
        await _until(lambda: len(digests(fake)) >= 1, 90)
        await asyncio.sleep(2)  # time enough for a second post, were there one
        assert len(digests(fake)) == 1
        for replica in replicas:
            replica.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(replica.wait(), 30) == 0
    finally:
        for replica in replicas:
            if replica.returncode is None:
                replica.kill()
                await replica.wait()


async def test_serve_refuses_a_handoff_channel_the_bot_is_not_in_in_one_line(fake: FakeSlack, tmp_path: Path) -> None:
    process = await _serve(fake, tmp_path / "store.sqlite3", HANDOFF_CHANNEL="#random", DIGEST_CHANNEL="#nowhere")
    try:
        assert await asyncio.wait_for(process.wait(), 90) == 2
        assert process.stderr is not None
        said = (await process.stderr.read()).decode()
        lines = [line for line in said.splitlines() if line.startswith("openllm-bot:")]
        assert lines == ["openllm-bot: HANDOFF_CHANNEL=#random: the bot is not in that channel, and must be to read "
                         "the replies there: /invite @openllm in #random",
                         "openllm-bot: DIGEST_CHANNEL=#nowhere: the bot sees no channel of that name (a private "
                         "channel must invite the bot first): check the name, or give the channel's id"], said
        assert "Traceback" not in said
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
