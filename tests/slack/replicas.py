"""Two replicas of the bot sharing one store, as separate processes would: each with a fake Slack, a store
connection and a recorder of its own, and each following the store (`TaughtWatcher`) every half second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.reload import TaughtWatcher
from bot.store import Store
from knowledge import KnowledgeBase

from .slackkit import STORE_KEY, Slack, start_slack, until


@asynccontextmanager
async def two_replicas(kb: KnowledgeBase, store_url: str, admin: str) -> AsyncIterator[tuple[Slack, Slack]]:
    """(here, there): two replicas of the bot on the store at `store_url`, `admin` an admin of both."""
    fakes = [await FakeSlack().start() for _ in range(2)]
    recorders = [Recorder(Store(store_url), STORE_KEY) for _ in fakes]
    here, there = [await start_slack(f, kb, r, admin_user_ids=frozenset({admin}))
                   for f, r in zip(fakes, recorders, strict=True)]
    watchers = [asyncio.create_task(TaughtWatcher(s.holder, r.store).watch(interval=0.5))
                for s, r in zip((here, there), recorders, strict=True)]
    try:
        yield here, there
    finally:
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for slack in (here, there):
            await slack.runner.cleanup()
        for recorder in recorders:
            recorder.close()
        for fake in fakes:
            await fake.close()


async def within_10_seconds(condition: Callable[[], bool]) -> None:
    """Wait for `condition`, and fail unless it came true within 10 seconds."""
    started = time.monotonic()
    await until(condition, attempts=1000)
    assert time.monotonic() - started < 10
