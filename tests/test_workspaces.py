"""Every question, vote and taught phrasing carries the workspace it belongs to (issue 24, part 1), on SQLite and on
a real PostgreSQL server: a store of the previous schema (version 3) is upgraded keeping its rows as the one
workspace's, each installation reads and changes only its own rows, and an older store is read as it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

import pytest
from repo_paths import FIXTURE_FAQ
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
)
from test_taught_logging import read_back

from bot import workspaces
from bot.cli import main
from bot.reload import Reloader, follow_taught
from bot.report import report_from_store
from bot.state import KnowledgeHolder
from bot.store import (
    KEY_FINGERPRINT,
    SCHEMA_VERSION,
    QuestionRecord,
    Store,
    TaughtAlready,
    TaughtRecord,
    VoteRecord,
    database_url,
    taught_key,
)
from bot.workspaces import SINGLE, Workspace
from knowledge import KnowledgeBase

NOW = datetime(2026, 11, 20, 12, 0)
DAY = timedelta(days=1)
LONG_AGO = datetime(2000, 1, 1)

# The tables as openllm-bot at schema version 3 left them (frozen here: the bot's own definitions have moved on).
VERSION_3 = MetaData()
V3_META = Table("openllm_meta", VERSION_3, Column("key", String(64), primary_key=True),
                Column("value", String(255), nullable=False))
V3_QUESTIONS = Table(
    "openllm_questions", VERSION_3,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asked_at", DateTime, nullable=False, index=True),
    Column("surface", String(16), nullable=False), Column("team", String(32)), Column("channel", String(32)),
    Column("user_hash", String(64)), Column("outcome", String(16), nullable=False),
    Column("entry_id", String(128)), Column("score", Float), Column("text", Text))
V3_VOTES = Table(
    "openllm_votes", VERSION_3,
    Column("reply", String(128), primary_key=True), Column("user_hash", String(64), primary_key=True),
    Column("entry_id", String(128), nullable=False), Column("helpful", Boolean, nullable=False),
    Column("voted_at", DateTime, nullable=False, index=True))
V3_TAUGHT = Table(
    "openllm_taught", VERSION_3,
    Column("id", Integer, primary_key=True, autoincrement=True), Column("text", Text, nullable=False),
    Column("entry_id", String(128)), Column("near_entry", String(128)),
    Column("taught_by", String(64), nullable=False), Column("taught_at", DateTime, nullable=False, index=True),
    Column("undone_at", DateTime), Column("undone_by", String(64)), Column("text_key", String(64)),
    sqlite_autoincrement=True)
Index("openllm_taught_one_per_question", V3_TAUGHT.c.text_key, unique=True,
      sqlite_where=V3_TAUGHT.c.undone_at.is_(None), postgresql_where=V3_TAUGHT.c.undone_at.is_(None))


def version_3_store(url: str) -> None:
    """A store a single-token install of openllm-bot at schema version 3 left: a question (with the workspace its
    event named), a vote and a taught phrasing (neither with one)."""
    engine = create_engine(database_url(url))
    with engine.begin() as conn:
        VERSION_3.create_all(conn)
        conn.execute(insert(V3_META), [{"key": "schema_version", "value": "3"},
                                       {"key": "taught_key", "value": KEY_FINGERPRINT}])
        conn.execute(insert(V3_QUESTIONS).values(asked_at=NOW - DAY, surface="dm", team="T0SINGLE", outcome="none",
                                                 text="can i sell it"))
        conn.execute(insert(V3_VOTES).values(reply="C1:1.0", user_hash="h", entry_id="licensing", helpful=True,
                                             voted_at=NOW - DAY))
        conn.execute(insert(V3_TAUGHT).values(text="can i sell it", entry_id="licensing", taught_by="UADMIN",
                                              taught_at=NOW - DAY, text_key=taught_key("can i sell it")))
    engine.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url).open()
    yield store
    store.close()


def two_workspaces(store: Store) -> None:
    """A question, a vote and a taught phrasing in each of two workspaces, T0AAA and T0BBB (the latter in the org
    E0ORG), and one taught for the org-wide installation of E0ORG."""
    for team, enterprise in (("T0AAA", None), ("T0BBB", "E0ORG")):
        store.add_questions([QuestionRecord(NOW, "mention", "none", team=team, text=f"asked in {team}",
                                            enterprise_id=enterprise)])
        store.add_vote(VoteRecord(f"C{team}:1.0", "h", "licensing", True, NOW, team_id=team, enterprise_id=enterprise))
        store.add_taught(f"taught in {team}", "licensing", None, "UADMIN", at=NOW, team_id=team,
                         enterprise_id=enterprise)
    store.add_taught("taught for the whole org", "licensing", None, "UADMIN", at=NOW, enterprise_id="E0ORG")


# The upgrade

def test_a_version_3_store_is_upgraded_keeping_its_rows_as_the_one_workspaces(store_url: str) -> None:
    version_3_store(store_url)
    store = Store(store_url).open()
    assert store.schema_version() == SCHEMA_VERSION
    [question] = store.questions_since(LONG_AGO)
    assert (question.team, question.enterprise_id, question.text) == ("T0SINGLE", None, "can i sell it")
    [vote] = store.votes_since(LONG_AGO)
    assert (vote.reply, vote.team_id, vote.enterprise_id) == ("C1:1.0", None, None)
    [taught] = store.taught()
    assert (taught.text, taught.team_id, taught.enterprise_id, taught.workspace) == ("can i sell it", None, None, None)
    # Still one per question for the one workspace, and a workspace of an OAuth install may teach the same words.
    with pytest.raises(TaughtAlready):
        store.add_taught("Can I SELL it", "licensing", None, "UADMIN")
    assert store.add_taught("Can I SELL it", None, None, "UADMIN", team_id="T0AAA") > taught.id
    store.close()


def test_the_upgraded_tables_are_the_ones_a_new_store_gets(store_url: str) -> None:
    version_3_store(store_url)
    Store(store_url).open().close()
    engine = create_engine(database_url(store_url))

    def described() -> dict[str, object]:
        with engine.connect() as conn:
            found = inspect(conn)
            tables: dict[str, object] = {
                name: ([(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(name)],
                       sorted((i["name"] or "", str(i.get("expressions") or i["column_names"]), i["unique"])
                              for i in found.get_indexes(name)))
                for name in ("openllm_questions", "openllm_votes", "openllm_taught")}
            if engine.dialect.name == "sqlite":  # SQLAlchemy does not reflect its indexes on expressions
                tables["indexes"] = sorted(conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
                    "('openllm_questions', 'openllm_votes', 'openllm_taught')").all())
            return tables

    upgraded = described()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE openllm_questions")
        conn.exec_driver_sql("DROP TABLE openllm_votes")
        conn.exec_driver_sql("DROP TABLE openllm_taught")
        conn.exec_driver_sql("DELETE FROM openllm_meta")
    Store(store_url).open().close()  # creates them as a new store does
    assert described() == upgraded
    engine.dispose()


def test_a_version_3_store_read_only_is_read_as_the_one_workspace_and_left_as_it_was(store_url: str) -> None:
    version_3_store(store_url)
    reader = Store(store_url, read_only=True)
    [question] = reader.questions_since(LONG_AGO)
    assert (question.team, question.enterprise_id) == ("T0SINGLE", None)
    assert [(v.team_id, v.enterprise_id) for v in reader.votes_since(LONG_AGO)] == [(None, None)]
    assert [(t.text, t.workspace) for t in reader.taught()] == [("can i sell it", None)]
    assert reader.workspaces() == [("T0SINGLE", None)]
    assert reader.taught(team="T0OTHER") == [] and reader.questions_since(LONG_AGO, team="T0OTHER") == []
    assert reader.schema_version() == 3
    reader.close()
    engine = create_engine(database_url(store_url))
    with engine.connect() as conn:
        assert "team_id" not in {c["name"] for c in inspect(conn).get_columns("openllm_votes")}
    engine.dispose()


# Each installation's own rows

def test_each_workspace_reads_only_its_own_questions_votes_and_taught_phrasings(store: Store) -> None:
    two_workspaces(store)
    assert [q.text for q in store.questions_since(LONG_AGO, team="T0AAA")] == ["asked in T0AAA"]
    assert [v.reply for v in store.votes_since(LONG_AGO, team="T0AAA")] == ["CT0AAA:1.0"]
    assert [t.text for t in store.taught(team="T0AAA")] == ["taught in T0AAA"]
    # The org-wide installation reads the whole org: its workspaces' questions and votes, what it was taught.
    assert [q.text for q in store.questions_since(LONG_AGO, team="E0ORG")] == ["asked in T0BBB"]
    assert [v.reply for v in store.votes_since(LONG_AGO, team="E0ORG")] == ["CT0BBB:1.0"]
    assert [t.text for t in store.taught(team="E0ORG")] == ["taught for the whole org"]
    assert len(store.questions_since(LONG_AGO)) == 2 and len(store.taught()) == 3  # without one: every row
    report = report_from_store(store, NOW - DAY, NOW + DAY, team="T0AAA")
    assert (report.questions, report.helpful, report.taught) == (1, 1, 1)
    assert [g.text for g in report.unanswered] == ["asked in T0AAA"]


def test_a_workspace_can_neither_undo_another_workspaces_phrasing_nor_see_it_taught(store: Store) -> None:
    two_workspaces(store)
    [theirs] = store.taught(team="T0BBB")
    assert store.undo_taught(theirs.id, "UADMIN_A", team="T0AAA") is None
    assert store.undo_taught(theirs.id, "UADMIN_A", team="E0ORG") is None  # the org's own, not its workspaces'
    assert store.taught(team="T0BBB") == [theirs]
    # Two workspaces teach the same words each their own way; the same words again in one are refused, naming its
    # own phrasing only.
    mine = store.add_taught("taught in T0BBB", None, None, "UADMIN_A", team_id="T0AAA")
    with pytest.raises(TaughtAlready) as refused:
        store.add_taught("TAUGHT in  t0bbb", "hardware", None, "UADMIN_A", team_id="T0AAA")
    assert refused.value.record.id == mine and refused.value.record.team_id == "T0AAA"
    undone = store.undo_taught(mine, "UADMIN_A", team="T0AAA")
    assert undone is not None and undone.undone_by == "UADMIN_A"


def test_the_store_lists_the_workspaces_its_rows_name(store: Store) -> None:
    assert store.workspaces() == []
    store.add_questions([QuestionRecord(NOW, "dm", "none", text="no workspace")])
    assert store.workspaces() == []
    two_workspaces(store)
    assert store.workspaces() == [("T0AAA", None), (None, "E0ORG"), ("T0BBB", "E0ORG")]



# The reading commands: `--team`

def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str
        ) -> tuple[int, str, str]:
    """`openllm-bot ARGS` on the store at `url`: its exit code, standard output and standard error."""
    monkeypatch.setenv("DOTENV_PATH", "/nonexistent/.env")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("STORE_HASH_KEY", "a-test-key-of-16-or-more")
    code = main(["--faq", str(FIXTURE_FAQ), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_store_of_several_workspaces_is_read_one_workspace_at_a_time(
        store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    two_workspaces(store)
    for command in (["report", "--since", "3650d"], ["taught", "list"], ["taught", "export"]):
        code, _, err = run(monkeypatch, capsys, store.url, *command)
        assert code == 2 and err.count("\n") == 1, err
        assert "holds 3 workspaces (T0AAA, T0BBB (org E0ORG), E0ORG (org-wide)): name one with --team" in err
    code, out, _ = run(monkeypatch, capsys, store.url, "report", "--since", "3650d", "--team", "T0AAA")
    assert code == 0 and "asked in T0AAA" in out and "asked in T0BBB" not in out
    code, out, _ = run(monkeypatch, capsys, store.url, "taught", "list", "--team", "E0ORG")
    assert code == 0 and "taught for the whole org" in out and "taught in" not in out
    code, out, _ = run(monkeypatch, capsys, store.url, "taught", "export", "--team", "T0BBB")
    assert code == 0 and "taught in T0BBB" in out and "T0AAA" not in out and "whole org" not in out
    code, _, err = run(monkeypatch, capsys, store.url, "taught", "list", "--team", "T0NOPE")
    assert code == 2 and err.startswith("openllm-bot: --team T0NOPE: the store holds nothing of that workspace")


def test_a_store_of_one_workspace_needs_no_team_and_keeps_its_rows_from_before(
        store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    version_3_store(store_url)
    Store(store_url).open().close()  # upgraded, as the bot does when it starts
    for team in ((), ("--team", "T0SINGLE")):
        code, out, err = run(monkeypatch, capsys, store_url, "taught", "list", *team)
        assert code == 0 and '"can i sell it"' in out, err
        code, out, err = run(monkeypatch, capsys, store_url, "report", "--since", "3650d", *team)
        assert code == 0 and "can i sell it" in out and "taught" in out, err


# What each installation answers from

def taught_record(n: int, text: str, entry: str, team: str | None = None, enterprise: str | None = None,
                  undone: bool = False) -> TaughtRecord:
    return TaughtRecord(n, text, entry, None, "UADMIN", NOW + n * timedelta(minutes=1),
                        NOW + DAY if undone else None, "UADMIN" if undone else None, team, enterprise)


async def test_each_installation_that_taught_phrasings_answers_from_a_knowledge_base_of_its_own() -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    holder.per_workspace = True
    base = holder.base
    records = [taught_record(1, "who owns the llama weights", "llama", "T0AAA"),
               taught_record(2, "who owns the llama weights", "licensing", None, "E0ORG"),  # the org-wide install's
               taught_record(3, "can i sell it", "licensing")]  # a single-token install's, from before
    assert await follow_taught(holder, lambda: read_back(records))
    assert set(holder.by_workspace) == {"T0AAA", "E0ORG"} and holder.base is base  # the others share the FAQ
    assert set(holder.taught) == {"T0AAA", "E0ORG"}  # a single-token install's phrasings: no workspace's
    for key, entry in (("T0AAA", "llama"), ("E0ORG", "licensing"), ("T0BBB", None), (None, None)):
        with_workspace(Workspace(key, None, False, single=False) if key != "E0ORG"
                       else Workspace("T0ONE", "E0ORG", True, single=False))
        answered = holder.current.ask("who owns the llama weights")
        assert (answered.id if answered.status == "answer" else None) == entry, key
    with_workspace(SINGLE)
    # Another phrasing in one workspace trains that one again, and leaves the other as it was.
    org = holder.by_workspace["E0ORG"]
    records.append(taught_record(4, "is llama free to use", "licensing", "T0AAA"))
    assert await follow_taught(holder, lambda: read_back(records))
    assert holder.by_workspace["E0ORG"] is org and len(holder.by_workspace["T0AAA"].taught) == 2
    # All of one workspace's undone: it answers from the FAQ every workspace shares again.
    records = [replace(r, undone_at=NOW + DAY) if r.team_id == "T0AAA" else r for r in records]
    assert await follow_taught(holder, lambda: read_back(records))
    assert set(holder.by_workspace) == {"E0ORG"}
    assert not await follow_taught(holder, lambda: read_back(records))  # nothing changed


async def test_with_one_bot_token_every_phrasing_is_the_one_workspaces_whatever_it_names() -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    records = [taught_record(1, "who owns the llama weights", "llama", "T0AAA"),
               taught_record(2, "can i sell it", "licensing")]
    assert await follow_taught(holder, lambda: read_back(records))
    assert holder.by_workspace == {} and len(holder.base.taught) == 2 and holder.current is holder.base


async def test_a_faq_reload_builds_each_installations_knowledge_base_again() -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    holder.per_workspace = True
    await follow_taught(holder, lambda: read_back([taught_record(1, "who owns the llama weights", "llama", "T0AAA")]))
    before = holder.knowledge_bases()
    reloader = Reloader(holder, partial(KnowledgeBase.load, FIXTURE_FAQ))
    assert await reloader.reload("a test")
    after = holder.knowledge_bases()
    assert set(after) == {None, "T0AAA"} and all(after[key] is not before[key] for key in after)
    assert not after[None].taught and [t.entry_id for t in after["T0AAA"].taught] == ["llama"]


def with_workspace(workspace: Workspace) -> None:
    """As if a request from `workspace` were being handled (what bot/workspaces.py's middleware sets)."""
    workspaces._current.set(workspace)
