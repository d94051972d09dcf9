"""Taught phrasings that cannot be applied are logged once, not at every retraining (issue 25, item 7: after a race,
every retrain on every replica logged the same warnings again, 130 lines in 20 s)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from repo_paths import FIXTURE_FAQ

from bot.reload import follow_taught
from bot.state import KnowledgeHolder
from bot.store import TaughtRecord
from knowledge import KnowledgeBase

R = TypeVar("R")

NOW = datetime(2026, 11, 20, 12, 0)


def taught(n: int, text: str, entry_id: str | None) -> TaughtRecord:
    return TaughtRecord(n, text, entry_id, None, "UADMIN", NOW + timedelta(minutes=n))


async def test_a_phrasing_that_cannot_be_applied_is_warned_of_once_across_retrainings(
        caplog: pytest.LogCaptureFixture) -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    # The FAQ has "who made llama" as a phrasing of llama: taught as licensing, it is not applied.
    records = [taught(1, "who made llama", "licensing")]
    with caplog.at_level(logging.INFO, logger="bot.reload"):
        for n, text in enumerate(["can i sell it", "can i resell it", "may i sell it"], start=2):
            records.append(taught(n, text, "licensing"))  # each a change: the matcher is trained again
            assert await follow_taught(holder, lambda: read_back(records))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "who made llama" in warnings[0] and "already a phrasing of entry 'llama'" \
        in warnings[0], warnings
    assert sum("taught phrasings:" in m for m in caplog.messages) == 3  # each retraining still says what it did


async def test_a_phrasing_applied_in_between_is_warned_of_again_when_it_no_longer_applies(
        caplog: pytest.LogCaptureFixture) -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    first, second = taught(1, "can i sell it", "licensing"), taught(2, "CAN I SELL IT", None)
    with caplog.at_level(logging.WARNING, logger="bot.reload"):
        await follow_taught(holder, lambda: read_back([first, second]))  # the second is refused
        await follow_taught(holder, lambda: read_back([second]))  # the first undone: the second applies
        await follow_taught(holder, lambda: read_back([first, second]))  # and is refused again
    assert len(caplog.records) == 2


async def read_back(records: Sequence[R]) -> list[R]:
    """`records`, as a read of the store (awaited, off the event loop) gives them back."""
    return list(records)
