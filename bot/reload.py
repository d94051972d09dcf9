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
from knowledge.content.written import NewEntry, SkippedWritten, Written

from .offloop import Busy, Late, OffLoop
from .state import KnowledgeHolder
from .store import Store, StoreUnreachable, TaughtRecord, WrittenRecord, describe
from .workspaces import key_of

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
    def __call__(self, *, taught: Sequence[Taught] = (), written: Sequence[Written] = ()) -> KnowledgeBase:
        """Load and validate the FAQ with `written` applied, its matcher trained with `taught`; raises
        `KnowledgeError`."""
        ...


class Reloader:
    """Swaps the holder's knowledge bases for a freshly loaded FAQ (each installation's with what it taught), only
    when the new one is valid."""

    def __init__(self, holder: KnowledgeHolder, load: LoadsFaq, watched: Iterable[Path] = ()) -> None:
        self.holder, self._load, self.watched = holder, load, list(watched)
        self._last = snapshot(self.watched)

    async def reload(self, why: str) -> bool:
        """Load the FAQ, with the phrasings taught and the entries and answers written so far (off the event loop,
        so that requests keep being answered); True if it replaced the old. Installed in many workspaces, the FAQ is
        loaded once, without any, and each installation that taught or wrote some gets it again with its own."""
        holder = self.holder
        async with holder.swapping:
            try:
                if holder.per_workspace:
                    kb = await asyncio.to_thread(partial(self._load, taught=(), written=()))
                    own = {key: await asyncio.to_thread(kb.with_taught, holder.taught.get(key, ()),
                                                        holder.written.get(key, ()))
                           for key in _installations(holder)}
                else:
                    kb = await asyncio.to_thread(partial(self._load, taught=holder.taught.get(None, ()),
                                                         written=holder.written.get(None, ())))
                    own = {}
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
            holder.base, holder.by_workspace = kb, own
            self.holder.loaded(why)
            self.holder.metrics.faq_reloaded(ok=True)
        log.info("FAQ reloaded (%s): %d entries%s", why, len(kb.knowledge.entries),
                 f", and for {len(own)} workspace(s) with phrasings or entries of their own" if own else "")
        for key, built in holder.knowledge_bases().items():
            log_written_skipped(built, holder, key)
            log_skipped(built, holder, key)
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


class _OfWorkspace(Protocol):
    """A row of the store kept for an installation (`TaughtRecord`, `WrittenRecord`)."""

    @property
    def team_id(self) -> str | None: ...
    @property
    def enterprise_id(self) -> str | None: ...


R = TypeVar("R", bound=_OfWorkspace)
M = TypeVar("M")


def by_workspace(records: Iterable[R], per_workspace: bool, meaning: Callable[[list[R]], tuple[M, ...]]
                 ) -> dict[str | None, tuple[M, ...]]:
    """What the store's `records` (oldest first) mean (`meaning`: undone ones left out), by the installation they
    were kept for: all of them under None with one bot token; installed in many workspaces, under each one's key
    (`key_of`), those without a workspace (kept from a single-token install) left out: no workspace answers with
    them. Installations left with nothing are not named."""
    found: dict[str | None, list[R]] = {}
    for record in records:
        key = key_of(record.team_id, record.enterprise_id) if per_workspace else None
        if key is not None or not per_workspace:
            found.setdefault(key, []).append(record)
    return {key: items for key, own in found.items() if (items := meaning(own))}


def taught_by_workspace(records: Iterable[TaughtRecord], per_workspace: bool
                        ) -> dict[str | None, tuple[Taught, ...]]:
    """The store's taught phrasings (oldest first, undone ones left out) by the installation they were taught for
    (`by_workspace`)."""
    return by_workspace(records, per_workspace, taught_phrasings)


def _installations(holder: KnowledgeHolder) -> list[str]:
    """Installed in many workspaces, those that taught phrasings or wrote entries or answers of their own."""
    return [key for key in dict.fromkeys([*holder.taught, *holder.written]) if key is not None]


def _changed(old: dict[str | None, tuple[M, ...]], new: dict[str | None, tuple[M, ...]]) -> list[str | None]:
    """The installations whose phrasings (or entries and answers) differ between `old` and `new`."""
    return [key for key in {**old, **new} if new.get(key, ()) != old.get(key, ())]


