"""The question store, on SQLite and on a real PostgreSQL server: schema, records, votes, hashing, failures."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ
from sqlalchemy import create_engine, insert, select, text, update
from stuck_store import StuckStore, silent_server

from bot.config import ConfigError, StoreSettings
from bot.recorder import Recorder, hash_key_for
from bot.reload import TaughtWatcher
from bot.state import KnowledgeHolder
from bot.store import (
    CONNECT_SECONDS,
    MIGRATIONS,
    SCHEMA_VERSION,
    InvalidRecord,
    QuestionRecord,
    Store,
    StoreError,
    StoreRefused,
    StoreUnreachable,
    VoteRecord,
    database_url,
    meta,
    questions,
    user_hash,
    utcnow,
)
from knowledge import KnowledgeBase

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


@pytest.fixture(scope="module")
def fixture_kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ)


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


def test_questions_asked_in_a_burst_are_written_in_few_transactions(store: Store,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    add_questions = store.add_questions
    monkeypatch.setattr(store, "add_questions", lambda records: (writes.append(len(records)), add_questions(records)))
    recorder = Recorder(store, KEY)
    for n in range(100):  # one every millisecond: a burst being answered
        recorder.question(*asked(f"question {n}"))
        time.sleep(0.001)
    assert recorder.flush()
    assert sum(writes) == 100 and len(writes) <= 10  # one a question, before questions were gathered
    recorder.close()


def _wakings(thread: threading.Thread) -> int:
    """How many times `thread` has gone to sleep and been woken (Linux: voluntary context switches)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text(encoding="utf-8")
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def test_questions_gathered_into_one_transaction_do_not_wake_the_writer_one_by_one(store: Store) -> None:
    # Each waking takes the GIL from the event loop that is answering the burst.
    recorder = Recorder(store, KEY)
    assert recorder.flush()
    before = _wakings(recorder._thread)
    for n in range(100):  # one every millisecond, as in test_questions_asked_in_a_burst…
        recorder.question(*asked(f"question {n}"))
        time.sleep(0.001)
    assert recorder.flush()
    assert _wakings(recorder._thread) - before < 50  # was one a question at least
    assert len(store.questions_since(datetime(2000, 1, 1))) == 100
    recorder.close()


