"""What the running bot holds and shares between its parts: the knowledge base it answers from (swapped on
reload), the outcome of the last load of the FAQ, the counters /healthz shows, and the metrics /metrics shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from knowledge import KnowledgeBase, Taught
from knowledge.content.written import Written

from .metrics import Metrics
from .workers import Processes
from .workspaces import here


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
    the counters the app and /healthz share, and the outcome of the last load of the FAQ on disk.

    With one bot token, one knowledge base (`base`) holds the FAQ, every entry and answer written from Slack and
    every taught phrasing. Installed in many workspaces (`per_workspace`), what one installation taught or wrote
    applies to its questions only: each installation that taught phrasings or wrote entries or answers has a
    knowledge base of its own (`by_workspace`, built from `base` with them: tens of MiB each), and the others share
    `base`, which then holds none."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.base = kb
        self.by_workspace: dict[str, KnowledgeBase] = {}
        self.per_workspace = False
        # The store's taught phrasings, in order, that each knowledge base was built with (None: `base`, with one bot
        # token), those it applied and those it could not. A reloaded FAQ gets them all again (one refused because
        # the FAQ had it may apply to an edit).
        self.taught: dict[str | None, tuple[Taught, ...]] = {}
        # The store's entries and answers written from Slack, in order, that each knowledge base was built with, by
        # installation as `taught` (those it applied and those it could not).
        self.written: dict[str | None, tuple[Written, ...]] = {}
        # One change of the knowledge bases at a time (a reload, newly taught phrasings), so that none undoes another.
        self.swapping = asyncio.Lock()
        self.counters = Counters()
        self.faq = FaqState(checked_at=_now_iso())
        self.metrics = Metrics(self)  # what /metrics shows: a registry of this bot's own
        # The worker processes questions are matched in while `serve` runs them (bot/workers.py); None: the matching
        # threads of this process.
        self.matching: Processes | None = None

    @property
    def current(self) -> KnowledgeBase:
        """The knowledge base the request being handled is answered from: its installation's (bot/workspaces.py),
        else `base`."""
        return self.of(here().key)

    @current.setter
    def current(self, kb: KnowledgeBase) -> None:
        """Answer from `kb` every workspace that taught nothing of its own (all of them, with one bot token)."""
        self.base = kb

    def of(self, key: str | None) -> KnowledgeBase:
        """The knowledge base the installation `key` (`Workspace.key`) is answered from: its own, else `base`; None:
        `base` (with one bot token, the one workspace's). What is read outside a request (a digest) names it."""
        return self.by_workspace.get(key, self.base) if key is not None and self.by_workspace else self.base

    def knowledge_bases(self) -> dict[str | None, KnowledgeBase]:
        """Every knowledge base answered from: `base` (None), and each installation's of its own."""
        found: dict[str | None, KnowledgeBase] = {None: self.base}
        found.update(self.by_workspace)
        return found

    def loaded(self, why: str, problems: int = 0) -> None:
        """Record a load of the FAQ on disk: valid when `problems` is 0 (one that could not be read counts 1)."""
        self.faq = FaqState(valid=not problems, checked_at=_now_iso(), problems=problems, why=why)
