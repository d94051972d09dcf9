"""Exactly once: Slack's retries and duplicate deliveries of an event are acknowledged but answered once,
in one process (memory) and across replicas sharing a real redis-server on a loopback port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio

from bot.adapter.aiohttp import EVENTS_PATH, start_http
from bot.app import create_app
from bot.dedup import KEY_PREFIX, MemorySeen, RedisSeen
from bot.fakeslack import FakeSlack
from bot.serve import serving_app, socket_handler
from bot.state import KnowledgeHolder

from .slackkit import LICENSING_Q, LLAMA_Q, SECRET, Slack, make_config, start_slack


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _answered_once(slack: Slack, first_channel: str) -> None:
    """Exactly one reply to the event in `first_channel`: a later, different question is answered next, and
    nothing else was posted (each event is decided before it is acknowledged)."""
    await slack.fake.wait_for("chat.postMessage", 1)
    await slack.fake.mention(LLAMA_Q, channel="CLATER")
    posts = await slack.fake.wait_for("chat.postMessage", 2)
    assert [c.args["channel"] for c in slack.fake.calls_to("chat.postMessage")] == [first_channel, "CLATER"]
    assert len(posts) == 2


async def test_an_event_retried_by_slack_is_answered_once(slack: Slack, fake: FakeSlack) -> None:
    payload = fake.mention_payload(LICENSING_Q, channel="CFIRST")
    statuses = [(await fake.send_event(payload, retry=retry))[0] for retry in (0, 1, 2)]
    assert statuses == [200, 200, 200]  # acknowledged every time, so Slack stops retrying
    await _answered_once(slack, "CFIRST")
    assert slack.holder.counters.duplicate_events == 2


async def test_duplicate_deliveries_arriving_together_are_answered_once(slack: Slack, fake: FakeSlack) -> None:
    payload = fake.mention_payload(LICENSING_Q, channel="CFIRST")
    await asyncio.gather(*(fake.send_event(payload, retry=retry) for retry in range(5)))
    await _answered_once(slack, "CFIRST")


async def test_a_retry_over_socket_mode_is_answered_once(fake: FakeSlack, kb) -> None:
    config = make_config(fake, signing_secret=None)
    handler = socket_handler(create_app(config, KnowledgeHolder(kb)), config)
    await handler.connect_async()
    try:
        payload = fake.mention_payload(LICENSING_Q, channel="CFIRST")
        for retry in (0, 1):
            await fake.send_envelope("events_api", payload, retry=retry)
        await fake.wait_for("chat.postMessage", 1)
        await fake.send_envelope("events_api", fake.mention_payload(LLAMA_Q, channel="CLATER"))
        await fake.wait_for("chat.postMessage", 2)
        assert [c.args["channel"] for c in fake.calls_to("chat.postMessage")] == ["CFIRST", "CLATER"]
        assert len(fake.acks) == 3
    finally:
        await handler.close_async()


async def test_events_with_different_ids_are_each_answered(slack: Slack, fake: FakeSlack) -> None:
    for channel in ("C1", "C2", "C3"):
        await fake.mention(LICENSING_Q, channel=channel)
    posts = await fake.wait_for("chat.postMessage", 3)
    assert sorted(c.args["channel"] for c in posts) == ["C1", "C2", "C3"]


async def test_memory_of_seen_events_expires_and_stays_bounded() -> None:
    now = [0.0]
    seen = MemorySeen(ttl=60, limit=3, clock=lambda: now[0])
    assert await seen.first("a") and not await seen.first("a")
    now[0] = 61.0
    assert await seen.first("a")  # forgotten after the time-to-live
    for key in "bcde":
        await seen.first(key)
    assert len(seen) <= 3  # the oldest are dropped beyond the limit


# ---- Redis: several replicas


@pytest.fixture
async def two_replicas(fake: FakeSlack, kb, redis_url: str) -> AsyncIterator[tuple[Slack, Slack]]:
    first = await start_slack(fake, kb, redis_url=redis_url)
    second = await start_slack(fake, kb, redis_url=redis_url)
    yield first, second
    await first.runner.cleanup()
    await second.runner.cleanup()


async def test_two_replicas_sharing_redis_answer_an_event_once(two_replicas: tuple[Slack, Slack],
                                                                fake: FakeSlack) -> None:
    first, second = two_replicas
    payload = fake.mention_payload(LICENSING_Q, channel="CFIRST")

    async def deliver(replica: Slack, retry: int) -> int:
        fake.send_over_http(replica.url + "/slack/events", SECRET)
        return (await fake.send_event(payload, retry=retry))[0]

    # The load balancer sends the first delivery to one replica and Slack's retries to the other.
    assert await asyncio.gather(deliver(first, 0), deliver(second, 1), deliver(second, 2)) == [200, 200, 200]
    await _answered_once(second, "CFIRST")
    assert first.holder.counters.duplicate_events + second.holder.counters.duplicate_events == 2


async def test_redis_remembers_an_event_atomically_and_forgets_it_after_the_ttl(redis_url: str) -> None:
    seen = RedisSeen(redis_url, ttl=30)
    try:
        results = await asyncio.gather(*(seen.first("T1:Ev1") for _ in range(20)))
        assert results.count(True) == 1
        client = redis.asyncio.Redis.from_url(redis_url)
        assert 0 < await client.ttl(KEY_PREFIX + "T1:Ev1") <= 30
        await client.aclose()
    finally:
        await seen.close()


async def test_without_redis_reachable_events_are_still_answered(fake: FakeSlack, kb) -> None:
    slack = await start_slack(fake, kb, redis_url=f"redis://127.0.0.1:{_free_port()}/0")
    try:
        await fake.mention(LICENSING_Q)
        await fake.wait_for("chat.postMessage")
    finally:
        await slack.runner.cleanup()


async def test_serve_closes_its_redis_connection_when_it_stops(fake: FakeSlack, kb, redis_url: str) -> None:
    probe = redis.asyncio.Redis.from_url(redis_url)

    async def client_ids() -> set[str]:
        return {client["id"] for client in await probe.client_list()}

    try:
        before = await client_ids()  # this probe's connection, and any earlier test's still closing
        holder = KnowledgeHolder(kb)
        async with serving_app(make_config(fake, redis_url=redis_url), holder) as app:
            runner, url = await start_http(app, holder, SECRET, "127.0.0.1", 0)
            fake.send_over_http(url + EVENTS_PATH, SECRET)
            await fake.mention(LICENSING_Q)
            await fake.wait_for("chat.postMessage")
            apps = await client_ids() - before
            assert apps  # the app's connection
            await runner.cleanup()
        for _ in range(100):  # the server notices a closed connection a moment after the client
            if not apps & await client_ids():
                break
            await asyncio.sleep(0.01)
        assert not apps & await client_ids()
    finally:
        await probe.aclose()


# ---- thread replies: read on the event loop before they are acknowledged


async def _acknowledged_in(fake: FakeSlack, text: str) -> float:
    """Seconds from sending a reply in some thread of a channel to Slack's receiving its acknowledgement."""
    start = time.perf_counter()
    await fake.thread_reply(text, thread_ts="1700000000.000100")
    return time.perf_counter() - start


@pytest.mark.parametrize("text", ["&lt;http:" * 4444, "<@U1|" * 8000, "<!here" * 6666, "a" + "_" * 39_998 + "b"],
                         ids=["unterminated links", "unterminated mentions", "unterminated @here", "underscores"])
async def test_a_thread_reply_built_to_stall_the_text_patterns_is_acknowledged_at_once(
        slack: Slack, fake: FakeSlack, text: str) -> None:
    # Every thread reply is read before it is acknowledged (to know whether the bot may answer it): 40,000
    # characters of unterminated markup held the event loop, and every other event, for 2 s to 16 s.
    ordinary = min([await _acknowledged_in(fake, ("thanks, and is llama open source? " * 1_200)[:40_000])
                    for _ in range(3)])
    assert await _acknowledged_in(fake, text) < 10 * ordinary + 0.05
