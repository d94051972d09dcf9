"""Changing what the bot answers from without downtime. The FAQ: when its files change (polled) or on SIGHUP, load
and validate the new FAQ in full, then swap it in; an invalid edit is logged with every `file:line: reason` and the
bot keeps answering from the last good FAQ. Taught phrasings: when those in the store change (polled, so that every
replica sharing the store follows within seconds) or an admin teaches one here, the matcher is trained again."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from knowledge import KnowledgeBase, KnowledgeError, Skipped, Taught
from knowledge.content.phrasings import phrasing_key

from .offloop import Busy, Late, OffLoop
from .state import KnowledgeHolder
from .store import Store, StoreUnreachable, TaughtRecord, describe

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
# How often each replica looks for phrasings taught on another (one cheap query); a change is answered from within
# this and the retraining (a second or two for the shipped FAQ): under 10 s.
TAUGHT_POLL_SECONDS = 3.0
# How long a look at the store may take before it counts as failed (the store's own timeouts end most waits sooner).
TAUGHT_LOOK_SECONDS = 20.0
Snapshot = dict[str, tuple[int, int]]
T = TypeVar("T")


def snapshot(paths: Iterable[Path]) -> Snapshot:
    """(mtime, size) of every file under `paths`: any edit, addition, removal or rename changes it."""
    found: Snapshot = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            found[str(file)] = (stat.st_mtime_ns, stat.st_size)
    return found


class LoadsFaq(Protocol):
    def __call__(self, *, taught: Sequence[Taught] = ()) -> KnowledgeBase:
        """Load and validate the FAQ, its matcher trained with `taught`; raises `KnowledgeError`."""
        ...


class Reloader:
    """Swaps `holder.current` for a freshly loaded FAQ, only when the new one is valid."""

    def __init__(self, holder: KnowledgeHolder, load: LoadsFaq, watched: Iterable[Path] = ()) -> None:
        self.holder, self._load, self.watched = holder, load, list(watched)
        self._last = snapshot(self.watched)

    async def reload(self, why: str) -> bool:
        """Load the FAQ, with the phrasings taught so far (off the event loop, so that requests keep being answered);
        True if it replaced the old."""
        async with self.holder.swapping:
            try:
                kb = await asyncio.to_thread(partial(self._load, taught=self.holder.taught))
            except KnowledgeError as exc:
                self.holder.counters.reload_failures += 1
                self.holder.metrics.faq_reloaded(ok=False)
                self.holder.loaded(why, len(exc.problems) or 1)
                log.error("FAQ reload (%s) rejected, still answering from the last good FAQ; %d problem(s):\n%s",
                          why, len(exc.problems), "\n".join(f"  {p}" for p in exc.problems))
                return False
            except Exception as exc:  # unreadable files and the like: same outcome, never a crash
                self.holder.counters.reload_failures += 1
                self.holder.metrics.faq_reloaded(ok=False)
                self.holder.loaded(why, 1)
                log.error("FAQ reload (%s) failed, still answering from the last good FAQ: %s: %s", why,
                          exc.__class__.__name__, exc)
                return False
            self.holder.current = kb
            self.holder.loaded(why)
            self.holder.metrics.faq_reloaded(ok=True)
        log.info("FAQ reloaded (%s): %d entries", why, len(kb.knowledge.entries))
        log_skipped(kb, self.holder)
        return True

    async def check(self) -> bool | None:
        """Reload if any watched file changed since the last look; None when nothing changed."""
        current = await asyncio.to_thread(snapshot, self.watched)
        if current == self._last:
            return None
        self._last = current
        return await self.reload("files changed")

    async def watch(self, interval: float = POLL_SECONDS) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:
                log.exception("FAQ watch failed; trying again in %.0f s", interval)


def taught_phrasings(records: Iterable[TaughtRecord]) -> tuple[Taught, ...]:
    """What the store's taught phrasings (oldest first) mean to the matcher; undone ones left out."""
    return tuple(Taught(r.text, r.entry_id, r.near_entry) for r in records if not r.undone)


