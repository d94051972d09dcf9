"""The deployable pieces: `openllm-bot serve` as a real process in each mode, the manifest, .env.example, Procfile."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.fakeslack import FakeSlack, wait_until_healthy
from bot.store import Store

from .slackkit import FIXTURE_FAQ, LICENSING_Q, SECRET, alive, all_text, children

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0
UNSURE_Q = "who owns the llama weights"  # the fixture FAQ only suggests entries for it


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _serve(fake: FakeSlack, mode: str, **env: str) -> asyncio.subprocess.Process:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    base.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url, "KNOWLEDGE_DIR": str(FIXTURE_FAQ),
                 "DOTENV_PATH": os.devnull, "STORE_ENABLED": "false", **env})
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", f"--{mode}", env=base,
                                                cwd=ROOT, stderr=asyncio.subprocess.PIPE)


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), STARTUP_SECONDS)


@pytest.fixture
async def http_process(fake: FakeSlack) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port))
    yield process, f"http://127.0.0.1:{port}"
    if process.returncode is None:
        process.kill()
        await process.wait()


async def _wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    if not await wait_until_healthy(url, process, STARTUP_SECONDS):
        raise AssertionError("the server never became healthy")


async def test_serve_http_answers_signed_events_and_stops_cleanly_on_sigterm(http_process, fake: FakeSlack) -> None:
    process, url = http_process
    await _wait_healthy(url, process)
    fake.send_over_http(url + "/slack/events", SECRET)
    ts = await fake.mention(LICENSING_Q)
    reply = (await fake.wait_for("chat.postMessage"))[0].args
    assert reply["thread_ts"] == ts and "read the licence" in all_text(reply["blocks"])
    assert await _stop(process) == 0
    assert b"xoxb-test" not in await process.stderr.read()


async def test_serve_records_each_question_in_the_store_and_writes_it_before_exiting(fake: FakeSlack,
                                                                                  tmp_path: Path) -> None:
    port, path = _free_port(), tmp_path / "questions.sqlite3"
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), STORE_ENABLED="true",
                           STORE_PATH=str(path))
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        await fake.mention(LICENSING_Q, channel="CREC", user="UASKER")
        await fake.wait_for("chat.postMessage")
        assert await _stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    store = Store(f"sqlite:///{path}")
    try:
        [asked] = store.questions_since(datetime(2000, 1, 1, tzinfo=UTC))
    finally:
        store.close()
    assert (asked.surface, asked.outcome, asked.channel) == ("mention", "answer", "CREC")
    assert asked.entry_id and asked.text and asked.user_hash and "UASKER" not in asked.user_hash
    assert (tmp_path / "questions.sqlite3.key").exists()


async def test_serve_answers_with_a_phrasing_another_replica_taught_within_10_seconds(fake: FakeSlack,
                                                                                     tmp_path: Path) -> None:
    port, path = _free_port(), tmp_path / "questions.sqlite3"
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), STORE_ENABLED="true",
                           STORE_PATH=str(path))
    store = Store(f"sqlite:///{path}")
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)

        async def answer(asker: int) -> str:
            await fake.mention(UNSURE_Q, user=f"UASKER{asker}")
            return all_text((await fake.wait_for("chat.postMessage", asker + 1))[asker].args["blocks"])

        assert "did you mean" in await answer(0)
        # Taught on another replica sharing the store: this one only sees the store change.
        store.add_taught(UNSURE_Q, "llama", None, "UADMIN")
        taught_at = time.monotonic()
        asker = 1
        while "LLaMA is Meta's family of models" not in await answer(asker):
            assert time.monotonic() - taught_at < 10, "not answered with what was taught within 10 s"
            asker += 1
            await asyncio.sleep(0.5)
        assert await _stop(process) == 0
    finally:
        store.close()
        if process.returncode is None:
            process.kill()
            await process.wait()


@asynccontextmanager
async def _serving_http(fake: FakeSlack, **env: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`serve --http` with `env`, healthy, the fake Slack sending to it; killed at the end if still running."""
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), **env)
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_matches_in_worker_processes_and_leaves_none_behind(fake: FakeSlack) -> None:
    async with _serving_http(fake, MATCHING_PROCESSES="2") as process:
        workers = children(process.pid)
        assert len(workers) == 2  # forked as it starts
        await fake.mention(LICENSING_Q)
        assert "read the licence" in all_text((await fake.wait_for("chat.postMessage"))[0].args["blocks"])
        assert children(process.pid) == workers
        # One killed: the next questions are answered all the same, by new workers.
        os.kill(min(workers), signal.SIGKILL)
        for n in range(2, 5):
            await fake.mention(LICENSING_Q, user=f"UASKER{n}")
            assert "read the licence" in all_text((await fake.wait_for("chat.postMessage", n))[n - 1].args["blocks"])
        replaced = children(process.pid)
        assert len(replaced) == 2 and not replaced & workers
        assert await _stop(process) == 0
        assert not any(alive(pid) for pid in workers | replaced)


async def test_serve_matches_on_its_own_threads_with_no_matching_processes(fake: FakeSlack) -> None:
    async with _serving_http(fake, MATCHING_PROCESSES="0") as process:
        await fake.mention(LICENSING_Q)
        assert "read the licence" in all_text((await fake.wait_for("chat.postMessage"))[0].args["blocks"])
        assert not children(process.pid)
        assert await _stop(process) == 0


async def test_serve_socket_answers_envelopes_and_stops_cleanly_on_sigterm(fake: FakeSlack) -> None:
    process = await _serve(fake, "socket", SLACK_APP_TOKEN="xapp-test")
    try:
        ts = await fake.mention(LICENSING_Q)  # waits for the app to connect and say hello
        reply = (await fake.wait_for("chat.postMessage"))[0].args
        assert reply["thread_ts"] == ts
        assert fake.acks and fake.acks[0]["envelope_id"] == fake.envelopes[0]["envelope_id"]
        assert await _stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_manifest_asks_for_everything_the_app_uses() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history"} <= scopes
    # Follow-ups: replies in threads in public and private channels and group DMs, and a 🤫 on a reply.
    assert {"channels:history", "groups:history", "mpim:history", "reactions:read"} <= scopes
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.im", "app_home_opened", "message.channels", "message.groups", "message.mpim",
        "reaction_added"}
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/openllm"]
    assert manifest["features"]["app_home"]["home_tab_enabled"]


def test_env_example_lists_every_variable_the_bot_reads() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    read: set[str] = set()
    for source in (ROOT / "bot").rglob("*.py"):
        read |= set(re.findall(r"""(?:environ\.get|env\.get|getenv)\(\s*["']([A-Z_]+)["']""", source.read_text()))
        read |= set(re.findall(r"""["']((?:SLACK|MATCH)_[A-Z_]+)["']""", source.read_text()))
    # DOTENV_PATH says where .env is; HOME and XDG_CACHE_HOME are the system's, read for the default cache folder.
    assert read - {"DOTENV_PATH", "HOME", "XDG_CACHE_HOME"} <= listed, read - listed


def test_procfile_serves_http_on_web_and_socket_mode_on_worker() -> None:
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
    assert lines == {"web": "openllm-bot serve --http", "worker": "openllm-bot serve --socket"}