def _tell_applied(holder: KnowledgeHolder, changed: Iterable[str | None], said: str, workspace: str,
                  counts: Callable[[KnowledgeBase], tuple[int, int]],
                  tell_skipped: Callable[[KnowledgeBase, KnowledgeHolder, str | None], None]) -> None:
    """Log, for each installation whose knowledge base was just rebuilt, how much was applied and what was not."""
    for key in changed:
        kb = holder.of(key)
        log.info(said, f"{workspace} {key}" if key else "", *counts(kb))
        tell_skipped(kb, holder, key)


async def _rebuild(holder: KnowledgeHolder, key: str | None, taught: Sequence[Taught],
                   written: Sequence[Written] | None) -> None:
    """Train again (off the event loop) the knowledge base of the installation `key` with what it `taught` and
    `written` (None: what `base` holds written): `base` for None (one bot token); an installation left with neither
    answers from `base` again. Called under the holder's lock."""
    if key is None:  # one bot token: the FAQ every request is answered from
        holder.base = await asyncio.to_thread(holder.base.with_taught, taught, written)
    elif taught or written:
        holder.by_workspace = {**holder.by_workspace, key: await asyncio.to_thread(holder.base.with_taught, taught,
                                                                                   written)}
    else:  # all undone: it answers from the FAQ every workspace shares again
        holder.by_workspace = {k: kb for k, kb in holder.by_workspace.items() if k != key}


def merged(kb: KnowledgeBase, taught: Taught) -> bool:
    """The FAQ itself says what `taught` says (it was exported and merged into knowledge/), so it is not applied."""
    entry = kb.faq.get(taught.entry_id or taught.near or "")
    if entry is None:
        return False
    texts = (entry.question, *entry.alternates) if taught.entry_id is not None else entry.near_misses
    return phrasing_key(taught.text) in {phrasing_key(t) for t in texts}


S = TypeVar("S", Skipped, SkippedWritten)


def _tell_skipped(told: set[S], skipped: Sequence[S], in_faq: Callable[[S], object | None], key: str | None,
                  merged_note: str, warning: str) -> None:
    """A warning (`warning`, with the workspace and the skipped item) for each of `skipped` not in `told` already,
    but a debug note (`merged_note` and `in_faq`'s) for those the FAQ now holds itself (`in_faq` not None); `told`
    is left holding exactly `skipped`."""
    for item in skipped:
        if item in told:
            continue
        if (shown := in_faq(item)) is not None:
            log.debug(merged_note, shown)
        else:
            log.warning(warning, f" (workspace {key})" if key else "", item)
    told.intersection_update(skipped)
    told.update(skipped)


# The skipped phrasings each holder's log has told of, by installation: each is told once (a retraining on every
# replica, at every change of the taught phrasings, would otherwise repeat them all), and again only if it was applied
# in between.
_told: weakref.WeakKeyDictionary[KnowledgeHolder, dict[str | None, set[Skipped]]] = weakref.WeakKeyDictionary()


def log_skipped(kb: KnowledgeBase, holder: KnowledgeHolder | None = None, key: str | None = None) -> None:
    """A warning for each taught phrasing that could not be applied, but for those the FAQ now holds itself; with
    `holder`, only for those not told of already for it (and the installation `key`)."""
    told = _told.setdefault(holder, {}).setdefault(key, set()) if holder is not None else set()
    _tell_skipped(told, kb.skipped, lambda s: s.taught if merged(kb, s.taught) else None, key,
                  "taught phrasing now in the FAQ itself: %s", "taught phrasing not applied%s: %s")


async def follow_taught(holder: KnowledgeHolder, read: Callable[[], Awaitable[Sequence[TaughtRecord]]]) -> bool:
    """Answer from the FAQ with the taught phrasings `read` returns (all of the store's, oldest first) from now on, the
    matcher trained again off the event loop for each installation whose phrasings changed (`taught_by_workspace`);
    False when the bot already answers with exactly these. Read and applied under the holder's lock: a read made
    before another's cannot be applied after it and put older phrasings back."""
    async with holder.swapping:
        taught = taught_by_workspace(await read(), holder.per_workspace)
        changed = _changed(holder.taught, taught)
        if not changed:
            return False
        for key in changed:
            await _rebuild(holder, key, taught.get(key, ()), holder.written.get(key))
        holder.taught = taught
    _tell_applied(holder, changed, "taught phrasings%s: %d applied, %d not", " of workspace",
                  lambda kb: (len(kb.taught), len(kb.skipped)), log_skipped)
    return True


