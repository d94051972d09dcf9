"""The question store, on SQLite and on a real PostgreSQL server: schema, records, votes, hashing, failures."""

from __future__ import annotations

import asyncio
import logging
import stat
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, update
from stuck_store import StuckStore

from bot.config import ConfigError, StoreSettings
from bot.recorder import Recorder, hash_key_for
from bot.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    QuestionRecord,
    Store,
    StoreError,
    VoteRecord,
    database_url,
    meta,
    questions,
    user_hash,
    utcnow,
)

KEY = b"k" * 32


def asked(text: str = "can we use llama commercially", outcome: str = "answer", user: str = "UALICE",
          **changes: object) -> tuple[QuestionRecord, str]:
    """A question as the listeners hand it to the recorder: the record, and who asked (a Slack user id)."""
    fields: dict = {"asked_at": utcnow(), "surface": "mention", "outcome": outcome, "text": text, "team": "T1",
                    "channel": "C1", "entry_id": "licensing" if outcome != "none" else None, "score": 0.9}
    return QuestionRecord(**{**fields, **changes}), user


@pytest.fixture
def store(store_url: str) -> Store:
    store = Store(store_url).open()
    yield store
    store.close()


@pytest.fixture
def recorder(store: Store) -> Recorder:
    recorder = Recorder(store, KEY)
    yield recorder
    recorder.close()


def test_first_open_creates_the_tables_and_records_the_schema_version(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.questions_since(datetime(2000, 1, 1)) == []


def test_reopening_keeps_rows_and_version(store_url: str) -> None:
    first = Store(store_url)
    first.add_questions([QuestionRecord(utcnow(), "dm", "none", text="is it raining")])
    first.close()
    again = Store(store_url).open()
    assert [q.text for q in again.questions_since(datetime(2000, 1, 1))] == ["is it raining"]
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_store_written_by_a_newer_version_is_refused_and_left_untouched(store_url: str) -> None:
    first = Store(store_url)
    first.add_questions([QuestionRecord(utcnow(), "dm", "none", text="kept")])
    with first.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    first.close()
    with pytest.raises(StoreError, match="newer than this openllm-bot"):
        Store(store_url).open()
    engine = create_engine(database_url(store_url))
    with engine.connect() as conn:
        assert conn.execute(select(questions.c.text)).scalars().all() == ["kept"]
    engine.dispose()


def test_older_schema_is_upgraded_step_by_step_keeping_rows(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Store(store_url)
    first.add_questions([QuestionRecord(utcnow(), "dm", "none", text="kept")])
    first.close()
    steps: list[int] = []
    monkeypatch.setattr("bot.store.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION + 1, lambda conn: steps.append(SCHEMA_VERSION + 1))
    upgraded = Store(store_url).open()
    assert steps == [SCHEMA_VERSION + 1] and upgraded.schema_version() == SCHEMA_VERSION + 1
    assert [q.text for q in upgraded.questions_since(datetime(2000, 1, 1))] == ["kept"]
    upgraded.close()


def test_questions_are_read_back_in_order_from_a_given_time(store: Store) -> None:
    now = utcnow()
    old = QuestionRecord(now - timedelta(days=10), "slash", "none", "T1", "C1", "h", None, 0.1, "old one")
    new = QuestionRecord(now - timedelta(hours=1), "mention", "answer", "T1", "C2", "h", "llama", 0.93, "new one")
    store.add_questions([new, old])
    assert store.questions_since(now - timedelta(days=30)) == [old, new]
    assert store.questions_since(now - timedelta(days=7)) == [new]


def test_a_second_vote_by_the_same_person_on_the_same_reply_replaces_the_first(store: Store) -> None:
    now = utcnow()
    store.add_vote(VoteRecord("C1:1.0", "alice", "licensing", True, now))
    store.add_vote(VoteRecord("C1:1.0", "alice", "licensing", False, now + timedelta(seconds=1)))
    store.add_vote(VoteRecord("C1:1.0", "bob", "licensing", True, now))
    store.add_vote(VoteRecord("C1:2.0", "alice", "licensing", True, now))
    votes = {(v.reply, v.user_hash): v.helpful for v in store.votes_since(now - timedelta(minutes=1))}
    assert votes == {("C1:1.0", "alice"): False, ("C1:1.0", "bob"): True, ("C1:2.0", "alice"): True}


def test_recorder_keeps_user_ids_only_as_a_keyed_hash(store: Store, recorder: Recorder) -> None:
    recorder.question(*asked(user="UALICE"))
    recorder.question(*asked(user="UALICE"))
    recorder.question(*asked(user="UBOB"))
    assert recorder.flush()
    hashes = [q.user_hash for q in store.questions_since(datetime(2000, 1, 1))]
    assert hashes[0] == hashes[1] != hashes[2]
    assert hashes[0] == user_hash(KEY, "T1", "UALICE") != user_hash(b"another key" * 3, "T1", "UALICE")
    assert not any("UALICE" in h or "UBOB" in h for h in hashes)


def test_recorder_drops_question_text_when_told_to(store: Store) -> None:
    recorder = Recorder(store, KEY, keep_text=False)
    recorder.question(*asked("something private"))
    assert recorder.flush()
    recorder.close()
    [record] = Store(store.url).questions_since(datetime(2000, 1, 1))
    assert record.text is None and record.outcome == "answer" and record.entry_id == "licensing"


def test_recorder_writes_everything_queued_before_it_closes(store: Store) -> None:
    recorder = Recorder(store, KEY)
    for n in range(500):
        recorder.question(*asked(f"question {n}"))
    recorder.vote("C1:1.0", "T1", "UALICE", "licensing", helpful=True)
    recorder.close()
    reopened = Store(store.url)
    assert len(reopened.questions_since(datetime(2000, 1, 1))) == 500
    assert len(reopened.votes_since(datetime(2000, 1, 1))) == 1
    reopened.close()


def test_recording_never_waits_for_the_database(tmp_path: Path) -> None:
    store = StuckStore(f"sqlite:///{tmp_path / 'slow.sqlite3'}")
    recorder = Recorder(store, KEY)
    started = time.monotonic()
    for _ in range(100):
        recorder.question(*asked())
    assert time.monotonic() - started < 1.0  # would be 10 s if a write were waited for
    store.release.set()
    assert recorder.flush()
    assert len(store.questions_since(datetime(2000, 1, 1))) == 100
    recorder.close()


async def test_reading_through_the_recorder_includes_what_was_just_queued(tmp_path: Path) -> None:
    store = StuckStore(f"sqlite:///{tmp_path / 'slow.sqlite3'}", wait=0.3)  # each write takes 0.3 s
    recorder = Recorder(store, KEY)
    for n in range(3):
        recorder.question(*asked(f"question {n}"))
    read = await recorder.read(lambda s: s.questions_since(datetime(2000, 1, 1)))
    recorder.close()
    assert [q.text for q in read] == ["question 0", "question 1", "question 2"]


async def test_reading_through_the_recorder_does_not_wait_long_for_a_hung_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.recorder.READ_FLUSH_SECONDS", 0.2)
    store = StuckStore(f"sqlite:///{tmp_path / 'hung.sqlite3'}")
    recorder = Recorder(store, KEY)
    recorder.question(*asked())
    read = await asyncio.wait_for(recorder.read(lambda s: s.questions_since(datetime(2000, 1, 1))), 5)
    assert read == []  # what was written so far: nothing
    store.release.set()
    recorder.close()


def test_a_failing_database_is_logged_and_counted_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[int] = []
    # Nothing listens on port 1: every connection is refused.
    recorder = Recorder(Store("postgresql+psycopg://bot:secret-pw@127.0.0.1:1/openllm"), KEY,
                        on_failure=failures.append)
    with caplog.at_level(logging.ERROR, logger="bot.recorder"):
        recorder.question(*asked())
        recorder.vote("C1:1.0", "T1", "UALICE", "licensing", helpful=False)
        assert recorder.flush()
    recorder.close()
    assert sum(failures) == 2
    assert "could not be written" in caplog.text and "secret-pw" not in caplog.text


def test_sqlite_hash_key_is_generated_once_beside_the_store_readable_by_its_owner_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}"
    key = hash_key_for(url, None)
    key_file = tmp_path / "data" / "bot.sqlite3.key"
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert hash_key_for(url, None) == key and len(key) >= 32
    assert hash_key_for(url, "configured-key-0123") == b"configured-key-0123"


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db.example:5432/bot", "postgresql+psycopg://u:p@db.example:5432/bot"),
    ("postgresql://u@localhost/bot", "postgresql+psycopg://u@localhost/bot"),
    ("postgresql+psycopg://u@localhost/bot", "postgresql+psycopg://u@localhost/bot"),
    ("sqlite:///var/bot.sqlite3", "sqlite:///var/bot.sqlite3"),
])
def test_paas_style_database_urls_are_accepted(given: str, expected: str) -> None:
    assert database_url(given) == expected


