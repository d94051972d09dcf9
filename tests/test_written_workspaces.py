"""Entries and answers written from Slack are their workspace's, as taught phrasings are (issue 24 meets issue 22), on
SQLite and on a real PostgreSQL server: the store reads and undoes one installation's alone, each installation that
wrote some answers from a knowledge base of its own (a single-token install's rows are the one workspace's with a bot
token, and no workspace's with OAuth), a reload keeps them, and `taught list`/`taught export` read them `--team` by
`--team` as they read taught phrasings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

import pytest
from repo_paths import FIXTURE_FAQ
from test_taught_logging import read_back
from test_workspaces import run

from bot import workspaces
from bot.reload import Reloader, follow_taught, follow_written
from bot.state import KnowledgeHolder
from bot.store import Store, TaughtRecord, WrittenRecord
from bot.workspaces import SINGLE, Workspace
from knowledge import KnowledgeBase
from knowledge.content.written import NewAnswer, NewEntry

NOW = datetime(2026, 11, 20, 12, 0)
HUGGING_FACE = ("001_ef82fbb3a280ee8f.txt", "- Hugging Face: While not a model developer in the same vein as Meta or "
                "Mistral, Hugging Face is an indispensable hub for the open source AI community.")
QUESTION = "What is Hugging Face?"
ENTRY = NewEntry("what-is-hugging-face", "small", QUESTION, "A hub where open models are shared.", (HUGGING_FACE,))
LLAMA_OF = {"T0AAA": "Llama, as A says it.", "T0BBB": "Llama, as B says it.", None: "Llama, as the one workspace says."}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url).open()
    yield store
    store.close()


def write_in_two_workspaces(store: Store) -> dict[str, int]:
    """The new entry written in T0AAA and for the org-wide installation of E0ORG, an answer of llama in each of T0AAA,
    T0BBB (of the org E0ORG) and a single-token install (no workspace): their ids, by who wrote them."""
    return {"A": store.add_written(ENTRY, "UADMINA", "T0AAA", at=NOW),
            "org": store.add_written(ENTRY, "UADMINO", None, "E0ORG", at=NOW),
            "A llama": store.add_written(NewAnswer("llama", LLAMA_OF["T0AAA"]), "UADMINA", "T0AAA", at=NOW),
            "B llama": store.add_written(NewAnswer("llama", LLAMA_OF["T0BBB"]), "UADMINB", "T0BBB", "E0ORG", at=NOW),
            "single": store.add_written(NewAnswer("llama", LLAMA_OF[None]), "UADMIN", at=NOW)}


# The store

def test_each_installation_reads_and_undoes_its_own_written_entries_alone(store: Store) -> None:
    ids = write_in_two_workspaces(store)
    assert [r.id for r in store.written(team="T0AAA")] == [ids["A"], ids["A llama"]]
    assert [r.id for r in store.written(team="T0BBB")] == [ids["B llama"]]
    assert [r.id for r in store.written(team="E0ORG")] == [ids["org"]]  # the org-wide install's, not its workspaces'
    assert len(store.written()) == 5  # every row: a single-token install's one workspace, or the whole store
    assert store.workspaces() == [("T0AAA", None), (None, "E0ORG"), ("T0BBB", "E0ORG")]
    assert store.undo_written(ids["A"], "UADMINB", team="T0BBB") is None  # another workspace's: no such entry
    assert store.undo_written(ids["A"], "UADMINB", team="E0ORG") is None
    assert not any(r.undone for r in store.written(include_undone=True))
    undone = store.undo_written(ids["A"], "UADMINA", team="T0AAA")
    assert undone is not None and undone.undone_by == "UADMINA"
    assert [r.id for r in store.written(team="T0AAA")] == [ids["A llama"]]
    assert [r.id for r in store.written(team="T0AAA", include_undone=True)] == [ids["A"], ids["A llama"]]


# What each installation answers from

def written_record(n: int, item: NewEntry | NewAnswer, team: str | None = None, enterprise: str | None = None,
                   undone: bool = False) -> WrittenRecord:
    """The row the store holds for `item`, written `n` minutes after NOW for the installation named."""
    if isinstance(item, NewEntry):
        details = json.dumps({"sources": [list(source) for source in item.sources]})
        kind, entry_id, theme, question = "entry", item.id, item.theme, item.question
    else:
        kind, entry_id, theme, question, details = "answer", item.entry_id, None, None, None
    return WrittenRecord(n, kind, entry_id, theme, question, item.answer, details, "UADMIN",
                         NOW + n * timedelta(minutes=1), NOW + timedelta(days=1) if undone else None,
                         "UADMIN" if undone else None, team, enterprise)


def answered(holder: KnowledgeHolder, workspace: Workspace, question: str) -> str | None:
    """What `holder` answers `question` with, asked in `workspace`: the entry's answer, or None."""
    workspaces._current.set(workspace)
    try:
        kb = holder.current
        result = kb.ask(question)
        entry = kb.entry(result.id) if result.status == "answer" and result.id else None
        return entry.answer if entry is not None else None
    finally:
        workspaces._current.set(SINGLE)


def in_workspace(team: str | None, enterprise: str | None = None, org_wide: bool = False) -> Workspace:
    return Workspace(team, enterprise, org_wide, single=False)


