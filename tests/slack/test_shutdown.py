"""Graceful shutdown of `openllm-bot serve` as a real process: on SIGTERM it stops taking requests, finishes
the replies in flight within SHUTDOWN_GRACE_SECONDS, and exits 0."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from bot.fakeslack import FakeSlack

from .slackkit import LICENSING_Q, SECRET
from .test_deploy import STARTUP_SECONDS, _free_port, _serve, _wait_healthy


async def _until(condition, attempts: int = 2000) -> None:
    for _ in range(attempts):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def _refused(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz"):
            return False
    except aiohttp.ClientConnectionError:
        return True


async def _started(fake: FakeSlack, **env: str) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), **env)
    url = f"http://127.0.0.1:{port}"
    await _wait_healthy(url, process)
    fake.send_over_http(url + "/slack/events", SECRET)
    return process, url


async def test_sigterm_finishes_the_reply_in_flight_refuses_new_requests_and_exits_0(fake: FakeSlack) -> None:
    fake.hold("chat.postMessage")  # Slack is slow to take the reply
    process, url = await _started(fake, SHUTDOWN_GRACE_SECONDS="60")
    try:
        await fake.mention(LICENSING_Q)

        async def reply_in_flight() -> bool:
            return "chat.postMessage" in fake.delayed

        await _until(reply_in_flight)
        process.send_signal(signal.SIGTERM)

        async def refused() -> bool:
            return await _refused(url)

        await _until(refused)  # no new requests while the reply is still being sent
        assert process.returncode is None and fake.calls_to("chat.postMessage") == []
        fake.release("chat.postMessage")
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
        assert len(fake.calls_to("chat.postMessage")) == 1  # the reply got through before the exit
        assert b"finishing 1 task(s) in flight" in await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_gives_up_on_a_stuck_reply_after_the_grace_period(fake: FakeSlack) -> None:
    fake.hold("chat.postMessage")  # never released
    process, _ = await _started(fake, SHUTDOWN_GRACE_SECONDS="0.5")
    try:
        await fake.mention(LICENSING_Q)

        async def reply_in_flight() -> bool:
            return "chat.postMessage" in fake.delayed

        await _until(reply_in_flight)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
        assert b"still running after 0.5 s" in await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
