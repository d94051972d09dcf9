"""The threads the bot follows: each thread it answered in, for a while (FOLLOW_UP_HOURS), with the
thread's last question (what a short follow-up refers back to) and the FAQ entry last given there (never given
twice in a row), the bot's replies there (a 🤫 reaction
on one, which Slack reports by the reply's ts, stops the thread) and whether someone stopped it.

Without `REDIS_URL` the memory is in this process (bounded, expiring); with it, in Redis (one hash per
thread and one key per reply, each expiring), so that several replicas agree on which threads to follow.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 24 * 3600
MAX_THREADS = 10_000
MAX_REPLIES_PER_THREAD = 100  # the bot's latest replies in one thread that a reaction can stop it by
THREAD_PREFIX = "openllm-bot:thread:"
REPLY_PREFIX = "openllm-bot:thread-reply:"


@dataclass(frozen=True)
class Thread:
    channel: str
    thread_ts: str
    last_question: str
    last_entry: str | None = None  # the entry the bot's last reply there gave (or offered first); None: none


class Threads(Protocol):
    async def answered(self, channel: str, thread_ts: str, question: str, reply_ts: str,
                       entry_id: str | None = None) -> None:
        """Follow the thread the bot just answered `question` in with its message `reply_ts` (giving `entry_id`),
        for the time-to-live from now; a stopped thread stays stopped."""
        ...

    async def following(self, channel: str, thread_ts: str) -> Thread | None:
        """The thread when the bot follows it; None when it never answered there, long ago, or was stopped."""
        ...

    async def stop(self, channel: str, thread_ts: str) -> bool:
        """Stop following the thread; True when the bot was following it until now."""
        ...

    async def stop_by_reply(self, channel: str, reply_ts: str) -> bool:
        """Stop following the thread the bot's message `reply_ts` is in; True when it was following it."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Remembered:
    question: str | None = None  # None: stopped before the bot answered there
    entry: str | None = None
    stopped: bool = False
    expires: float = 0.0
    replies: list[str] = field(default_factory=list)


class MemoryThreads:
    """Threads remembered in this process, each forgotten `ttl` seconds after the bot last answered there,
    and the oldest beyond `limit`."""

    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, limit: int = MAX_THREADS, clock: Any = time.monotonic
                 ) -> None:
        self.ttl, self.limit, self._clock = ttl, limit, clock
        # In order of expiry: every change of expiry moves a thread to the end, with the same ttl.
        self._threads: OrderedDict[tuple[str, str], _Remembered] = OrderedDict()
        self._replies: dict[tuple[str, str], str] = {}  # (channel, reply ts) -> thread ts

    def __len__(self) -> int:
        return len(self._threads)

    async def answered(self, channel: str, thread_ts: str, question: str, reply_ts: str,
                       entry_id: str | None = None) -> None:
        now = self._forget_expired()
        thread = self._threads.pop((channel, thread_ts), None)
        if thread is None:
            while len(self._threads) >= self.limit:
                self._forget(next(iter(self._threads)))
            thread = _Remembered()
        thread.question, thread.entry, thread.expires = question, entry_id, now + self.ttl
        thread.replies.append(reply_ts)
        self._replies[channel, reply_ts] = thread_ts
        if len(thread.replies) > MAX_REPLIES_PER_THREAD:
            self._replies.pop((channel, thread.replies.pop(0)), None)
        self._threads[channel, thread_ts] = thread

    async def following(self, channel: str, thread_ts: str) -> Thread | None:
        self._forget_expired()
        thread = self._threads.get((channel, thread_ts))
        if thread is None or thread.stopped or thread.question is None:
            return None
        return Thread(channel, thread_ts, thread.question, thread.entry)

    async def stop(self, channel: str, thread_ts: str) -> bool:
        now = self._forget_expired()
        thread = self._threads.get((channel, thread_ts))
        if thread is None:
            # Remembered stopped, so that an answer there later (to a mention) does not start following it.
            while len(self._threads) >= self.limit:
                self._forget(next(iter(self._threads)))
            self._threads[channel, thread_ts] = _Remembered(stopped=True, expires=now + self.ttl)
            return False
        was_following = not thread.stopped and thread.question is not None
        thread.stopped = True
        return was_following

    async def stop_by_reply(self, channel: str, reply_ts: str) -> bool:
        self._forget_expired()
        thread_ts = self._replies.get((channel, reply_ts))
        return thread_ts is not None and await self.stop(channel, thread_ts)

    async def close(self) -> None:
        return None

    def _forget_expired(self) -> float:
        """Forget the threads whose time is up; the time now."""
        now: float = self._clock()
        while self._threads and next(iter(self._threads.values())).expires <= now:
            self._forget(next(iter(self._threads)))
        return now

    def _forget(self, key: tuple[str, str]) -> None:
        thread = self._threads.pop(key)
        for reply_ts in thread.replies:
            self._replies.pop((key[0], reply_ts), None)


