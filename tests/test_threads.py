"""The threads the bot follows after answering in them: remembered for a while with their last question,
stopped by request or by a 🤫 on one of the bot's replies; in this process, or in a real redis-server
shared by replicas."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import redis.asyncio

from bot.threads import (
    MAX_REPLIES_PER_THREAD,
    REPLY_PREFIX,
    THREAD_PREFIX,
    MemoryThreads,
    RedisThreads,
    Thread,
    Threads,
    thread_memory,
)

QUESTION = "How much GPU memory does Llama 3 70B need?"
LATER_QUESTION = "and for Mistral?"


@dataclass
class Memory:
    """Makes thread memories of one kind, and lets time pass for them."""

    kind: str
    make_one: Callable[[float], Threads]
    later: Callable[[float], Awaitable[None]]
    made: list[Threads] = field(default_factory=list)

    def make(self, ttl: float = 60.0) -> Threads:
        self.made.append(self.make_one(ttl))
        return self.made[-1]


@pytest.fixture(params=["memory", "redis"])
async def memory(request: pytest.FixtureRequest) -> AsyncIterator[Memory]:
    if request.param == "memory":
        now = [1000.0]

        async def advance(seconds: float) -> None:
            now[0] += seconds

        made = Memory("memory", lambda ttl: MemoryThreads(ttl, clock=lambda: now[0]), advance)
    else:
        url = request.getfixturevalue("redis_url")
        made = Memory("redis", lambda ttl: RedisThreads(url, ttl), asyncio.sleep)  # real time: keep ttls short
    yield made
    for threads in made.made:
        await threads.close()


async def test_a_thread_is_followed_once_the_bot_answered_in_it(memory: Memory) -> None:
    threads = memory.make()
    assert await threads.following("C1", "100.1") is None
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    assert await threads.following("C1", "100.1") == Thread("C1", "100.1", QUESTION)


async def test_threads_are_told_apart_by_channel_and_ts(memory: Memory) -> None:
    threads = memory.make()
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    assert await threads.following("C2", "100.1") is None
    assert await threads.following("C1", "100.3") is None


async def test_a_later_answer_updates_the_last_question(memory: Memory) -> None:
    threads = memory.make()
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    await threads.answered("C1", "100.1", LATER_QUESTION, "100.4")
    assert await threads.following("C1", "100.1") == Thread("C1", "100.1", LATER_QUESTION)


async def test_a_thread_is_followed_for_the_time_to_live_after_the_latest_answer(memory: Memory) -> None:
    threads = memory.make(ttl=0.6)
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    await memory.later(0.4)
    await threads.answered("C1", "100.1", LATER_QUESTION, "100.4")
    await memory.later(0.4)  # past the first answer's time-to-live, within the second's
    assert await threads.following("C1", "100.1") == Thread("C1", "100.1", LATER_QUESTION)
    await memory.later(0.4)
    assert await threads.following("C1", "100.1") is None
    assert not await threads.stop_by_reply("C1", "100.4")


async def test_a_stopped_thread_is_no_longer_followed(memory: Memory) -> None:
    threads = memory.make()
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    assert await threads.stop("C1", "100.1")
    assert await threads.following("C1", "100.1") is None
    assert not await threads.stop("C1", "100.1")  # already stopped


async def test_a_shushing_reaction_on_any_reply_of_the_bot_stops_its_thread(memory: Memory) -> None:
    threads = memory.make()
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    await threads.answered("C1", "100.1", LATER_QUESTION, "100.4")
    await threads.answered("C1", "200.1", QUESTION, "200.2")
    assert not await threads.stop_by_reply("C1", "100.3")  # someone else's message
    assert not await threads.stop_by_reply("C2", "100.2")  # the same ts in another channel
    assert await threads.stop_by_reply("C1", "100.2")
    assert await threads.following("C1", "100.1") is None
    assert not await threads.stop_by_reply("C1", "100.4")  # the same thread: stopped already
    assert await threads.following("C1", "200.1") == Thread("C1", "200.1", QUESTION)


async def test_a_stopped_thread_stays_stopped_when_the_bot_answers_there_again(memory: Memory) -> None:
    threads = memory.make()
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    await threads.stop("C1", "100.1")
    await threads.answered("C1", "100.1", LATER_QUESTION, "100.4")  # asked with a mention, say
    assert await threads.following("C1", "100.1") is None


async def test_a_thread_stopped_before_the_bot_answered_there_is_not_followed(memory: Memory) -> None:
    threads = memory.make()
    assert not await threads.stop("C1", "100.1")
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    assert await threads.following("C1", "100.1") is None


async def test_a_stop_is_forgotten_with_its_thread(memory: Memory) -> None:
    threads = memory.make(ttl=0.3)
    await threads.answered("C1", "100.1", QUESTION, "100.2")
    await threads.stop("C1", "100.1")
    await memory.later(0.5)
    await threads.answered("C1", "100.1", LATER_QUESTION, "100.9")  # a day later: a fresh start
    assert await threads.following("C1", "100.1") == Thread("C1", "100.1", LATER_QUESTION)


async def test_a_thread_remembers_the_entry_last_given_there(memory: Memory) -> None:
    threads = memory.make()
    await threads.answered("C1", "100.1", QUESTION, "100.2", "resource-requirements")
    assert await threads.following("C1", "100.1") == Thread("C1", "100.1", QUESTION, "resource-requirements")
    await threads.answered("C1", "100.1", LATER_QUESTION, "100.4", "mistral")
    assert (await threads.following("C1", "100.1")).last_entry == "mistral"  # type: ignore[union-attr]
    await threads.answered("C1", "100.1", "help", "100.6")  # a reply that gave no entry
    assert await threads.following("C1", "100.1") == Thread("C1", "100.1", "help", None)


# ---- in this process


async def test_memory_keeps_a_bounded_number_of_threads_forgetting_the_oldest() -> None:
    threads = MemoryThreads(limit=3)
    for n in range(5):
        await threads.answered("C1", f"{n}.1", QUESTION, f"{n}.2")
    assert len(threads) == 3
    assert await threads.following("C1", "0.1") is None
    assert not await threads.stop_by_reply("C1", "1.2")  # its replies are forgotten with it
    assert await threads.following("C1", "4.1") == Thread("C1", "4.1", QUESTION)


async def test_memory_keeps_the_latest_replies_of_a_long_thread() -> None:
    threads = MemoryThreads()
    for n in range(MAX_REPLIES_PER_THREAD + 1):
        await threads.answered("C1", "100.1", QUESTION, f"{200 + n}.0")
    assert not await threads.stop_by_reply("C1", "200.0")
    assert await threads.stop_by_reply("C1", f"{200 + MAX_REPLIES_PER_THREAD}.0")


async def test_without_redis_the_memory_is_in_this_process() -> None:
    assert isinstance(thread_memory(None), MemoryThreads)


# ---- in Redis, shared by replicas


async def test_two_replicas_sharing_redis_agree_on_the_threads_followed(redis_url: str) -> None:
    first, second = RedisThreads(redis_url), RedisThreads(redis_url)
    try:
        await first.answered("C1", "100.1", QUESTION, "100.2")
        assert await second.following("C1", "100.1") == Thread("C1", "100.1", QUESTION)
        await second.answered("C1", "100.1", LATER_QUESTION, "100.4")
        assert await first.following("C1", "100.1") == Thread("C1", "100.1", LATER_QUESTION)
        assert await second.stop_by_reply("C1", "100.2")  # a reply the first replica posted
        assert await first.following("C1", "100.1") is None
        assert not await first.stop("C1", "100.1")
    finally:
        await first.close()
        await second.close()


async def test_replicas_stopping_a_thread_together_agree_on_who_stopped_it(redis_url: str) -> None:
    replicas = [RedisThreads(redis_url) for _ in range(5)]
    try:
        await replicas[0].answered("C1", "100.1", QUESTION, "100.2")
        stopped = await asyncio.gather(*(r.stop("C1", "100.1") for r in replicas))
        assert stopped.count(True) == 1
    finally:
        for replica in replicas:
            await replica.close()


async def test_redis_keys_expire_after_the_time_to_live(redis_url: str) -> None:
    threads = thread_memory(redis_url, ttl_seconds=3600)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert isinstance(threads, RedisThreads)
        await threads.answered("C1", "100.1", QUESTION, "100.2")
        await threads.stop("C1", "900.1")  # a stop remembered before any answer expires too
        for key in (f"{THREAD_PREFIX}C1:100.1", f"{REPLY_PREFIX}C1:100.2", f"{THREAD_PREFIX}C1:900.1"):
            assert 3590 < await client.ttl(key) <= 3600, key
    finally:
        await client.aclose()
        await threads.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_without_redis_reachable_no_thread_is_followed_and_nothing_fails() -> None:
    threads = RedisThreads(f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        await threads.answered("C1", "100.1", QUESTION, "100.2")
        assert await threads.following("C1", "100.1") is None  # not knowing, the bot stays out
        assert not await threads.stop("C1", "100.1")
        assert not await threads.stop_by_reply("C1", "100.2")
    finally:
        await threads.close()
