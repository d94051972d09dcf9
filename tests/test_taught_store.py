"""Taught phrasings in the question store, on SQLite and on a real PostgreSQL server: teaching, undoing, listing,
the version replicas poll, the upgrade from version 1, reading only; and the list and YAML made from them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from repo_paths import FIXTURE_FAQ
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, insert, inspect, select

from bot.report import report_from_store
from bot.store import (
    DUPLICATE_UNDONE_BY,
    SCHEMA_VERSION,
    QuestionRecord,
    Store,
    StoreError,
    TaughtAlready,
    TaughtRecord,
    VoteRecord,
    database_url,
    meta,
    metadata,
    questions,
    taught_phrasings,
    votes,
)
from bot.taught import applicable, taught_export_yaml, taught_list_text
from knowledge import load_knowledge

NOW = datetime(2026, 11, 20, 12, 0)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
LONG_AGO = datetime(2000, 1, 1)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url).open()
    yield store
    store.close()


def version_1_store(url: str) -> None:
    """A store as openllm-bot at schema version 1 left it: its three tables (unchanged since), one question and
    one vote in them."""
    engine = create_engine(database_url(url))
    with engine.begin() as conn:
        metadata.create_all(conn, tables=[meta, questions, votes])
        conn.execute(insert(meta).values(key="schema_version", value="1"))
        conn.execute(insert(questions).values(asked_at=NOW - DAY, surface="dm", outcome="none", text="kept"))
        conn.execute(insert(votes).values(reply="C1:1.0", user_hash="h", entry_id="licensing", helpful=True,
                                          voted_at=NOW - DAY))
    engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


# Teaching, undoing, listing

def test_a_taught_phrasing_is_read_back_with_what_it_means_who_taught_it_and_when(store: Store) -> None:
    taught_id = store.add_taught("can i sell stuff i make with llama", "licensing", None, "UADMIN", at=NOW)
    assert store.taught() == [TaughtRecord(taught_id, "can i sell stuff i make with llama", "licensing", None,
                                           "UADMIN", NOW)]


def test_not_covered_is_kept_with_the_entry_the_bot_took_it_for_if_any(store: Store) -> None:
    store.add_taught("who coined the term llm", None, "what-is-an-llm", "UADMIN", at=NOW)
    store.add_taught("what's for lunch", None, None, "UADMIN", at=NOW + MINUTE)
    assert [(t.text, t.entry_id, t.near_entry) for t in store.taught()] == [
        ("who coined the term llm", None, "what-is-an-llm"), ("what's for lunch", None, None)]


def test_a_phrasing_is_either_an_entry_or_not_covered_near_one_and_has_some_text(store: Store) -> None:
    with pytest.raises(ValueError, match="near entry"):
        store.add_taught("can i sell it", "licensing", "hardware", "UADMIN")
    with pytest.raises(ValueError, match="needs some text"):
        store.add_taught("   ", "licensing", None, "UADMIN")
    assert store.taught() == []


def test_taught_phrasings_are_listed_oldest_first_from_a_given_time(store: Store) -> None:
    store.add_taught("newest", "licensing", None, "UADMIN", at=NOW)
    store.add_taught("oldest", "licensing", None, "UADMIN", at=NOW - 2 * DAY)
    store.add_taught("middle", None, None, "UOTHER", at=NOW - DAY)
    assert [t.text for t in store.taught()] == ["oldest", "middle", "newest"]
    assert [t.text for t in store.taught(since=NOW - DAY)] == ["middle", "newest"]
    assert store.taught(since=NOW + MINUTE) == []


def test_undoing_says_who_undid_it_and_when_and_takes_it_out_of_the_list(store: Store) -> None:
    kept = store.add_taught("kept", "licensing", None, "UADMIN", at=NOW - DAY)
    taken_back = store.add_taught("taken back", "licensing", None, "UADMIN", at=NOW - DAY + MINUTE)
    undone = store.undo_taught(taken_back, "UOTHER", at=NOW)
    assert undone is not None and undone.undone
    assert (undone.id, undone.text, undone.undone_by, undone.undone_at) == (taken_back, "taken back", "UOTHER", NOW)
    assert [t.id for t in store.taught()] == [kept]
    assert store.taught(include_undone=True) == [store.taught()[0], undone]


def test_undoing_twice_or_an_unknown_phrasing_gives_none_and_changes_nothing(store: Store) -> None:
    taught_id = store.add_taught("can i sell it", "licensing", None, "UADMIN")
    first = store.undo_taught(taught_id, "UADMIN", at=NOW)
    assert store.undo_taught(taught_id, "UOTHER", at=NOW + MINUTE) is None
    assert store.undo_taught(taught_id + 1, "UADMIN") is None
    assert store.taught(include_undone=True) == [first]  # still undone by the first, at the first time


@pytest.mark.parametrize("upgraded", [False, True], ids=["new", "upgraded"])
def test_ids_are_never_reused_so_an_undo_cannot_hit_a_newer_phrasing(store_url: str, upgraded: bool) -> None:
    if upgraded:
        version_1_store(store_url)
    store = Store(store_url)
    first = store.add_taught("first", "licensing", None, "UADMIN")
    with store.engine.begin() as conn:  # removed by hand
        conn.execute(taught_phrasings.delete().where(taught_phrasings.c.id == first))
    assert store.add_taught("second", "licensing", None, "UADMIN") > first
    store.close()


# The version replicas poll

def test_the_version_changes_when_a_phrasing_is_taught_or_undone_and_not_otherwise(store: Store) -> None:
    empty = store.taught_version()
    assert store.taught_version() == empty
    first = store.add_taught("can i sell it", "licensing", None, "UADMIN")
    taught = store.taught_version()
    assert taught != empty
    store.add_questions([QuestionRecord(NOW, "dm", "none", text="unrelated")])
    store.add_vote(VoteRecord("C1:1.0", "h", "licensing", True, NOW))
    store.taught()
    assert store.taught_version() == taught
    store.add_taught("what's for lunch", None, None, "UADMIN")
    second = store.taught_version()
    assert second not in (empty, taught)
    store.undo_taught(first, "UADMIN")
    undone = store.taught_version()
    assert undone not in (empty, taught, second)
    assert store.undo_taught(first, "UADMIN") is None
    assert store.taught_version() == undone


def test_undoing_at_the_same_moment_as_an_earlier_undo_still_changes_the_version(store: Store) -> None:
    a = store.add_taught("a", "licensing", None, "UADMIN")
    b = store.add_taught("b", "licensing", None, "UADMIN")
    store.undo_taught(a, "UADMIN", at=NOW)
    before = store.taught_version()
    store.undo_taught(b, "UADMIN", at=NOW)  # a clock that did not move, or a replica's behind
    assert store.taught_version() != before


def test_another_store_on_the_same_database_sees_what_was_taught_and_undone(store: Store) -> None:
    replica = Store(store.url)
    seen = replica.taught_version()
    taught_id = store.add_taught("can i sell it", "licensing", None, "UADMIN")
    assert replica.taught_version() != seen
    assert [t.text for t in replica.taught()] == ["can i sell it"]
    seen = replica.taught_version()
    store.undo_taught(taught_id, "UADMIN")
    assert replica.taught_version() != seen and replica.taught() == []
    replica.close()


# Schema versions

def test_a_version_1_store_is_upgraded_keeping_its_questions_and_votes(store_url: str) -> None:
    version_1_store(store_url)
    upgraded = Store(store_url).open()
    assert upgraded.schema_version() == SCHEMA_VERSION
    assert [q.text for q in upgraded.questions_since(LONG_AGO)] == ["kept"]
    assert [v.reply for v in upgraded.votes_since(LONG_AGO)] == ["C1:1.0"]
    assert upgraded.taught() == []
    taught_id = upgraded.add_taught("can i sell it", "licensing", None, "UADMIN")
    assert [t.id for t in upgraded.taught()] == [taught_id]
    upgraded.close()


def test_the_upgraded_taught_table_is_the_one_a_new_store_gets(store_url: str) -> None:
    version_1_store(store_url)
    Store(store_url).open().close()
    engine = create_engine(database_url(store_url))

    def described() -> tuple[list[tuple[str, str, bool]], list[str], list[tuple[str, list[str | None]]]]:
        with engine.connect() as conn:
            found = inspect(conn)
            columns = [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(taught_phrasings.name)]
            key = found.get_pk_constraint(taught_phrasings.name)["constrained_columns"]
            indexes = sorted((i["name"] or "", i["column_names"]) for i in found.get_indexes(taught_phrasings.name))
        return columns, key, indexes

    upgraded = described()
    with engine.begin() as conn:
        taught_phrasings.drop(conn)
        metadata.create_all(conn, tables=[taught_phrasings])  # what a new store creates
    assert upgraded == described()
    engine.dispose()


# Reading only (the `report` command)

def test_a_read_only_store_reads_taught_phrasings_and_their_version(store: Store) -> None:
    store.add_taught("can i sell it", "licensing", None, "UADMIN", at=NOW)
    taught_id = store.add_taught("what's for lunch", None, None, "UADMIN", at=NOW + MINUTE)
    store.undo_taught(taught_id, "UADMIN", at=NOW + 2 * MINUTE)
    version = store.taught_version()
    written = store.taught(include_undone=True)
    store.close()
    reader = Store(store.url, read_only=True)
    assert reader.taught(include_undone=True) == written
    assert [t.text for t in reader.taught()] == ["can i sell it"]
    assert reader.taught_version() == version
    reader.close()


def test_a_version_1_store_read_only_has_nothing_taught_and_is_left_as_it_was(store_url: str) -> None:
    version_1_store(store_url)
    reader = Store(store_url, read_only=True)
    assert reader.taught() == [] and reader.taught(include_undone=True) == []
    assert reader.taught_version() == (0, None, 0)
    assert [q.text for q in reader.questions_since(LONG_AGO)] == ["kept"]
    report = report_from_store(reader, NOW - 7 * DAY, NOW)
    assert (report.questions, report.taught, report.answer_rate_before) == (1, 0, None)
    assert reader.schema_version() == 1
    reader.close()
    assert taught_phrasings.name not in table_names(store_url)


def test_a_read_only_store_with_no_schema_version_is_still_refused(store_url: str) -> None:
    version_1_store(store_url)
    engine = create_engine(database_url(store_url))
    with engine.begin() as conn:
        conn.execute(meta.delete())
    engine.dispose()
    with pytest.raises(StoreError, match="start the bot on it once"):
        Store(store_url, read_only=True).taught()


# The report

def test_report_counts_phrasings_taught_in_the_period_and_the_answer_rate_either_side(store: Store) -> None:
    first = NOW - 3 * DAY
    asked = [(NOW - 6 * DAY, "answer"), (NOW - 5 * DAY, "none"), (NOW - 4 * DAY, "suggest"),
             (NOW - 4 * DAY, "none"),  # before the first teaching: 1 of 4 answered
             (first, "answer"), (NOW - 2 * DAY, "answer"), (NOW - DAY, "none")]  # from it on: 2 of 3
    store.add_questions([QuestionRecord(at, "dm", outcome, text=f"q{n}")  # type: ignore[arg-type]
                         for n, (at, outcome) in enumerate(asked)])
    store.add_taught("before the period", "licensing", None, "UADMIN", at=NOW - 30 * DAY)
    undone = store.add_taught("undone, earlier", "licensing", None, "UADMIN", at=NOW - 5 * DAY)
    store.undo_taught(undone, "UADMIN", at=NOW - 5 * DAY + MINUTE)
    store.add_taught("the first", "licensing", None, "UADMIN", at=first)
    store.add_taught("the second", None, "licensing", "UADMIN", at=NOW - DAY)
    report = report_from_store(store, NOW - 7 * DAY, NOW)
    assert (report.taught, report.first_taught) == (2, first)
    assert (report.asked_before, report.answered_before, report.asked_after, report.answered_after) == (4, 1, 3, 2)
    assert (report.answer_rate_before, report.answer_rate_after) == (0.25, pytest.approx(2 / 3))


# The list and the YAML

def record(taught_id: int, text: str, entry_id: str | None = None, near: str | None = None,
           undone: bool = False) -> TaughtRecord:
    return TaughtRecord(taught_id, text, entry_id, near, "UADMIN", NOW + taught_id * MINUTE,
                        NOW + DAY if undone else None, "UOTHER" if undone else None)


def test_the_list_has_one_line_per_phrasing_saying_what_it_means_and_which_were_undone() -> None:
    text = taught_list_text([record(1, "can i sell it", "licensing"), record(2, "who coined llm", near="llm"),
                             record(3, "what's for lunch"), record(4, "taken\nback", "hardware", undone=True)])
    assert text.splitlines() == [
        '    1  2026-11-20 12:01  UADMIN  licensing: "can i sell it"',
        '    2  2026-11-20 12:02  UADMIN  not covered (near llm): "who coined llm"',
        '    3  2026-11-20 12:03  UADMIN  not covered: "what\'s for lunch"',
        '    4  2026-11-20 12:04  UADMIN  hardware: "taken back"  [undone 2026-11-21 12:00 by UOTHER]',
    ]
    assert taught_list_text([]) == "No taught phrasings.\n"


def test_the_list_shows_control_characters_rather_than_sending_them_to_the_terminal() -> None:
    text = taught_list_text([record(1, "red \x1b[31mtext\x1b[0m \x07", "licensing")])
    assert "\x1b" not in text and "\x07" not in text and "red ?[31mtext?[0m ?" in text


def test_the_list_shows_what_would_reverse_a_line_but_keeps_emoji_whole() -> None:
    text = taught_list_text([record(1, "see \u202eexe.txt and 👩\u200d💻", "licensing")])
    assert "\u202e" not in text and "see ?exe.txt and 👩\u200d💻" in text


TRICKY = ["key: value", 'she said "hi"', "it's", "# not a comment", "a # b", "- a dash first", "= equals",
          "=SUM(A1)", "yes", "null", "123", "  spaces  ", "two\nlines", "tab\there", "line\u2028separator",
          "next\x85line", "emoji 🦙", "@mention", "*star", "&anchor", "!tag", "%percent", "{braces}", "[brackets]",
          "|pipe", ">fold", "? question", "--- document", "...", "~", "'"]


def test_the_export_reads_back_exactly_as_taught_through_each_database(store: Store) -> None:
    for n, text in enumerate(TRICKY):
        entry, near = [("licensing", None), (None, "hardware"), (None, None)][n % 3]
        store.add_taught(text, entry, near, "UADMIN", at=NOW + n * MINUTE)
    exported = yaml.safe_load(taught_export_yaml(store.taught()))
    assert exported == {
        "entries": {"hardware": {"near_misses": TRICKY[1::3]}, "licensing": {"alternates": TRICKY[0::3]}},
        "out_of_scope": TRICKY[2::3],
    }


def test_the_export_is_per_entry_sorted_in_taught_order_without_undone_or_repeated_ones() -> None:
    exported = taught_export_yaml([
        record(1, "can i sell it", "licensing"), record(2, "who coined llm", near="what-is-an-llm"),
        record(3, "can i sell what i make", "licensing"), record(4, "what's for lunch"),
        record(5, "taken back", "hardware", undone=True), record(6, "can i sell it", "licensing"),
        record(7, "can it run on a phone", "hardware"), record(8, "a near miss", near="licensing"),
    ])
    assert exported.startswith("# ")
    header = [line for line in exported.splitlines() if line.startswith("#")]
    assert any("knowledge/faq" in line for line in header)
    assert any("knowledge/out_of_scope.yaml" in line and "unanswered" in line for line in header)
    body = exported[exported.index("entries:"):]
    assert body == (
        "entries:\n"
        "  hardware:\n"
        "    alternates:\n"
        "      - can it run on a phone\n"
        "  licensing:\n"
        "    alternates:\n"
        "      - can i sell it\n"
        "      - can i sell what i make\n"
        "    near_misses:\n"
        "      - a near miss\n"
        "  what-is-an-llm:\n"
        "    near_misses:\n"
        "      - who coined llm\n"
        "out_of_scope:\n"
        "  - what's for lunch\n"
    )


def test_the_export_of_nothing_is_still_valid_yaml() -> None:
    assert yaml.safe_load(taught_export_yaml([record(1, "taken back", "hardware", undone=True)])) == {
        "entries": {}, "out_of_scope": []}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1), min_size=1, max_size=4), st.text(min_size=1))
def test_the_export_reads_back_any_text_exactly(texts: list[str], entry_id: str) -> None:
    records = [record(n, text, entry_id) for n, text in enumerate(texts)]
    assert yaml.safe_load(taught_export_yaml(records)) == {
        "entries": {entry_id: {"alternates": list(dict.fromkeys(texts))}}, "out_of_scope": []}


def test_taught_rows_are_kept_as_given_including_the_admins_id(store: Store) -> None:
    store.add_taught("can i sell it", "licensing", None, "U0ADMIN42", at=NOW)
    engine = create_engine(database_url(store.url))
    with engine.connect() as conn:
        assert conn.execute(select(taught_phrasings.c.taught_by)).scalar_one() == "U0ADMIN42"
    engine.dispose()


# One phrasing per question (issue 25, item 7)

def test_the_same_question_cannot_be_taught_twice_until_it_is_undone(store: Store) -> None:
    first = store.add_taught("Can I sell it?", "licensing", None, "UADMIN", at=NOW)
    with pytest.raises(TaughtAlready, match=f"taught already, as a phrasing of entry 'licensing' \\(#{first}\\)") \
            as caught:
        store.add_taught("  can i   SELL it?", None, None, "UOTHER", at=NOW + MINUTE)  # other case and spaces
    assert caught.value.record.id == first
    store.undo_taught(first, "UADMIN", at=NOW + 2 * MINUTE)
    again = store.add_taught("can i sell it?", None, None, "UOTHER", at=NOW + 3 * MINUTE)
    assert [(t.id, t.entry_id) for t in store.taught()] == [(again, None)]


def test_two_replicas_teaching_one_question_two_meanings_at_once_store_one(store: Store) -> None:
    replicas = [Store(store.url), Store(store.url)]
    for replica in replicas:
        replica.open()
    try:
        for n in range(10):
            text = f"can i sell what i make with it, take {n}"
            outcomes = _at_the_same_moment([partial(replica.add_taught, text, meaning, None, "UADMIN")
                                            for replica, meaning in zip(replicas, ["licensing", None], strict=True)])
            assert sorted(type(o).__name__ for o in outcomes) == ["TaughtAlready", "int"], outcomes
            assert [t.text for t in store.taught()].count(text) == 1
    finally:
        for replica in replicas:
            replica.close()


def _at_the_same_moment(calls: list[Callable[[], object]]) -> list[object]:
    """What each of `calls` returned or raised, all started at once on threads of their own."""
    start = threading.Barrier(len(calls))
    outcomes: list[object] = []

    def call(work: Callable[[], object]) -> None:
        start.wait()
        try:
            outcomes.append(work())
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call, args=(work,)) for work in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def version_2_store(url: str, rows: list[tuple[str, str | None, bool]]) -> None:
    """A store as openllm-bot at schema version 2 left it, its taught phrasings `rows` (text, entry, undone) taught a
    minute apart, with no one-per-question rule."""
    version_1_store(url)
    engine = create_engine(database_url(url))
    at_version_2 = MetaData()
    table = Table("openllm_taught", at_version_2,
                  Column("id", Integer, primary_key=True, autoincrement=True), Column("text", Text, nullable=False),
                  Column("entry_id", String(128)), Column("near_entry", String(128)),
                  Column("taught_by", String(64), nullable=False), Column("taught_at", DateTime, nullable=False),
                  Column("undone_at", DateTime), Column("undone_by", String(64)), sqlite_autoincrement=True)
    with engine.begin() as conn:
        at_version_2.create_all(conn)
        conn.execute(meta.update().values(value="2"))
        for n, (text, entry_id, undone) in enumerate(rows):
            conn.execute(insert(table).values(text=text, entry_id=entry_id, taught_by="UADMIN",
                                              taught_at=NOW + n * MINUTE, undone_at=NOW + DAY if undone else None,
                                              undone_by="UADMIN" if undone else None))
    engine.dispose()


def test_a_version_2_store_taught_twice_keeps_every_row_and_the_first_of_each_question_stands(store_url: str) -> None:
    version_2_store(store_url, [("can i sell it", "licensing", False), ("who made llama", "llama", False),
                                ("Can I  sell it", None, False),  # the race: the same question, otherwise
                                ("who made llama", "llama", True), ("can i sell it", "licensing", False)])
    upgraded = Store(store_url).open()
    assert upgraded.schema_version() == SCHEMA_VERSION
    rows = upgraded.taught(include_undone=True)
    assert [(r.text, r.undone_by) for r in rows] == [
        ("can i sell it", None), ("who made llama", None), ("Can I  sell it", DUPLICATE_UNDONE_BY),
        ("who made llama", "UADMIN"), ("can i sell it", DUPLICATE_UNDONE_BY)]
    with pytest.raises(TaughtAlready):
        upgraded.add_taught("CAN I SELL IT", None, None, "UADMIN")
    upgraded.close()


def test_the_keys_are_made_again_when_knowledge_compares_phrasings_otherwise(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_taught("can i sell it?", "licensing", None, "UADMIN", at=NOW)
    store.add_taught("can i sell it!", None, None, "UADMIN", at=NOW + MINUTE)
    store.close()
    # A phrasing_key that also leaves out punctuation: the two are now one question, and the first stands.
    monkeypatch.setattr("bot.store.phrasing_key", lambda text: text.rstrip("?!").casefold())
    monkeypatch.setattr("bot.store.KEY_FINGERPRINT", "another")
    again = Store(store.url)
    assert [(t.text, t.undone_by) for t in again.taught(include_undone=True)] == [
        ("can i sell it?", None), ("can i sell it!", DUPLICATE_UNDONE_BY)]
    again.close()


def test_the_export_holds_only_what_the_bot_applies(store: Store) -> None:
    faq = load_knowledge(FIXTURE_FAQ)
    llama_question = faq.get("llama").question
    store.add_taught("can i sell what i make", "licensing", None, "UADMIN", at=NOW)
    store.add_taught(llama_question.upper(), "licensing", None, "UADMIN", at=NOW + MINUTE)  # the FAQ says otherwise
    store.add_taught("what's for lunch", None, None, "UADMIN", at=NOW + 2 * MINUTE)
    applied, skipped = applicable(store.taught(), faq)
    assert [r.text for r in applied] == ["can i sell what i make", "what's for lunch"]
    assert [(r.text, "already a phrasing of entry 'llama'" in why) for r, why in skipped] == [
        (llama_question.upper(), True)]
    assert yaml.safe_load(taught_export_yaml(applied)) == {
        "entries": {"licensing": {"alternates": ["can i sell what i make"]}}, "out_of_scope": ["what's for lunch"]}


def test_the_export_escapes_what_would_make_a_line_read_backwards() -> None:
    exported = taught_export_yaml([record(1, "see \u202eexe.txt", "licensing")])
    assert "\u202e" not in exported and "\\u202E" in exported
    assert yaml.safe_load(exported)["entries"]["licensing"]["alternates"] == ["see \u202eexe.txt"]
