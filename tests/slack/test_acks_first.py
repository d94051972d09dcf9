"""Acknowledgements first (`Turns`, bot/adapter): an event is acknowledged as soon as its signature is checked, before
Bolt so much as builds its request; the work behind acknowledged events starts one event per pass of the event loop,
oldest first, so that a burst's acknowledgements are not queued behind its replies; the Web API calls share
kept-alive connections; and `serve` does at start-up what would otherwise stall the loop in the middle of the first
burst (bot/serve.py)."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest

import bot.adapter.aiohttp
from bot.adapter.aiohttp import EVENTS_PATH, Turns, start_http
from bot.app import create_app
from bot.fakeslack import FakeSlack
from bot.serve import DESCRIPTORS
from bot.state import KnowledgeHolder
from knowledge import KnowledgeBase

from .slackkit import FIXTURE_FAQ, LICENSING_Q, LLAMA_Q, SECRET, make_config
from .test_deploy import ROOT, STARTUP_SECONDS, _free_port, _serve, _stop, _wait_healthy

BURST = 40


class _Passes:
    """Counts the passes of the running loop: a callback that schedules itself again runs once per pass."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def __enter__(self) -> _Passes:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._handle is not None
        self._handle.cancel()


async def test_turns_let_one_waiter_through_per_pass_of_the_loop_oldest_first() -> None:
    turns, started = Turns(), []

    async def work(name: int) -> None:
        await turns.wait()
        started.append((name, passes.count))

    with _Passes() as passes:
        tasks = [asyncio.create_task(work(i)) for i in range(5)]
        await asyncio.gather(*tasks)
    assert [name for name, _ in started] == [0, 1, 2, 3, 4]
    when = [count for _, count in started]
    assert when == sorted(set(when)), when  # each on a later pass than the one before
    assert len(turns) == 0


async def test_a_cancelled_waiter_gives_up_its_turn_and_the_rest_still_go_through() -> None:
    turns, started = Turns(), []

    async def work(name: int) -> None:
        await turns.wait()
        started.append(name)

    tasks = [asyncio.create_task(work(i)) for i in range(3)]
    await asyncio.sleep(0)  # all three are waiting
    tasks[0].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert started == [1, 2]
    # Idle again: a new waiter is let through too.
    await asyncio.wait_for(work(9), 1)
    assert started == [1, 2, 9]


async def test_a_burst_is_acknowledged_and_answered_exactly_once_one_dispatch_starting_per_pass(
        fake: FakeSlack, kb: KnowledgeBase, monkeypatch: Any) -> None:
    holder = KnowledgeHolder(kb)
    app = create_app(make_config(fake), holder)
    dispatch, starts = app.async_dispatch, []

    async def counted(request: Any) -> Any:
        starts.append(passes.count)
        return await dispatch(request)

    monkeypatch.setattr(app, "async_dispatch", counted)
    runner, url = await start_http(app, holder, SECRET, "127.0.0.1", 0)
    fake.send_over_http(url + EVENTS_PATH, SECRET)
    try:
        with _Passes() as passes:
            payloads = [fake.mention_payload(LICENSING_Q if i % 2 else LLAMA_Q, channel=f"C{i:03d}")
                        for i in range(BURST)]
            acks = await asyncio.gather(*(fake.send_event(p) for p in payloads))
            retry = await fake.send_event(payloads[0], retry=1)  # Slack's redelivery: acknowledged, not answered
            await fake.wait_for("chat.postMessage", BURST)
            await asyncio.sleep(0.2)  # a second answer would show up here
    finally:
        await runner.cleanup()
    assert [status for status, _ in acks] == [200] * BURST and retry[0] == 200
    assert len(starts) == BURST + 1 and len(set(starts)) == len(starts)  # never two in one pass
    answered = Counter(call.args["channel"] for call in fake.calls_to("chat.postMessage"))
    assert answered == Counter(f"C{i:03d}" for i in range(BURST))


