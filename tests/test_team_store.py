"""The store's part of issue 22's parts 4 to 6, on SQLite and PostgreSQL: reasons kept beside a 👎 only, hand-offs
claimed once (again only when a claim was never posted), their answers kept once, and a store of schema version 3
upgraded with these tables (and read as it is, empty of them, by the reading commands)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, text, update

from bot.store import (
    HANDOFF_STALE,
    HandoffAnswer,
    InvalidRecord,
    Store,
    VoteRecord,
    database_url,
    digests,
    handoff_answers,
    handoffs,
    meta,
    vote_reasons,
)

NOW = datetime(2026, 12, 1, 12, 0)
LONG_AGO = datetime(2000, 1, 1)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url).open()
    yield store
    store.close()


def test_a_reason_is_kept_only_beside_a_thumbs_down_and_goes_with_it(store: Store) -> None:
    assert store.add_vote_reason("C1:1.0", "bob", "wrong", None, NOW) is False  # no vote
    store.add_vote(VoteRecord("C1:1.0", "bob", "licensing", True, NOW))
    assert store.add_vote_reason("C1:1.0", "bob", "wrong", None, NOW) is False  # a 👍
    store.add_vote(VoteRecord("C1:1.0", "bob", "licensing", False, NOW))
    assert store.add_vote_reason("C1:1.0", "bob", "wrong", "nul\x00 here", NOW) is True
    assert store.add_vote_reason("C1:1.0", "bob", "outdated", None, NOW) is True  # replaces the first
    [reason] = store.vote_reasons_since(LONG_AGO)
    assert (reason.entry_id, reason.reason, reason.text) == ("licensing", "outdated", None)
    store.add_vote(VoteRecord("C1:1.0", "bob", "licensing", True, NOW))  # changed to 👍: the reason goes
    assert store.vote_reasons_since(LONG_AGO) == []
    store.add_vote(VoteRecord("C1:1.0", "bob", "licensing", False, NOW))
    assert store.vote_reasons_since(LONG_AGO) == []  # and does not come back with a new 👎
    assert store.add_vote_reason("C1:1.0", "bob", None, "x\x00y", NOW) is True
    assert [r.text for r in store.vote_reasons_since(LONG_AGO)] == ["x\ufffdy"]


@pytest.mark.parametrize(("reason", "words", "said"), [
    ("lies", None, "is not one of wrong, outdated, missing, other"),
    (None, "x" * 501, "longer than 500 characters"),
])
def test_a_reason_the_form_cannot_give_is_refused_before_the_database(store: Store, reason: str | None,
                                                                      words: str | None, said: str) -> None:
    store.add_vote(VoteRecord("C1:1.0", "bob", "licensing", False, NOW))
    with pytest.raises(InvalidRecord, match=said):
        store.add_vote_reason("C1:1.0", "bob", reason, words, NOW)
    assert store.vote_reasons_since(LONG_AGO) == []


def test_a_handoff_is_claimed_once_and_again_only_when_it_was_never_posted(store: Store) -> None:
    first, mine = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "what's the weather", "T1", "h", NOW)
    assert mine and first.posted_ts is None
    again, mine = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "what's the weather", "T1", "h",
                                      NOW + HANDOFF_STALE - timedelta(seconds=1))
    assert not mine and again.id == first.id  # being posted by the first click
    # The first click's replica stopped before posting: after HANDOFF_STALE the next click takes it over, once.
    later = NOW + HANDOFF_STALE + timedelta(seconds=1)
    taken, mine = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "what's the weather", "T1", "h", later)
    assert mine and taken.id == first.id
    _, mine = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "what's the weather", "T1", "h", later)
    assert not mine
    store.handoff_posted(first.id, "CTEAM", "2.0", later)
    posted, mine = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "x", at=later + timedelta(days=1))
    assert not mine and (posted.posted_channel, posted.posted_ts) == ("CTEAM", "2.0")
    assert store.handoff_threads(LONG_AGO) == {("CTEAM", "2.0"), ("CGEN", "1.0")}
    found = store.handoff_in_thread("CTEAM", "2.0")
    assert found is not None and found[1] == "team"
    found = store.handoff_in_thread("CGEN", "1.0")
    assert found is not None and found[1] == "thread"
    assert store.handoff_in_thread("CGEN", "9.9") is None


def test_a_released_claim_can_be_claimed_at_once_and_a_posted_one_is_never_released(store: Store) -> None:
    record, _ = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "q", at=NOW)
    store.release_handoff(record.id)
    again, mine = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "q", at=NOW)
    assert mine
    store.handoff_posted(again.id, "CTEAM", "2.0", NOW)
    store.release_handoff(again.id)
    assert len(store.handoffs_since(LONG_AGO)) == 1


def test_answers_are_kept_once_per_message_oldest_first(store: Store) -> None:
    record, _ = store.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "q", at=NOW)
    store.handoff_posted(record.id, "CTEAM", "2.0", NOW)
    later = HandoffAnswer(record.id, "CTEAM", "2.2", "team", "second", NOW + timedelta(minutes=2))
    earlier = HandoffAnswer(record.id, "CGEN", "1.5", "thread", "first\x00", NOW + timedelta(minutes=1))
    assert store.add_handoff_answer(later) and store.add_handoff_answer(earlier)
    assert not store.add_handoff_answer(later)  # Slack sent it again
    [found] = store.handoffs_since(LONG_AGO)
    assert [(a.text, a.place) for a in found.answers] == [("first\ufffd", "thread"), ("second", "team")]
    with pytest.raises(InvalidRecord):
        store.claim_handoff("C" * 200, "CGEN", None, "none", "q")


def test_a_version_3_store_is_upgraded_with_these_tables_and_read_as_it_is_by_the_reading_commands(
        store_url: str) -> None:
    store = Store(store_url).open()
    store.close()
    engine = create_engine(database_url(store_url))
    with engine.begin() as conn:  # as a version-3 store: without these tables
        for table in (vote_reasons, handoff_answers, handoffs, digests):
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="3"))
    engine.dispose()
    reader = Store(store_url, read_only=True)
    assert reader.vote_reasons_since(LONG_AGO) == [] and reader.handoffs_since(LONG_AGO) == []
    assert reader.handoff_threads(LONG_AGO) == set() and reader.digest_record("2026-12-07") is None
    reader.close()
    upgraded = Store(store_url).open()
    _, mine = upgraded.claim_handoff("CGEN:1.1", "CGEN", "1.0", "none", "q", at=NOW)
    assert mine and upgraded.claim_digest("2026-12-07", NOW, NOW, "me")
    upgraded.close()
