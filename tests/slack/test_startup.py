"""Start-up as a real process: the HTTP port answers from the start, 503 "loading" (the health check and Slack's
requests alike) while the FAQ and the model load, and 200 once ready; SIGHUP, which means "reload", never kills a
bot that is still starting. The FAQ's loading is held by making the seeds' `sources.yaml` a named pipe, which the
loader's read waits on until the test writes the file into it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.fakeslack import FakeSlack

from .slackkit import FIXTURE_FAQ, LICENSING_Q, SECRET, until
from .test_deploy import ROOT, STARTUP_SECONDS, _free_port, _stop, _wait_healthy

# `openllm-bot serve --http` as its command (bot/cli.py `cmd_serve`) hands serve() the FAQ's loader rather than the
# loaded FAQ, so that the port is served while it loads.
_SERVE_WHILE_LOADING = """
import signal
signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as bot/__main__.py does first
from functools import partial
from bot.cli import load_kb
from bot.config import Settings
from bot.serve import serve
settings = Settings.from_env(mode="http")
serve(settings, partial(load_kb, settings.faq))
"""


def _env(fake: FakeSlack, port: int, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_", "LOG_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url, "SLACK_SIGNING_SECRET": SECRET,
                "PORT": str(port), "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "DOTENV_PATH": os.devnull,
                "STORE_ENABLED": "false", **changes})
    return env


@dataclass
class HeldSeeds:
    """A copy of seeds/ whose sources.yaml is a named pipe: whoever loads the FAQ waits at it until `release`."""

    folder: Path

    @classmethod
    def make(cls, where: Path) -> HeldSeeds:
        folder = where / "seeds"
        shutil.copytree(ROOT / "seeds", folder)
        (folder / "sources.yaml").rename(where / "sources.yaml")
        os.mkfifo(folder / "sources.yaml")
        return cls(folder)

    def _write(self) -> None:
        pipe = os.open(self.folder / "sources.yaml", os.O_WRONLY)  # once the reader waits at it
        # From now on the path is the real file (a reload reads it); the reader gets the text through the pipe.
        os.replace(self.folder.parent / "sources.yaml", self.folder / "sources.yaml")
        try:
            os.write(pipe, (self.folder / "sources.yaml").read_bytes())
        finally:
            os.close(pipe)

    async def release(self) -> None:
        await asyncio.wait_for(asyncio.to_thread(self._write), STARTUP_SECONDS)


async def _health(url: str) -> tuple[int, dict] | None:
    """The health check's status and body, or None while nothing listens."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                http.get(url + "/healthz") as response:
            return response.status, await response.json()
    except aiohttp.ClientConnectionError:
        return None


@pytest.fixture
async def loading(fake: FakeSlack, tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, HeldSeeds]]:
    """`serve --http` as a process whose FAQ is still loading (until the test releases it)."""
    seeds = HeldSeeds.make(tmp_path)
    port = _free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", _SERVE_WHILE_LOADING, cwd=ROOT,
                                                   env=_env(fake, port, SEEDS_DIR=str(seeds.folder)),
                                                   stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        await until(lambda: _listening(url))
        yield process, url, seeds
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _ready(url: str) -> bool:
    found = await _health(url)
    return found is not None and found[0] == 200


async def _listening(url: str) -> bool:
    return await _health(url) is not None


async def _stopped_listening(url: str) -> bool:
    return await _health(url) is None


async def test_healthz_is_503_loading_until_the_faq_is_loaded_then_200(loading, fake: FakeSlack) -> None:
    process, url, seeds = loading
    for _ in range(3):
        assert await _health(url) == (503, {"ok": False, "status": "loading"})
        await asyncio.sleep(0.2)
    await seeds.release()
    await _wait_healthy(url, process)
    status, body = await _health(url)
    assert status == 200 and body["status"] == "ready" and body["entries"] == 3
    assert await _stop(process) == 0


