"""Reloading the FAQ without downtime: when its files change (polled) or on SIGHUP, load and validate the new
FAQ in full, then swap it in; an invalid edit is logged with every `file:line: reason` and the bot keeps
answering from the last good FAQ."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from knowledge import KnowledgeBase, KnowledgeError

from .state import KnowledgeHolder

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
Snapshot = dict[str, tuple[int, int]]


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


class Reloader:
    """Swaps `holder.current` for a freshly loaded FAQ, only when the new one is valid."""

    def __init__(self, holder: KnowledgeHolder, load: Callable[[], KnowledgeBase], watched: Iterable[Path] = ()
                 ) -> None:
        self.holder, self._load, self.watched = holder, load, list(watched)
        self._last = snapshot(self.watched)
        self._lock = asyncio.Lock()

    async def reload(self, why: str) -> bool:
        """Load the FAQ (off the event loop, so that requests keep being answered); True if it replaced the old."""
        async with self._lock:
            try:
                kb = await asyncio.to_thread(self._load)
            except KnowledgeError as exc:
                self.holder.counters.reload_failures += 1
                self.holder.loaded(why, len(exc.problems) or 1)
                log.error("FAQ reload (%s) rejected, still answering from the last good FAQ; %d problem(s):\n%s",
                          why, len(exc.problems), "\n".join(f"  {p}" for p in exc.problems))
                return False
            except Exception as exc:  # unreadable files and the like: same outcome, never a crash
                self.holder.counters.reload_failures += 1
                self.holder.loaded(why, 1)
                log.error("FAQ reload (%s) failed, still answering from the last good FAQ: %s: %s", why,
                          exc.__class__.__name__, exc)
                return False
            self.holder.current = kb
            self.holder.loaded(why)
            log.info("FAQ reloaded (%s): %d entries", why, len(kb.knowledge.entries))
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
