"""Exactly-once answers: remember each Slack `event_id` for a while, so that Slack's retries and duplicate
deliveries are acknowledged but never answered twice.

Without `REDIS_URL` the memory is in this process (bounded, expiring); with it, in Redis (`SET key 1 NX EX ttl`,
atomic), so that several replicas behind a load balancer still answer each event once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from knowledge.matching.normalize import clip_question

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3600
MAX_REMEMBERED = 100_000
KEY_PREFIX = "openllm-bot:event:"


class Seen(Protocol):
    async def first(self, key: str) -> bool:
        """True the first time `key` is seen within the time-to-live, False afterwards."""
        ...

    async def close(self) -> None: ...


class MemorySeen:
    """In-process memory of keys, forgetting each after `ttl` seconds and the oldest beyond `limit`."""

    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, limit: int = MAX_REMEMBERED, clock: Any = time.monotonic
                 ) -> None:
        self.ttl, self.limit, self._clock = ttl, limit, clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    async def first(self, key: str) -> bool:
        now = self._clock()
        while self._expiry and (next(iter(self._expiry.values())) <= now or len(self._expiry) >= self.limit):
            self._expiry.popitem(last=False)
        if key in self._expiry:
            return False
        self._expiry[key] = now + self.ttl
        return True

    async def close(self) -> None:
        return None


class RedisSeen:
    """Keys remembered in Redis, shared by every replica pointing at the same server."""

    def __init__(self, url: str, ttl: int = DEFAULT_TTL_SECONDS) -> None:
        from redis.asyncio import Redis

        self.ttl = max(1, int(ttl))
        self._redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    async def first(self, key: str) -> bool:
        try:
            return bool(await self._redis.set(KEY_PREFIX + key, 1, nx=True, ex=self.ttl))
        except Exception as exc:  # any Redis trouble: answering twice beats never answering
            log.warning("cannot reach Redis to deduplicate event %s (%s): answering it anyway", key,
                        exc.__class__.__name__)
            return True

    async def close(self) -> None:
        await self._redis.aclose()


def seen_store(redis_url: str | None, ttl: int = DEFAULT_TTL_SECONDS) -> Seen:
    return RedisSeen(redis_url, ttl) if redis_url else MemorySeen(ttl)


def event_key(body: dict[str, Any]) -> str | None:
    """What identifies one delivery of an event, whatever the number of times Slack sends it."""
    event_id = body.get("event_id")
    if body.get("type") == "event_callback" and isinstance(event_id, str) and event_id:
        return f"{body.get('team_id') or ''}:{event_id}"
    return None


def never_answered(body: dict[str, Any], may_answer_reply: Callable[[str], bool] | None = None) -> bool:
    """Events the bot reads and drops without a word, whatever the number of times they come: channel messages
    that are not replies in a thread, edits, deletions and the like, reactions (stopping a thread twice is stopping
    it once), and replies in a thread whose text `may_answer_reply` says the bot leaves alone ("thanks", a reply to
    someone else; None: follow-ups are off, so all of them). Slack sends one for every message and reaction in the
    channels the bot is in, and remembering them all would cost a Redis write each and crowd out the events that
    matter.

    `may_answer_reply` runs on the event loop, for any reply in any thread, before the event is acknowledged: it
    is given at most the MAX_QUESTION_CHARS characters the matcher would read, so that reading them (in linear
    time) costs about a millisecond at worst. Run on a thread instead, it measured no better, as reading text holds
    the interpreter's lock either way: in a burst of 300 of the slowest replies to read, the loop was late by
    0.8 ms (median) instead of 0.6 and the burst took 450 ms instead of 390; an ordinary reply cost 23 µs instead
    of 6."""
    event = body.get("event")
    if body.get("type") != "event_callback" or not isinstance(event, dict):
        return False
    if event.get("type") == "reaction_added":
        return True
    if event.get("type") != "message" or event.get("channel_type") == "im":
        return False
    if event.get("subtype") or event.get("thread_ts") in (None, event.get("ts")):
        return True
    return may_answer_reply is None or not may_answer_reply(clip_question(str(event.get("text") or "")))


def dedup_middleware(seen: Seen, on_duplicate: Any = None, may_answer_reply: Callable[[str], bool] | None = None
                     ) -> Any:
    """Bolt middleware acknowledging (200) but not handling an event already seen; `may_answer_reply` as for
    `never_answered`."""

    async def deduplicate(req: AsyncBoltRequest, resp: BoltResponse, next: Any) -> BoltResponse | None:
        key = event_key(req.body)
        if key is not None and not never_answered(req.body, may_answer_reply) and not await seen.first(key):
            retries, reasons = req.headers.get("x-slack-retry-num") or [], req.headers.get("x-slack-retry-reason") or []
            retry, reason = (retries[0] if retries else None), (reasons[0] if reasons else None)
            log.info("event %s already handled: ignored (retry %s, reason %s)", req.body.get("event_id"), retry,
                     reason)
            if on_duplicate is not None:
                on_duplicate()
            return BoltResponse(status=200, body="")
        await next()
        return resp

    return deduplicate
