"""Reloading the FAQ while serving: an edit changes the answers; an invalid edit is logged with file:line and
the last good FAQ keeps answering; an invalid FAQ at start-up stops `serve` with exit code 1."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import FaqSettings
from bot.fakeslack import FakeSlack
from bot.reload import Reloader
from knowledge import DEFAULT_SEEDS_DIR

from .slackkit import FIXTURE_FAQ, LICENSING_Q, SECRET, Slack, all_text, start_slack, until

ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture
def faq(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE_FAQ, tmp_path / "faq")
    return tmp_path / "faq"


@pytest.fixture
async def served(fake: FakeSlack, faq: Path) -> AsyncIterator[tuple[Slack, Reloader]]:
    source = FaqSettings(faq, Path(DEFAULT_SEEDS_DIR))
    slack = await start_slack(fake, source.load())
    reloader = Reloader(slack.holder, source.load, [faq])
    watcher = asyncio.create_task(reloader.watch(interval=0.02))
    yield slack, reloader
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    await slack.runner.cleanup()


async def _answer(slack: Slack, count: int) -> str:
    await slack.fake.mention(LICENSING_Q)
    reply = await slack.reply(count=count)
    return all_text(reply["blocks"])


def _edit(faq: Path, old: str, new: str) -> None:
    path = faq / "small.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


async def test_editing_the_faq_while_serving_changes_the_answers(served, faq: Path) -> None:
    slack, _ = served
    assert "read the licence" in await _answer(slack, 1)
    before = slack.holder.current
    _edit(faq, "*read the licence*", "*ask your lawyers first*")
    await until(lambda: slack.holder.current is not before)
    shown = await _answer(slack, 2)
    assert "ask your lawyers first" in shown and "read the licence" not in shown


async def test_an_invalid_edit_is_logged_with_file_and_line_and_the_last_good_faq_keeps_answering(
        served, faq: Path, caplog: pytest.LogCaptureFixture) -> None:
    slack, _ = served
    caplog.set_level(logging.ERROR, logger="bot.reload")
    good = slack.holder.current
    _edit(faq, "  - id: llama\n", "  - id: licensing\n")  # a duplicate id: invalid as a whole
    await until(lambda: slack.holder.counters.reload_failures == 1)
    assert slack.holder.current is good
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "small.yaml:17:" in logged, logged
    assert "read the licence" in await _answer(slack, 1)
    # Fixing the file is picked up again.
    _edit(faq, "  - id: licensing\n    question: What are Meta", "  - id: llama\n    question: What are Meta")
    await until(lambda: slack.holder.current is not good)


async def test_a_broken_yaml_file_is_rejected_without_interrupting_answers(served, faq: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    slack, reloader = served
    caplog.set_level(logging.ERROR, logger="bot.reload")
    good = slack.holder.current
    (faq / "broken.yaml").write_text("entries:\n  - id: [unclosed\n")
    await until(lambda: slack.holder.counters.reload_failures == 1)
    assert slack.holder.current is good
    assert "broken.yaml:" in "\n".join(r.getMessage() for r in caplog.records)
    assert "read the licence" in await _answer(slack, 1)
    assert await reloader.reload("test") is False  # an explicit reload (SIGHUP) is refused the same way


async def test_serve_with_an_invalid_faq_exits_1_listing_every_problem(fake: FakeSlack, faq: Path) -> None:
    _edit(faq, "  - id: llama\n", "  - id: licensing\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url, "KNOWLEDGE_DIR": str(faq),
                "SLACK_SIGNING_SECRET": SECRET, "DOTENV_PATH": os.devnull})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", env=env, cwd=ROOT,
                                                   stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert "small.yaml:17:" in stderr.decode()
    assert fake.calls == []  # it never got as far as talking to Slack


async def test_serve_reloads_an_edited_faq_on_sighup_without_restarting(fake: FakeSlack, faq: Path) -> None:
    import signal

    from .test_deploy import _free_port, _serve, _wait_healthy

    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port),
                           KNOWLEDGE_DIR=str(faq))
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        await fake.mention(LICENSING_Q)
        assert "read the licence" in all_text((await fake.wait_for("chat.postMessage"))[0].args["blocks"])
        _edit(faq, "*read the licence*", "*ask your lawyers first*")
        process.send_signal(signal.SIGHUP)
        for count in range(2, 200):  # the same process answers from the new FAQ once it has loaded it
            await fake.mention(LICENSING_Q)
            latest = (await fake.wait_for("chat.postMessage", count))[-1].args
            if "ask your lawyers first" in all_text(latest["blocks"]):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the edited FAQ was never served")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        assert b"FAQ reloaded" in await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _health(slack: Slack) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(slack.url + "/healthz") as response:
        assert response.status == 200  # still answering from the last good FAQ
        return await response.json()


async def test_healthz_says_whether_the_faq_on_disk_is_valid_now_and_since_when(served, faq: Path) -> None:
    slack, _ = served
    assert (await _health(slack))["faq"]["valid"] is True
    _edit(faq, "  - id: llama\n", "  - id: licensing\n")
    await until(lambda: slack.holder.counters.reload_failures == 1)
    broken = (await _health(slack))["faq"]
    assert broken["valid"] is False and broken["problems"] >= 1 and broken["checked_at"]
    _edit(faq, "  - id: licensing\n    question: What are Meta", "  - id: llama\n    question: What are Meta")
    await until(lambda: slack.holder.faq.valid)
    fixed = (await _health(slack))["faq"]
    assert fixed["valid"] is True and fixed["problems"] == 0 and fixed["checked_at"] >= broken["checked_at"]
    assert (await _health(slack))["reload_failures"] == 1  # the count stays: it is history, `faq` is now
