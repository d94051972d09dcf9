"""Graceful shutdown of `openllm-bot serve` as a real process: on SIGTERM it stops taking requests, finishes
the replies in flight within SHUTDOWN_GRACE_SECONDS, and exits 0."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bot.fakeslack import FakeSlack

from .slackkit import LICENSING_Q, SECRET, until
from .test_deploy import STARTUP_SECONDS, _free_port, _serve, _wait_healthy

BURST = 50


async def _refused(url: str) -> bool:
    # A probe that connects just as the server stops listening may never be answered: after a short wait it
    # counts as not refused yet, and the next probe finds the socket closed.
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as http, \
                http.get(url + "/healthz"):
            return False
    except aiohttp.ClientConnectionError:
        return True
    except TimeoutError:
        return False


@asynccontextmanager
async def _serving_a_held_reply(fake: FakeSlack, **env: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`serve --http` as a process with one mention's reply held at Slack; killed on the way out."""
    fake.hold("chat.postMessage")
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), **env)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        await fake.mention(LICENSING_Q)
        await until(lambda: "chat.postMessage" in fake.delayed)
        yield process, url
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_finishes_the_reply_in_flight_refuses_new_requests_and_exits_0(fake: FakeSlack) -> None:
    async with _serving_a_held_reply(fake, SHUTDOWN_GRACE_SECONDS="60") as (process, url):  # Slack is slow
        process.send_signal(signal.SIGTERM)
        await until(lambda: _refused(url))  # no new requests while the reply is still being sent
        assert process.returncode is None and fake.calls_to("chat.postMessage") == []
        fake.release("chat.postMessage")
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
        assert len(fake.calls_to("chat.postMessage")) == 1  # the reply got through before the exit
        assert b"finishing 1 task(s) in flight" in await process.stderr.read()


async def test_sigterm_gives_up_on_a_stuck_reply_after_the_grace_period(fake: FakeSlack) -> None:
    async with _serving_a_held_reply(fake, SHUTDOWN_GRACE_SECONDS="0.5") as (process, _):  # never released
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
        stderr = await process.stderr.read()
        assert b"still running after 0.5 s" in stderr
        # Which reply was dropped, by its event id (the one mention fake Slack sent).
        assert re.search(rb"ERROR bot\.serve: reply to event Ev\d+ dropped", stderr), stderr


async def test_sigterm_right_after_a_burst_answers_every_acknowledged_event_once_and_exits_0(fake: FakeSlack) -> None:
    # Acknowledged events wait their turn (`Turns`), then Bolt's dispatch starts the listener as a task of its
    # own: the shutdown waits for those tasks too, not only for the ones there were when SIGTERM came. Holding
    # auth.test (Bolt's first check of the token, made by the first dispatches) keeps every dispatch from getting
    # that far before the SIGTERM; holding chat.postMessage keeps the listeners they start busy after it.
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), SHUTDOWN_GRACE_SECONDS="60")
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        fake.hold("auth.test")
        fake.hold("chat.postMessage")
        channels = [f"C{i:03d}" for i in range(BURST)]
        await asyncio.gather(*(fake.mention(LICENSING_Q, channel=c, user=f"U{c}") for c in channels))
        await until(lambda: "auth.test" in fake.delayed)
        process.send_signal(signal.SIGTERM)
        await until(lambda: _refused(url))
        fake.release("auth.test")
        # Every reply is now being sent by a task started after the SIGTERM: the server waits for them all.
        await until(lambda: fake.delayed.count("chat.postMessage") == BURST)
        await asyncio.sleep(0.3)
        assert process.returncode is None and fake.calls_to("chat.postMessage") == []
        fake.release("chat.postMessage")
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert sorted(call.args["channel"] for call in fake.calls_to("chat.postMessage")) == channels


async def test_an_oversized_request_does_not_hold_up_a_sigterm(fake: FakeSlack) -> None:
    # A body over the 1 MiB limit gets 413; the connection it came on must not live on (aiohttp lingers up to 10 s
    # reading the rest of it), or a SIGTERM just after waits the whole grace period for it.
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), SHUTDOWN_GRACE_SECONDS="60")
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        size = 2 * 1024 * 1024
        writer.write(f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode() + b"x" * (1024 * 1024 + 10))
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        assert b" 413 " in status
        # The client keeps the connection open, the rest of its body unsent, as a slow or hostile one would.
        started = asyncio.get_running_loop().time()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0
        assert asyncio.get_running_loop().time() - started < 3
        writer.close()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