async def test_slacks_events_while_loading_get_503_and_are_answered_when_slack_retries(
        loading, fake: FakeSlack) -> None:
    process, url, seeds = loading
    async with aiohttp.ClientSession() as http, http.post(url + "/slack/events", data=b"{}") as response:
        assert response.status == 401  # the signature first, as ever
    fake.send_over_http(url + "/slack/events", SECRET)
    payload = fake.mention_payload(LICENSING_Q)
    assert (await fake.send_event(payload))[0] == 503
    assert fake.calls_to("chat.postMessage") == []
    await seeds.release()
    await _wait_healthy(url, process)
    assert (await fake.send_event(payload, retry=1))[0] == 200  # Slack's retry
    await fake.wait_for("chat.postMessage")
    assert await _stop(process) == 0


async def test_sighup_while_loading_does_not_kill_the_bot_and_reloads_once_loaded(loading, fake: FakeSlack) -> None:
    process, url, seeds = loading
    process.send_signal(signal.SIGHUP)
    await asyncio.sleep(0.5)
    assert process.returncode is None and (await _health(url))[0] == 503
    await seeds.release()
    await _wait_healthy(url, process)
    assert await _stop(process) == 0
    stderr = (await process.stderr.read()).decode()
    assert "SIGHUP while starting: the FAQ is reloaded once it is loaded" in stderr
    assert "FAQ reloaded (SIGHUP)" in stderr


async def test_sigterm_while_loading_exits_0_once_the_load_is_over_without_serving(loading) -> None:
    process, url, seeds = loading
    process.send_signal(signal.SIGTERM)
    await until(lambda: _stopped_listening(url))  # at once
    await seeds.release()
    assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
    stderr = (await process.stderr.read()).decode()
    assert "stopped while loading the FAQ" in stderr and "serving Slack" not in stderr


async def test_an_faq_that_fails_to_load_ends_the_process_with_exit_1_and_no_traceback(
        fake: FakeSlack, tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "broken.yaml").write_text("entries: [\n")
    port = _free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", _SERVE_WHILE_LOADING, cwd=ROOT,
                                                   env=_env(fake, port, KNOWLEDGE_DIR=str(faq)),
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 1
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert "broken.yaml" in stderr and "Traceback" not in stderr


def _ignores_sighup(pid: int) -> bool:
    """Whether the process has SIGHUP ignored (its SigIgn mask, from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & 1 << (signal.SIGHUP - 1))
    return False


async def test_sighup_again_and_again_from_the_first_moment_never_kills_serve(fake: FakeSlack) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc to see when the process has started")
    port = _free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", cwd=ROOT,
                                                   env=_env(fake, port), stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        # From the first line of ours it runs (Python's own start-up comes first: nothing can be done before it).
        started = time.monotonic()
        while not _ignores_sighup(process.pid) and time.monotonic() - started < 1:
            await asyncio.sleep(0.001)
        hangups = 0
        while not await _ready(url):  # through the imports, the loading and the start of serving
            assert process.returncode is None, f"killed by SIGHUP number {hangups}"
            process.send_signal(signal.SIGHUP)
            hangups += 1
            await asyncio.sleep(0.05)
        for _ in range(3):  # and once it serves: each one reloads
            process.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.05)
        fake.send_over_http(url + "/slack/events", SECRET)
        await fake.mention(LICENSING_Q)
        await fake.wait_for("chat.postMessage")
        assert hangups > 10 and await _stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert "FAQ reloaded (SIGHUP)" in stderr and "Traceback" not in stderr


async def test_sigterm_while_slack_has_not_answered_the_token_check_exits_0_at_once(fake: FakeSlack) -> None:
    fake.hold("auth.test")  # Slack's Web API reachable, and slow to answer
    port = _free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", cwd=ROOT,
                                                   env=_env(fake, port), stderr=asyncio.subprocess.PIPE)
    try:
        await until(lambda: "auth.test" in fake.delayed)
        assert await _health(f"http://127.0.0.1:{port}") == (503, {"ok": False, "status": "loading"})
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 5) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        fake.release("auth.test")
    assert "stopped while checking the bot token with Slack" in (await process.stderr.read()).decode()