def test_store_settings_default_to_a_sqlite_file_with_text_kept() -> None:
    settings = StoreSettings.from_env({})
    assert settings.url == "sqlite:///openllm-bot.sqlite3" and settings.keep_text and settings.hash_key is None
    assert StoreSettings.from_env({"STORE_PATH": "/var/lib/bot/q.db"}).url == "sqlite:////var/lib/bot/q.db"
    assert StoreSettings.from_env({"STORE_ENABLED": "false"}).url is None
    assert not StoreSettings.from_env({"STORE_QUESTION_TEXT": "false"}).keep_text


def test_store_settings_take_database_url_with_a_hash_key() -> None:
    env = {"DATABASE_URL": "postgres://u:p@db:5432/bot", "STORE_HASH_KEY": "0123456789abcdef0123"}
    assert StoreSettings.from_env(env).url == "postgres://u:p@db:5432/bot"
    assert "0123456789abcdef" not in repr(StoreSettings.from_env(env))


@pytest.mark.parametrize("env, complaint", [
    ({"DATABASE_URL": "postgres://u:p@db:5432/bot"}, "STORE_HASH_KEY is not set"),
    ({"DATABASE_URL": "mysql://u@db/bot", "STORE_HASH_KEY": "0123456789abcdef"}, "DATABASE_URL is not a"),
    ({"STORE_HASH_KEY": "short"}, "STORE_HASH_KEY is too short"),
    ({"STORE_QUESTION_TEXT": "maybe"}, "STORE_QUESTION_TEXT='maybe' is not true or false"),
])
def test_malformed_store_settings_say_which_variable_and_what_to_do(env: dict, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        StoreSettings.from_env(env)


def test_records_written_directly_and_through_the_recorder_read_the_same(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(questions).values(asked_at=utcnow(), surface="dm", outcome="none", text="direct"))
    recorder = Recorder(store, KEY)
    recorder.question(*asked("queued", outcome="suggest"))
    recorder.close()
    rows = Store(store.url).questions_since(datetime(2000, 1, 1))
    assert [(r.text, r.outcome, r.surface) for r in rows] == [("direct", "none", "dm"), ("queued", "suggest",
                                                                                               "mention")]
