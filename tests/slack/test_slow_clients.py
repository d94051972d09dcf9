"""Slow and idle clients cannot hold the server (bot/adapter/guard.py), on loopback with real sockets: a client that
does not send its request's headers in time, or its body, is closed; at most so many connections wait unverified at
once, the oldest pushed out by new ones; Slack's (correctly signed) connections are left alone. As a real process with
the open-file limit at 1024, 1,100 half-sent requests leave the health check and signed mentions answering."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.adapter.aiohttp import EVENTS_PATH, start_http
from bot.adapter.guard import Limits
from bot.app import create_app
from bot.fakeslack import FakeSlack
from bot.state import KnowledgeHolder
from knowledge import KnowledgeBase

from .slackkit import FIXTURE_FAQ, LICENSING_Q, SECRET, Slack, make_config
from .test_deploy import ROOT, _free_port, _stop, _wait_healthy

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _serving(fake: FakeSlack, kb: KnowledgeBase, limits: Limits) -> Slack:
    holder = KnowledgeHolder(kb)
    runner, url = await start_http(create_app(make_config(fake), holder), holder, SECRET, "127.0.0.1", 0,
                                   limits=limits)
    fake.send_over_http(url + EVENTS_PATH, SECRET)
    return Slack(fake, url, holder, runner)


@pytest.fixture
async def strict(fake: FakeSlack, kb: KnowledgeBase) -> AsyncIterator[Slack]:
    """The app with half a second for headers and for a body, and room for 20 unverified connections."""
    slack = await _serving(fake, kb, Limits(header_seconds=0.5, body_seconds=0.5, unverified=20))
    yield slack
    await slack.runner.cleanup()


async def _connect(url: str) -> Connection:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _slow_headers(url: str) -> Connection:
    """A client that starts a request and never finishes its headers."""
    reader, writer = await _connect(url)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n")
    await writer.drain()
    return reader, writer


async def _slow_body(url: str) -> Connection:
    """A client that sends its headers and ten bytes of the hundred it announced, then nothing."""
    reader, writer = await _connect(url)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"type\": \"")
    await writer.drain()
    return reader, writer


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent before closing the connection; fails if it is still open after `seconds`."""
    received = b""
    async with asyncio.timeout(seconds):
        while chunk := await reader.read(65536):
            received += chunk
    return received


def _still_open(reader: asyncio.StreamReader) -> bool:
    return not reader.at_eof()


def _signed_request(payload: dict) -> bytes:
    body = json.dumps(payload)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    return (f"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()


async def _status(url: str, timeout: float = 5) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
            http.get(url + "/healthz") as response:
        return response.status


async def test_a_client_that_does_not_finish_its_headers_is_closed_within_the_timeout(strict: Slack) -> None:
    reader, writer = await _slow_headers(strict.url)
    started = time.monotonic()
    await _closed_within(reader, 3)
    assert 0.4 < time.monotonic() - started < 2
    writer.close()


async def test_a_client_that_sends_nothing_is_closed_within_the_timeout(strict: Slack) -> None:
    reader, writer = await _connect(strict.url)
    await _closed_within(reader, 3)
    writer.close()


async def test_a_client_that_does_not_send_its_body_gets_408_and_is_closed(strict: Slack) -> None:
    reader, writer = await _slow_body(strict.url)
    answer = await _closed_within(reader, 4)
    assert answer.startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_an_idle_connection_is_closed_after_a_request_that_was_not_signed(strict: Slack) -> None:
    reader, writer = await _connect(strict.url)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")  # keep-alive, then nothing
    answer = await _closed_within(reader, 3)
    assert answer.startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_new_connections_push_out_the_oldest_unverified_ones_beyond_the_room(
        strict: Slack, caplog: pytest.LogCaptureFixture) -> None:
    slack = await _serving(strict.fake, strict.holder.current,
                           Limits(header_seconds=60, body_seconds=60, unverified=20))
    try:
        held = [await (_slow_body if n % 2 else _slow_headers)(slack.url) for n in range(30)]
        await asyncio.sleep(0.2)
        assert [_still_open(reader) for reader, _ in held] == [False] * 10 + [True] * 20
        assert await _status(slack.url) == 200  # pushes out one more, and is answered
        for _, writer in held:
            writer.close()
    finally:
        await slack.runner.cleanup()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "20 unverified connections open at once: closing the oldest (1 so far)"]


async def test_slacks_connection_is_left_alone_and_answered_while_slow_clients_flood(strict: Slack) -> None:
    slack = await _serving(strict.fake, strict.holder.current, Limits(header_seconds=60, unverified=20))
    try:
        reader, writer = await _connect(slack.url)  # kept alive, as Slack's are
        writer.write(_signed_request(slack.fake.mention_payload(LICENSING_Q, channel="CFIRST")))
        assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
        held = [await _slow_headers(slack.url) for _ in range(50)]
        await asyncio.sleep(0.2)
        assert sum(_still_open(r) for r, _ in held) == 20
        writer.write(_signed_request(slack.fake.mention_payload(LICENSING_Q, channel="CSECOND")))
        await writer.drain()
        await slack.fake.wait_for("chat.postMessage", 2)
        assert [c.args["channel"] for c in slack.fake.calls_to("chat.postMessage")] == ["CFIRST", "CSECOND"]
        assert await _status(slack.url) == 200
        for _, held_writer in [*held, (reader, writer)]:
            held_writer.close()
    finally:
        await slack.runner.cleanup()


def _open_files_at(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


async def test_with_1024_open_files_1100_half_sent_requests_leave_health_and_mentions_answering(
        fake: FakeSlack) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url, "SLACK_SIGNING_SECRET": SECRET,
                "PORT": str(port), "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "DOTENV_PATH": os.devnull,
                "STORE_ENABLED": "false"})
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1500:
        pytest.skip("this test needs room for 1,100 connections of its own")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", env=env, cwd=ROOT,
                                                   stderr=asyncio.subprocess.DEVNULL,
                                                   preexec_fn=lambda: _open_files_at(1024))
    url = f"http://127.0.0.1:{port}"
    held: list[Connection] = []
    try:
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        for number in range(1100):
            held.append(await (_slow_body(url) if number % 3 == 0 else _slow_headers(url)))
        started = time.monotonic()
        assert await _status(url) == 200
        await asyncio.wait_for(fake.mention(LICENSING_Q), 5)
        await fake.wait_for("chat.postMessage", timeout=5)
        assert time.monotonic() - started < 5
        for _, writer in held:
            writer.close()
        assert await _stop(process) == 0
    finally:
        for _, writer in held:
            writer.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