# KEYS[1]: a thread's hash; ARGV[1]: the time-to-live (ms) it gets when it is new. Returns 1 when the
# thread was followed until now. One script, so that replicas stopping a thread together agree.
_STOP = """
local following = redis.call('HEXISTS', KEYS[1], 'question') == 1 and redis.call('HEXISTS', KEYS[1], 'stopped') == 0
redis.call('HSET', KEYS[1], 'stopped', '1')
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if following then return 1 else return 0 end
"""


class RedisThreads:
    """Threads remembered in Redis, shared by every replica pointing at the same server. Each reply's key
    expires `ttl` after that reply (the thread's, after the latest one)."""

    def __init__(self, url: str, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        from redis.asyncio import Redis

        self.ttl_ms = max(1, round(ttl * 1000))
        self._redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._stop = self._redis.register_script(_STOP)

    async def answered(self, channel: str, thread_ts: str, question: str, reply_ts: str,
                       entry_id: str | None = None) -> None:
        key = _thread_key(channel, thread_ts)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, "question", question)  # leaves 'stopped' as it is
                if entry_id is None:
                    pipe.hdel(key, "entry")
                else:
                    pipe.hset(key, "entry", entry_id)
                pipe.pexpire(key, self.ttl_ms)
                pipe.set(_reply_key(channel, reply_ts), thread_ts, px=self.ttl_ms)
                await pipe.execute()
        except Exception as exc:  # any Redis trouble: the bot answered, it just won't follow the thread
            _trouble(f"remember thread {channel}/{thread_ts}", exc)

    async def following(self, channel: str, thread_ts: str) -> Thread | None:
        try:
            question, stopped, entry = await self._redis.hmget(_thread_key(channel, thread_ts),
                                                               ["question", "stopped", "entry"])
        except Exception as exc:  # not knowing, the bot stays out of the thread
            _trouble(f"look up thread {channel}/{thread_ts}", exc)
            return None
        if question is None or stopped is not None:
            return None
        return Thread(channel, thread_ts, question.decode("utf-8"), entry.decode("utf-8") if entry else None)

    async def stop(self, channel: str, thread_ts: str) -> bool:
        try:
            return bool(await self._stop(keys=[_thread_key(channel, thread_ts)], args=[self.ttl_ms]))
        except Exception as exc:  # unreachable, Redis follows no thread anyway: following() says None
            _trouble(f"stop thread {channel}/{thread_ts}", exc)
            return False

    async def stop_by_reply(self, channel: str, reply_ts: str) -> bool:
        try:
            thread_ts = await self._redis.get(_reply_key(channel, reply_ts))
        except Exception as exc:
            _trouble(f"find the thread of reply {channel}/{reply_ts}", exc)
            return False
        return thread_ts is not None and await self.stop(channel, thread_ts.decode("utf-8"))

    async def close(self) -> None:
        await self._redis.aclose()


def _thread_key(channel: str, thread_ts: str) -> str:
    return f"{THREAD_PREFIX}{channel}:{thread_ts}"


def _reply_key(channel: str, reply_ts: str) -> str:
    return f"{REPLY_PREFIX}{channel}:{reply_ts}"


def _trouble(doing: str, exc: Exception) -> None:
    log.warning("cannot reach Redis to %s (%s)", doing, exc.__class__.__name__)


def thread_memory(redis_url: str | None, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> Threads:
    return RedisThreads(redis_url, ttl_seconds) if redis_url else MemoryThreads(ttl_seconds)
