"""What a thread says before a mention in it: the parent message and the latest messages people wrote, read with
`conversations.replies` when the mention's own words are not enough, bounded and cached per thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

FETCHED = 200  # messages read in one call: the parent and the first replies (a thread longer than this is rare)
KEPT = 20  # of those, the latest before the mention are kept
MAX_CHARS = 500  # of each kept message: a pasted page is context, not the question
CACHE_SECONDS = 15.0  # a burst of mentions in one thread reads it once
CACHE_THREADS = 1000


@dataclass(frozen=True)
class ThreadContext:
    """People's messages in a thread before a mention: its `parent` ("" when the bot or nobody wrote it) and the
    `latest` ones, oldest first, each at most MAX_CHARS characters."""

    parent: str
    latest: tuple[str, ...]


def _text(message: dict[str, Any]) -> str:
    text = message.get("text")
    return text.strip()[:MAX_CHARS] if isinstance(text, str) else ""


def _by_a_person(message: dict[str, Any]) -> bool:
    return bool(message.get("user")) and not message.get("bot_id") and not message.get("subtype")


def context_of(messages: list[dict[str, Any]], thread_ts: str, before: str) -> ThreadContext:
    """The context of a mention at `before` in thread `thread_ts`, from the thread's messages as Slack lists them."""
    parent = next((m for m in messages if m.get("ts") == thread_ts), None)
    replies = [m for m in messages if m.get("ts") != thread_ts and _by_a_person(m)
               and isinstance(m.get("ts"), str) and float(m["ts"]) < float(before)]
    latest = tuple(t for m in replies[-KEPT:] if (t := _text(m)))
    return ThreadContext(_text(parent) if parent is not None and _by_a_person(parent) else "", latest)


class ThreadReader:
    """Reads threads for the context of a mention, remembering each for CACHE_SECONDS (at most CACHE_THREADS)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._read: OrderedDict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = OrderedDict()
        self._refused: set[str] = set()  # Slack errors already logged: once each is enough
        self._reading: dict[tuple[str, str], asyncio.Future[list[dict[str, Any]] | None]] = {}

    async def context(self, client: AsyncWebClient, channel: str, thread_ts: str, before: str
                      ) -> ThreadContext | None:
        """The thread's context before the message at `before`; None when the bot may not read it (an install
        without the history scopes, a channel it is not in): the mention is then answered on its own."""
        key = (channel, thread_ts)
        cached = self._read.get(key)
        if cached is None or self._clock() - cached[0] > CACHE_SECONDS:
            # Mentions arriving together share one read (the others wait for it rather than reading again).
            reading = self._reading.get(key)
            if reading is None:
                reading = self._reading[key] = asyncio.ensure_future(self._fetch(client, channel, thread_ts))
                reading.add_done_callback(lambda _: self._reading.pop(key, None))
            messages = await asyncio.shield(reading)
            if messages is None:
                return None
            cached = self._read.get(key) or (self._clock(), messages)  # kept by the read (unless pushed out since)
        if key in self._read:
            self._read.move_to_end(key)
        return context_of(cached[1], thread_ts, before)

    async def _fetch(self, client: AsyncWebClient, channel: str, thread_ts: str) -> list[dict[str, Any]] | None:
        """The thread's messages, kept for CACHE_SECONDS before the read is over: a mention arriving between the read
        and the moment its first waiter resumes finds them, rather than no read and nothing kept (and reading again)."""
        try:
            response = await client.conversations_replies(channel=channel, ts=thread_ts, limit=FETCHED)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "error"))
            if error not in self._refused:
                self._refused.add(error)
                log.warning("thread context: conversations.replies refused (%s): mentions in threads are answered "
                            "on their own words (see docs/operating.md, permissions)", error)
            return None
        messages = [m for m in response.get("messages") or [] if isinstance(m, dict)]
        self._read[(channel, thread_ts)] = (self._clock(), messages)
        while len(self._read) > CACHE_THREADS:
            self._read.popitem(last=False)
        return messages