def merged(kb: KnowledgeBase, taught: Taught) -> bool:
    """The FAQ itself says what `taught` says (it was exported and merged into knowledge/), so it is not applied."""
    entry = kb.faq.get(taught.entry_id or taught.near or "")
    if entry is None:
        return False
    texts = (entry.question, *entry.alternates) if taught.entry_id is not None else entry.near_misses
    return phrasing_key(taught.text) in {phrasing_key(t) for t in texts}


# The skipped phrasings each holder's log has told of: each is told once (a retraining on every replica, at every
# change of the taught phrasings, would otherwise repeat them all), and again only if it was applied in between.
_told: weakref.WeakKeyDictionary[KnowledgeHolder, set[Skipped]] = weakref.WeakKeyDictionary()


def log_skipped(kb: KnowledgeBase, holder: KnowledgeHolder | None = None) -> None:
    """A warning for each taught phrasing that could not be applied, but for those the FAQ now holds itself; with
    `holder`, only for those not told of already for it."""
    told = _told.setdefault(holder, set()) if holder is not None else set()
    for skipped in kb.skipped:
        if skipped in told:
            continue
        if merged(kb, skipped.taught):
            log.debug("taught phrasing now in the FAQ itself: %s", skipped.taught)
        else:
            log.warning("taught phrasing not applied: %s", skipped)
    told.intersection_update(kb.skipped)
    told.update(kb.skipped)


async def follow_taught(holder: KnowledgeHolder, read: Callable[[], Awaitable[Sequence[TaughtRecord]]]) -> bool:
    """Answer from the FAQ with the taught phrasings `read` returns (all of the store's, oldest first) from now on, the
    matcher trained again off the event loop; False when the bot already answers with exactly these. Read and applied
    under the holder's lock: a read made before another's cannot be applied after it and put older phrasings back."""
    async with holder.swapping:
        taught = taught_phrasings(await read())
        if taught == holder.taught:
            return False
        kb = await asyncio.to_thread(holder.current.with_taught, taught)
        holder.current, holder.taught = kb, taught
    log.info("taught phrasings: %d applied, %d not", len(kb.taught), len(kb.skipped))
    log_skipped(kb, holder)
    return True


class TaughtWatcher:
    """Keeps the bot answering with the phrasings taught in `store`, on whichever replica they were taught. Each look
    at the store waits TAUGHT_LOOK_SECONDS at most, on a thread of its own (see `bot.offloop`): a store that hangs
    neither holds the event loop nor keeps the process from exiting, and is one look that failed."""

    def __init__(self, holder: KnowledgeHolder, store: Store) -> None:
        self.holder, self.store = holder, store
        self._version: object = None  # the store's taught_version() when last applied
        self._failing = False
        self._looks = OffLoop(TAUGHT_LOOK_SECONDS, limit=1, name="taught-watcher")

    async def _look(self, query: Callable[[], T]) -> T:
        try:
            return await self._looks.run(query)
        except (Late, Busy) as exc:
            raise StoreUnreachable(f"{describe(self.store.url)} did not answer: {exc}") from None

    async def check(self) -> bool | None:
        """Apply the store's taught phrasings if they changed since the last look (None when they did not); True when
        the bot answers with other phrasings now."""
        version = await self._look(self.store.taught_version)
        if version == self._version:
            return None
        # Read after the version: something taught in between is applied now, and found again at the next look.
        applied = await follow_taught(self.holder, lambda: self._look(self.store.taught))
        self._version = version
        return applied

    async def watch(self, interval: float = TAUGHT_POLL_SECONDS) -> None:
        """Check at once, then every `interval` seconds until cancelled. A store that cannot be read is logged once
        when that starts and once when it ends, not every few seconds."""
        while True:
            try:
                await self.check()
            except Exception as exc:
                if not self._failing:
                    log.warning("taught phrasings: cannot follow %s (%s: %s); trying again every %g s",
                                describe(self.store.url), exc.__class__.__name__,
                                str(exc).splitlines()[0] if str(exc) else "", interval)
                self._failing = True
            else:
                if self._failing:
                    log.info("taught phrasings: following %s again", describe(self.store.url))
                self._failing = False
            await asyncio.sleep(interval)