class _PeerSlack(FakeSlack):
    """The fake Slack, noting from which client port (so over which connection) each Web API call came."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[tuple[str, int]] = []

    async def _api(self, request: web.Request) -> web.Response:
        self.peers.append(request.transport.get_extra_info("peername")[:2])
        return await super()._api(request)


async def test_serve_keeps_its_connections_to_slack_alive_across_calls() -> None:
    fake = await _PeerSlack().start()
    port = _free_port()
    process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port))
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        for i in range(4):  # one after the other: each reply could reuse the connection of the one before
            await fake.mention(LICENSING_Q, channel=f"C{i}")
            await fake.wait_for("chat.postMessage", i + 1)
        assert len(fake.peers) >= 5  # auth.test, then four replies
        assert len(set(fake.peers)) <= 2, fake.peers  # not a new connection per call
        assert await _stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.close()


async def test_an_event_is_acknowledged_before_bolt_builds_its_request(
        fake: FakeSlack, kb: KnowledgeBase, monkeypatch: Any) -> None:
    holder = KnowledgeHolder(kb)
    app = create_app(make_config(fake), holder)
    turn, wait = asyncio.Event(), Turns.wait
    built: list[str] = []

    async def held(self: Turns) -> None:  # the event's turn comes only when the test says so
        await turn.wait()
        await wait(self)

    class Counted(AsyncBoltRequest):
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs["body"])
            super().__init__(**kwargs)

    monkeypatch.setattr(Turns, "wait", held)
    monkeypatch.setattr(bot.adapter.aiohttp, "AsyncBoltRequest", Counted)
    runner, url = await start_http(app, holder, SECRET, "127.0.0.1", 0)
    fake.send_over_http(url + EVENTS_PATH, SECRET)
    try:
        payload = fake.mention_payload(LICENSING_Q)
        assert (await fake.send_event(payload))[0] == 200
        assert built == []  # acknowledged on the signature check alone: nothing of Bolt's ran for it yet
        turn.set()
        await fake.wait_for("chat.postMessage")
        assert len(built) == 1 and payload["event_id"] in built[0]  # then Bolt got the very body that was signed
    finally:
        await runner.cleanup()


# `openllm-bot serve --http`, noting on stdout how many objects it freezes out of the garbage collector's sight (the
# server only: its matching processes freeze too, and share its stdout).
_NOTING_FREEZE = """
import gc, os, runpy, sys
freeze, server = gc.freeze, os.getpid()
def noted():
    freeze()
    if os.getpid() == server:
        print("frozen", gc.get_freeze_count(), flush=True)
gc.freeze = noted
sys.argv = ["bot", "serve", "--http"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


async def test_serve_is_ready_for_a_burst_before_its_first_request(fake: FakeSlack) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url, "SLACK_SIGNING_SECRET": SECRET,
                "PORT": str(port), "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "DOTENV_PATH": os.devnull,
                "STORE_ENABLED": "false"})
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", _NOTING_FREEZE, env=env, cwd=ROOT,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        await _wait_healthy(f"http://127.0.0.1:{port}", process)
        # Start-up's objects (modules, the app, the FAQ) frozen before a request could be answered: a burst's
        # allocations then set off no collection that walks them all.
        frozen = await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS)
        assert frozen.startswith(b"frozen ") and int(frozen.split()[1]) > 10_000, frozen
        # Room for a burst's connections in the descriptor table from the start: accepting them never waits for
        # the table to grow.
        status = Path(f"/proc/{process.pid}/status")
        if not status.exists():
            pytest.skip("no /proc to read the descriptor table's size from")
        size = int(re.search(r"^FDSize:\s+(\d+)", status.read_text(), re.MULTILINE).group(1))
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert size >= (DESCRIPTORS if soft == resource.RLIM_INFINITY else min(DESCRIPTORS, soft)), size
        assert await _stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
