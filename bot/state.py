"""What the running bot holds and shares between its parts: the knowledge base it answers from (swapped on
reload), the outcome of the last load of the FAQ, the counters /healthz shows, and the metrics /metrics shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from knowledge import KnowledgeBase, Taught

from .metrics import Metrics


@dataclass
class Counters:
    """What went wrong since start-up, shown on /healthz."""

    failed_replies: int = 0
    duplicate_events: int = 0
    reload_failures: int = 0
    store_failures: int = 0  # questions or votes that could not be recorded

    def store_failed(self, count: int) -> None:
        """`count` questions or votes could not be recorded (the recorder's `on_failure`)."""
        self.store_failures += count


@dataclass
class FaqState:
    """Whether the FAQ on disk was valid when last loaded, when that was, and how many problems it had."""

    valid: bool = True
    checked_at: str = ""  # ISO 8601, UTC
    problems: int = 0
    why: str = "start-up"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KnowledgeHolder:
    """The knowledge base listeners answer from, read on every request so that it can be swapped;
    the counters the app and /healthz share, and the outcome of the last load of the FAQ on disk."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.current = kb
        # The store's taught phrasings, in order, that `current` was built with: those it applied and those it
        # could not. A reloaded FAQ gets them all again (one refused because the FAQ had it may apply to an edit).
        self.taught: tuple[Taught, ...] = ()
        # One change of `current` at a time (a reload, newly taught phrasings), so that none undoes another.
        self.swapping = asyncio.Lock()
        self.counters = Counters()
        self.faq = FaqState(checked_at=_now_iso())
        self.metrics = Metrics(self)  # what /metrics shows: a registry of this bot's own

    def loaded(self, why: str, problems: int = 0) -> None:
        """Record a load of the FAQ on disk: valid when `problems` is 0 (one that could not be read counts 1)."""
        self.faq = FaqState(valid=not problems, checked_at=_now_iso(), problems=problems, why=why)