def test_a_flush_or_a_stop_does_not_wait_for_the_questions_being_gathered(store: Store,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.recorder.GATHER_SECONDS", 60.0)
    recorder = Recorder(store, KEY)
    recorder.question(*asked("first"))
    assert recorder.flush(timeout=5.0)  # not after the minute the writer would gather for
    recorder.question(*asked("second"))
    closing = threading.Thread(target=recorder.close)
    closing.start()
    closing.join(5.0)
    assert not closing.is_alive()
    assert [q.text for q in Store(store.url).questions_since(datetime(2000, 1, 1))] == ["first", "second"]


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


def test_a_failing_database_is_logged_once_and_counted_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[int] = []
    # Nothing listens on port 1: every connection is refused.
    with caplog.at_level(logging.ERROR, logger="bot.recorder"):
        recorder = Recorder(Store("postgresql+psycopg://bot:secret-pw@127.0.0.1:1/openllm"), KEY,
                            on_failure=failures.append)
        recorder.question(*asked())
        recorder.vote("C1:1.0", "T1", "UALICE", "licensing", helpful=False)
        assert recorder.flush()
    recorder.close()
    assert sum(failures) == 2
    [line] = caplog.messages  # said when the recorder starts, not again for each record
    assert "cannot be recorded" in line and "could not be reached" in line and "Connection refused" in line
    assert "secret-pw" not in caplog.text
    assert recorder.problem is not None and "could not be reached" in recorder.problem


def test_a_store_that_works_again_is_logged_once_with_what_was_lost(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "store.sqlite3"
    path.mkdir()  # a folder where the file should be: nothing can be written
    with caplog.at_level(logging.INFO, logger="bot.recorder"):
        recorder = Recorder(Store(f"sqlite:///{path}"), KEY)
        for _ in range(3):
            recorder.question(*asked())
            assert recorder.flush()
        path.rmdir()
        recorder.question(*asked())
        assert recorder.flush()
    recorder.close()
    assert [r.levelname for r in caplog.records] == ["ERROR", "INFO"]
    assert "is it a folder" in caplog.messages[0]
    assert "writing to" in caplog.messages[1] and "3 record(s) were lost" in caplog.messages[1]
    assert recorder.problem is None


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
    ({"DATABASE_URL": "sqlite:///:memory:"}, "DATABASE_URL='sqlite:///:memory:' is a database in memory"),
    ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL='sqlite://' is a database in memory"),
    ({"STORE_PATH": ":memory:"}, "STORE_PATH=':memory:' is a database in memory"),
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


# What the store says when it fails (issue 25): reached or not, and what it refused and why

def test_a_database_that_cannot_be_reached_is_said_so(tmp_path: Path) -> None:
    with pytest.raises(StoreUnreachable, match="could not be reached") as caught:
        Store("postgresql+psycopg://bot:secret-pw@127.0.0.1:1/openllm").taught()
    assert "secret-pw" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_store_written_by_a_newer_version_is_refused_not_unreachable(store_url: str) -> None:
    first = Store(store_url).open()
    with first.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    first.close()
    with pytest.raises(StoreRefused, match="newer than this openllm-bot"):
        Store(store_url).taught()


@pytest.mark.parametrize(("text", "why"), [("can i\x00 sell it", "NUL character"),
                                           ("can i sell it \ud800", "lone surrogate")])
def test_a_phrasing_the_database_cannot_keep_is_refused_before_it_gets_there(store: Store, text: str,
                                                                            why: str) -> None:
    with pytest.raises(InvalidRecord, match=f"the phrasing holds a {why}"):
        store.add_taught(text, "licensing", None, "UADMIN")
    with pytest.raises(InvalidRecord, match="the entry id is longer than 128 characters"):
        store.add_taught("can i sell it", "x" * 129, None, "UADMIN")
    assert store.taught(include_undone=True) == []


@pytest.mark.parametrize("taught_id", [2**31, 2**63, 0, -1])
def test_undoing_an_id_no_phrasing_can_have_is_nothing_to_undo(store: Store, taught_id: int) -> None:
    store.add_taught("can i sell it", "licensing", None, "UADMIN")
    assert store.undo_taught(taught_id, "UADMIN") is None
    assert len(store.taught()) == 1


def test_questions_and_votes_are_recorded_even_with_text_the_database_cannot_keep(store: Store) -> None:
    store.add_questions([QuestionRecord(utcnow(), "dm", "none", "T1", "C" * 40, text="nul\x00 and \udc80 here")])
    store.add_vote(VoteRecord("C1:1.0\x00", "h", "licensing\ud800", True, utcnow()))
    [question] = store.questions_since(datetime(2000, 1, 1))
    assert question.text == "nul\ufffd and \ufffd here" and question.channel == "C" * 32
    [vote] = store.votes_since(datetime(2000, 1, 1))
    assert (vote.reply, vote.entry_id) == ("C1:1.0\ufffd", "licensing\ufffd")


# A database that never answers (issue 25, item 3)

def _within(seconds: float, call: Callable[[], object]) -> object:
    """`call()`'s result or exception, failing the test if it takes longer than `seconds` (it is left running)."""
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(_result_of(call)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still waiting after {seconds} s"
    return outcome[0]


def _result_of(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:
        return exc


def test_a_database_that_accepts_connections_and_never_answers_is_unreachable_within_the_connect_timeout() -> None:
    with silent_server() as port:
        store = Store(f"postgresql+psycopg://bot@127.0.0.1:{port}/openllm")
        started = time.monotonic()
        failed = _within(CONNECT_SECONDS + 5, store.taught)
        assert isinstance(failed, StoreUnreachable) and "could not be reached" in str(failed), failed
        assert time.monotonic() - started >= CONNECT_SECONDS - 1
        assert "could not be reached" in (_within(CONNECT_SECONDS + 5, store.check) or "")


def test_a_statement_that_waits_too_long_is_cancelled(postgres_url: str) -> None:
    Store(postgres_url).open().close()
    store = Store(postgres_url, statement_seconds=0.5).open()
    blocker = create_engine(postgres_url).connect()
    blocker.execute(text("LOCK TABLE openllm_taught IN ACCESS EXCLUSIVE MODE"))  # held until rolled back
    try:
        failed = _within(5, store.taught)
        assert isinstance(failed, StoreUnreachable) and "did not answer within 0.5 s" in str(failed), failed
    finally:
        blocker.rollback()
        blocker.close()
    assert store.taught() == []
    store.close()


def test_a_sqlite_file_another_process_holds_is_busy_after_the_busy_timeout(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.store.BUSY_SECONDS", 0.3)
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store(url).open()
    holder = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        failed = _within(5, lambda: store.add_taught("can i sell it", "licensing", None, "UADMIN"))
        assert isinstance(failed, StoreUnreachable) and "busy" in str(failed), failed
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.close()


# Store.check: what is wrong with a store, said at start-up

@pytest.mark.parametrize(("make", "says"), [
    (lambda path: path.mkdir(), "is it a folder"),
    (lambda path: path.write_text("not a database, a shopping list\n" * 100), "is not a SQLite database"),
])
def test_check_says_what_is_wrong_with_a_sqlite_store(tmp_path: Path, make: Callable[[Path], object],
                                                      says: str) -> None:
    path = tmp_path / "store.sqlite3"
    make(path)
    store = Store(f"sqlite:///{path}")
    problem = store.check()
    assert problem is not None and says in problem and str(path) in problem and "\n" not in problem
    store.close()


def test_check_says_a_store_is_newer_or_down_and_nothing_when_it_is_fine(store_url: str) -> None:
    store = Store(store_url)
    assert store.check() is None
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    store.close()
    assert "newer than this openllm-bot" in (Store(store_url).check() or "")
    assert "could not be reached" in (Store("postgresql+psycopg://bot@127.0.0.1:1/openllm").check() or "")


# The recorder's waits are bounded: a hung store is an error the callers already handle, and is counted

async def test_a_call_the_store_never_answers_fails_after_the_bounded_wait_and_is_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.recorder.CALL_SECONDS", 0.5)
    store = StuckStore(f"sqlite:///{tmp_path / 'hung.sqlite3'}", hang=("taught", "questions_since"))
    failures: list[int] = []
    recorder = Recorder(store, KEY, on_failure=failures.append)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnreachable, match="did not answer"):
            await asyncio.wait_for(recorder.call(lambda s: s.taught()), 5)
        with pytest.raises(StoreUnreachable, match="did not answer"):
            await asyncio.wait_for(recorder.read(lambda s: s.questions_since(datetime(2000, 1, 1))), 5)
        assert time.monotonic() - started < 3
        assert sum(failures) == 2
    finally:
        store.release.set()
        recorder.close()


async def test_calls_still_waiting_for_a_hung_store_are_capped(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.recorder.CALL_SECONDS", 0.2)
    monkeypatch.setattr("bot.recorder.MAX_CALLS", 2)
    store = StuckStore(f"sqlite:///{tmp_path / 'hung.sqlite3'}", hang=("taught",))
    recorder = Recorder(store, KEY)
    try:
        for _ in range(2):
            with pytest.raises(StoreUnreachable, match="no answer within"):
                await recorder.call(lambda s: s.taught())
        started = time.monotonic()
        with pytest.raises(StoreUnreachable, match="2 earlier calls have not returned"):
            await recorder.call(lambda s: s.taught())
        assert time.monotonic() - started < 0.1  # refused at once: no third thread waits on the store
    finally:
        store.release.set()
        recorder.close()


def test_closing_the_recorder_of_a_hung_store_takes_no_longer_than_its_timeout(tmp_path: Path) -> None:
    store = StuckStore(f"sqlite:///{tmp_path / 'hung.sqlite3'}", hang=("close",))
    recorder = Recorder(store, KEY)
    recorder.question(*asked())  # the writer hangs on it
    started = time.monotonic()
    recorder.close(timeout=1.0)
    assert time.monotonic() - started < 1.5
    store.release.set()


def test_closing_the_recorder_of_a_store_known_to_fail_waits_little(caplog: pytest.LogCaptureFixture) -> None:
    with silent_server() as port:  # every connection attempt takes CONNECT_SECONDS, then fails
        recorder = Recorder(Store(f"postgresql+psycopg://bot@127.0.0.1:{port}/openllm"), KEY)
        recorder.question(*asked())
        for _ in range(100):
            if recorder.problem is not None:
                break
            time.sleep(0.1)
        assert recorder.problem is not None and "could not be reached" in recorder.problem
        recorder.question(*asked())  # the writer is trying again, for CONNECT_SECONDS
        started = time.monotonic()
        recorder.close()
        assert time.monotonic() - started < 1.5


async def test_the_taught_watcher_gives_up_on_a_hung_store_after_its_bounded_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture_kb: KnowledgeBase) -> None:
    monkeypatch.setattr("bot.reload.TAUGHT_LOOK_SECONDS", 0.3)
    store = StuckStore(f"sqlite:///{tmp_path / 'hung.sqlite3'}", hang=("taught_version",))
    watcher = TaughtWatcher(KnowledgeHolder(fixture_kb), store)
    try:
        with pytest.raises(StoreUnreachable, match="did not answer"):
            await asyncio.wait_for(watcher.check(), 5)
        with pytest.raises(StoreUnreachable, match="earlier calls have not returned"):  # the first still hangs
            await asyncio.wait_for(watcher.check(), 5)
    finally:
        store.release.set()
        store.close()


def _open_together(stores: list[Store]) -> list[BaseException]:
    """Open `stores` from one thread each, all at the same moment; what each raised."""
    together = threading.Barrier(len(stores))
    failed: list[BaseException] = []

    def open_it(store: Store) -> None:
        together.wait()
        try:
            store.open()
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=open_it, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed


def test_replicas_creating_a_new_sqlite_store_at_the_same_moment_all_open_it(tmp_path: Path) -> None:
    # SQLite runs each CREATE TABLE on its own: replicas starting together collide on one table or another.
    for n in range(10):
        stores = [Store(f"sqlite:///{tmp_path / f'new-{n}.sqlite3'}") for _ in range(4)]
        assert _open_together(stores) == [] and all(s.schema_version() == SCHEMA_VERSION for s in stores)
        for s in stores:
            s.close()


def test_a_backlog_of_questions_is_written_without_waiting_to_gather_more(store: Store,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Gathering is for questions still coming; a whole transaction's worth already queued is written at once.
    monkeypatch.setattr("bot.recorder.GATHER_SECONDS", 0.01)
    stuck = threading.Event()
    add_questions = store.add_questions
    monkeypatch.setattr(store, "add_questions", lambda records: (stuck.wait(10), add_questions(records)))
    recorder = Recorder(store, KEY)
    recorder.question(*asked("first"))  # taken, gathered for 10 ms, and held being written
    time.sleep(0.2)
    monkeypatch.setattr("bot.recorder.GATHER_SECONDS", 60.0)
    for n in range(1000):  # queued meanwhile: five transactions' worth
        recorder.question(*asked(f"question {n}"))
    stuck.set()
    deadline = time.monotonic() + 5.0
    while recorder.waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.waiting() == 0  # not a minute's gathering before each transaction
    recorder.close()
    assert len(Store(store.url).questions_since(datetime(2000, 1, 1))) == 1001