def written_items(records: Iterable[WrittenRecord]) -> tuple[Written, ...]:
    """What the store's entries and answers written from Slack (oldest first) say to the FAQ; undone ones (and any
    row that cannot be read) left out."""
    return tuple(item for r in records if not r.undone and (item := r.item) is not None)


def written_by_workspace(records: Iterable[WrittenRecord], per_workspace: bool
                         ) -> dict[str | None, tuple[Written, ...]]:
    """The store's entries and answers written from Slack (oldest first, undone ones left out) by the installation
    they were written for, as taught phrasings are (`by_workspace`)."""
    return by_workspace(records, per_workspace, written_items)


def merged_written(kb: KnowledgeBase, skipped: SkippedWritten) -> bool:
    """The FAQ itself holds what was written (it was exported and merged into knowledge/), so it is not applied."""
    item = skipped.written
    entry = kb.faq.get(item.id if isinstance(item, NewEntry) else item.entry_id)
    if entry is None:
        return False
    return entry.answer == item.answer and (not isinstance(item, NewEntry) or entry.question == item.question)


_told_written: weakref.WeakKeyDictionary[KnowledgeHolder, dict[str | None, set[SkippedWritten]]] = (
    weakref.WeakKeyDictionary())


def log_written_skipped(kb: KnowledgeBase, holder: KnowledgeHolder, key: str | None = None) -> None:
    """A warning for each entry or answer written from Slack (for the installation `key`) that could not be applied
    (once), but for those the FAQ now holds itself."""
    told = _told_written.setdefault(holder, {}).setdefault(key, set())
    _tell_skipped(told, kb.written_skipped, lambda s: s.written if merged_written(kb, s) else None, key,
                  "written from Slack, now in the FAQ itself: %s", "written from Slack, not applied%s: %s")


async def follow_written(holder: KnowledgeHolder, read: Callable[[], Awaitable[Sequence[WrittenRecord]]]) -> bool:
    """Answer with the entries and answers written from Slack that `read` returns (all of the store's, oldest first)
    from now on, each installation's knowledge base whose entries and answers changed trained again off the event
    loop (`written_by_workspace`); False when the bot already answers with exactly these. Read and applied under the
    holder's lock, as `follow_taught` does."""
    async with holder.swapping:
        written = written_by_workspace(await read(), holder.per_workspace)
        changed = _changed(holder.written, written)
        if not changed:
            return False
        for key in changed:
            await _rebuild(holder, key, holder.taught.get(key, ()), written.get(key, ()))
        holder.written = written
    _tell_applied(holder, changed, "written from Slack%s: %d applied, %d not", " for workspace",
                  lambda kb: (len(kb.written), len(kb.written_skipped)), log_written_skipped)
    return True


class TaughtWatcher:
    """Keeps the bot answering with the phrasings taught in `store`, and the entries and answers written there, on
    whichever replica they were taught or written. Each look
    at the store waits TAUGHT_LOOK_SECONDS at most, on a thread of its own (see `bot.offloop`): a store that hangs
    neither holds the event loop nor keeps the process from exiting, and is one look that failed."""

    def __init__(self, holder: KnowledgeHolder, store: Store) -> None:
        self.holder, self.store = holder, store
        self._version: object = None  # the store's taught_version() when last applied
        self._written_version: object = None  # and its written_version()
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
        written_version = await self._look(self.store.written_version)
        if version == self._version and written_version == self._written_version:
            return None
        # Read after the version: something taught in between is applied now, and found again at the next look.
        applied = False
        if written_version != self._written_version:  # first: the phrasings are applied to what was written
            applied = await follow_written(self.holder, lambda: self._look(self.store.written))
            self._written_version = written_version
        if version != self._version:
            applied = await follow_taught(self.holder, lambda: self._look(self.store.taught)) or applied
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