async def test_each_installation_that_wrote_entries_answers_from_a_knowledge_base_of_its_own() -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    holder.per_workspace = True
    base = holder.base
    records = [written_record(1, ENTRY, "T0AAA"), written_record(2, NewAnswer("llama", LLAMA_OF["T0AAA"]), "T0AAA"),
               written_record(3, NewAnswer("llama", LLAMA_OF["T0BBB"]), "T0BBB", "E0ORG"),
               written_record(4, NewAnswer("llama", LLAMA_OF[None]))]  # a single-token install's, from before
    assert await follow_written(holder, lambda: read_back(records))
    assert set(holder.by_workspace) == {"T0AAA", "T0BBB"} and holder.base is base and not base.written
    assert set(holder.written) == {"T0AAA", "T0BBB"}  # a single-token install's: no workspace's
    a, b, other = in_workspace("T0AAA"), in_workspace("T0BBB", "E0ORG"), in_workspace("T0CCC")
    assert answered(holder, a, QUESTION) == ENTRY.answer
    assert answered(holder, b, QUESTION) is None and answered(holder, other, QUESTION) is None
    assert [answered(holder, w, "tell me about llama 3") for w in (a, b)] == [LLAMA_OF["T0AAA"], LLAMA_OF["T0BBB"]]
    assert answered(holder, other, "tell me about llama 3") == base.entry("llama").answer  # type: ignore[union-attr]
    # A phrasing taught in A keeps what A wrote, and leaves B as it was.
    of_b = holder.by_workspace["T0BBB"]
    taught = [TaughtRecord(1, "who owns the llama weights", "licensing", None, "UADMIN", NOW, team_id="T0AAA")]
    assert await follow_taught(holder, lambda: read_back(taught))
    assert holder.by_workspace["T0BBB"] is of_b and answered(holder, a, QUESTION) == ENTRY.answer
    # Another answer written in B trains B's again alone; all of B's undone, B answers from the shared FAQ again,
    # while A, which still has its phrasing and entries, keeps its own.
    of_a = holder.by_workspace["T0AAA"]
    records = [*records[:2], written_record(3, NewAnswer("llama", LLAMA_OF["T0BBB"]), "T0BBB", "E0ORG", undone=True)]
    assert await follow_written(holder, lambda: read_back(records))
    assert set(holder.by_workspace) == {"T0AAA"} and holder.by_workspace["T0AAA"] is of_a
    assert not await follow_written(holder, lambda: read_back(records))  # nothing changed
    # A reload builds each installation's again, with what it wrote and taught.
    assert await Reloader(holder, partial(KnowledgeBase.load, FIXTURE_FAQ)).reload("a test")
    assert set(holder.by_workspace) == {"T0AAA"} and not holder.base.written and not holder.base.taught
    assert answered(holder, a, QUESTION) == ENTRY.answer and len(holder.by_workspace["T0AAA"].taught) == 1
    assert answered(holder, a, "who owns the llama weights") is not None


async def test_with_one_bot_token_everything_written_is_the_one_workspaces_whatever_it_names() -> None:
    holder = KnowledgeHolder(KnowledgeBase.load(FIXTURE_FAQ))
    records = [written_record(1, ENTRY, "T0AAA"), written_record(2, NewAnswer("llama", LLAMA_OF[None]))]
    assert await follow_written(holder, lambda: read_back(records))
    assert holder.by_workspace == {} and len(holder.base.written) == 2 and holder.current is holder.base
    assert answered(holder, SINGLE, QUESTION) == ENTRY.answer


# The reading commands: `--team`

def test_taught_list_and_export_read_one_workspaces_written_entries_at_a_time(
        store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write_in_two_workspaces(store)
    for action in ("list", "export"):
        code, _, err = run(monkeypatch, capsys, store.url, "taught", action)
        assert code == 2 and err.count("\n") == 1, err
        assert "holds 3 workspaces (T0AAA, T0BBB (org E0ORG), E0ORG (org-wide)): name one with --team" in err
    code, out, err = run(monkeypatch, capsys, store.url, "taught", "list", "--team", "T0AAA")
    assert code == 0 and "new entry what-is-hugging-face" in out and LLAMA_OF["T0AAA"] in out, err
    assert LLAMA_OF["T0BBB"] not in out and LLAMA_OF[None] not in out and "UADMINO" not in out
    code, out, err = run(monkeypatch, capsys, store.url, "taught", "list", "--team", "T0BBB")
    assert code == 0 and LLAMA_OF["T0BBB"] in out and "what-is-hugging-face" not in out, err
    code, out, err = run(monkeypatch, capsys, store.url, "taught", "export", "--team", "T0BBB")
    assert code == 0 and LLAMA_OF["T0BBB"] in out and "what-is-hugging-face" not in out, err
    assert LLAMA_OF["T0AAA"] not in out and "left out" not in err
    code, out, err = run(monkeypatch, capsys, store.url, "taught", "export", "--team", "E0ORG")
    assert code == 0 and "id: what-is-hugging-face" in out and "Llama, as" not in out, err


def test_a_store_of_one_workspace_lists_and_exports_everything_written_without_team(
        store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store.add_written(NewAnswer("llama", LLAMA_OF[None]), "UADMIN", at=NOW)  # a single-token install's
    store.add_written(ENTRY, "UADMIN", "T0SINGLE", at=NOW)  # and named, once it was
    code, out, err = run(monkeypatch, capsys, store.url, "taught", "list")
    assert code == 0 and LLAMA_OF[None] in out and "what-is-hugging-face" in out, err
    code, out, err = run(monkeypatch, capsys, store.url, "taught", "export")
    assert code == 0 and LLAMA_OF[None] in out and "id: what-is-hugging-face" in out, err
