"""Entries and answers written from Slack, outside Slack: checked by the loader exactly as an entry of knowledge/faq/
is (and the loader's own new rules: length limits, a question no other entry has), written as an FAQ file's YAML that
reads back exactly, applied in order with what the FAQ refuses skipped, answered by the bot; the documents' passages
closest to a question; the store's table of them."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from repo_paths import FIXTURE_FAQ, ROOT, SEEDS

from bot.console import Console
from bot.entry_views import Draft, unknown_wordings
from bot.recorder import Recorder
from bot.store import EntryTaken, InvalidRecord, Store, utcnow
from knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.content.documents import IndexedText
from knowledge.content.loader import MAX_ANSWER_CHARS, check_entries
from knowledge.content.written import (
    NewAnswer,
    NewEntry,
    WrittenRefused,
    entry_fields,
    faq_yaml,
    id_from,
    into_faq_file,
    with_written,
)
from knowledge.decision.embedding import Embedder

HUGGING_FACE = ("001_ef82fbb3a280ee8f.txt", "- Hugging Face: While not a model developer in the same vein as Meta or "
                "Mistral, Hugging Face is an indispensable hub for the open source AI community.")
QUESTION = "What is Hugging Face?"
ENTRY = NewEntry(id_from(QUESTION), "small", QUESTION, "A hub where open models, datasets and tools are shared.",
                 (HUGGING_FACE,))


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ)


def refusals(kb: KnowledgeBase, entry: NewEntry | NewAnswer) -> list[tuple[str, str]]:
    with pytest.raises(WrittenRefused) as info:
        kb.check_written(entry)
    return [(r.field, r.reason) for r in info.value.refusals]


def test_an_entry_written_from_slack_is_read_back_as_the_loader_reads_an_faq_entry(kb: KnowledgeBase) -> None:
    entry = kb.check_written(ENTRY)
    assert (entry.id, entry.question, entry.answer) == ("what-is-hugging-face", QUESTION, ENTRY.answer)
    assert entry.file == kb.knowledge["llama"].file  # the theme's file: tests/fixtures/faq/small.yaml
    [source] = entry.sources
    assert (source.doc, source.line_start, source.line_end) == (HUGGING_FACE[0], 23, 23)


@pytest.mark.parametrize("change, field, reason", [
    ({"sources": ((HUGGING_FACE[0], "Hugging Face is a hub for every model there is"),)}, "sources",
     "quote not found verbatim in 001_ef82fbb3a280ee8f.txt: it follows the document up to 'Hugging Face is a"),
    ({"sources": (("nowhere.txt", HUGGING_FACE[1]),)}, "sources",
     "source doc 'nowhere.txt' is not in seeds/sources.yaml"),
    ({"sources": ((HUGGING_FACE[0], "Hugging Face:"),)}, "sources", "is shorter than 4 words: cite a passage"),
    ({"sources": ()}, "sources", "'sources' must be a non-empty list of {doc, quote}"),
    ({"id": "llama"}, "id", "duplicate id 'llama' (first at "),
    ({"id": "Hugging Face"}, "id", "id 'Hugging Face' is not kebab-case"),
    ({"answer": "x" * 40_000}, "answer", f"'answer' is 40,000 characters long: at most {MAX_ANSWER_CHARS:,}"),
    ({"answer": "ask <!here> about it"}, "answer", "'answer' holds a Slack mention '<!here>'"),
    ({"question": "<@U123> what is it"}, "question", "'question' holds a Slack mention '<@U123>'"),
    ({"question": "who made llama"}, "question", "question 'who made llama' is also an alternate of entry 'llama'"),
    ({"alternates": ("licence terms for open models",)}, "alternates",
     "alternate 'licence terms for open models' is shared with entry 'licensing'"),
    ({"tags": ("llama",)}, "tags", "tag 'llama' is shared with entry 'llama'"),
    ({"theme": "../../etc/passwd"}, "theme", "theme '../../etc/passwd' is not the name of an FAQ file"),
])
def test_what_the_faq_refuses_is_refused_with_the_reason_and_the_field(kb: KnowledgeBase, change: dict[str, object],
                                                                        field: str, reason: str) -> None:
    found = refusals(kb, NewEntry(**{**vars(ENTRY), **change}))  # type: ignore[arg-type]
    assert [f for f, _ in found] == [field] and reason in found[0][1], found


def test_a_new_answer_is_checked_as_its_whole_entry_is(kb: KnowledgeBase) -> None:
    assert kb.check_written(NewAnswer("llama", "Meta's models: *LLaMA*, then Llama 2 and 3.")).sources == \
        kb.knowledge["llama"].sources
    assert refusals(kb, NewAnswer("llama", " ")) == [("answer", "'answer' must not be empty")]
    assert refusals(kb, NewAnswer("llama", "<!channel> read this")) == [
        ("answer", "'answer' holds a Slack mention '<!channel>': the bot would ping people with it")]
    assert refusals(kb, NewAnswer("gone", "An answer.")) == [("entry", "entry 'gone' is not in the FAQ (any more)")]


def test_the_loader_holds_faq_files_to_the_same_limits_and_one_question_per_entry(tmp_path: Path,
                                                                                   fixture_faq_text: str) -> None:
    faq = tmp_path / "faq"
    faq.mkdir()
    long = fixture_faq_text.replace("Attention lets a neural network", "Attention " + "very " * 600 + "lets")
    (faq / "small.yaml").write_text(long.replace("question: What is the attention mechanism?",
                                                 "question: who made llama"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(faq, SEEDS)
    reasons = [p.reason for p in info.value.problems]
    assert "question 'who made llama' is also an alternate of entry 'llama'" in reasons
    assert any(r.startswith("'answer' is 3,") and r.endswith(f"at most {MAX_ANSWER_CHARS:,}") for r in reasons)
    assert load_knowledge(FIXTURE_FAQ, SEEDS) and load_knowledge()  # the fixture's and the shipped FAQ hold them


def test_an_faq_file_written_for_entries_reads_back_exactly_what_was_written(kb: KnowledgeBase) -> None:
    tricky = NewEntry("tricky-texts", "small", "yes", "Line one: *bold*\n\n• a \"quoted\" item\n• 'another' # not a "
                      "comment\n  indented\u202e reversed", (HUGGING_FACE,), ("null", "1.0", "- dash", "a: b"), ("#x",))
    text = faq_yaml([entry_fields(tricky)], ["a comment"])
    assert text.startswith("# a comment\nentries:\n  - id: tricky-texts\n")
    assert "\u202e" not in text and "\\u202E" in text  # shown escaped, read back as the character
    [entry] = check_entries(kb.knowledge, text, "small.yaml")
    assert (entry.question, entry.answer, entry.alternates, entry.tags) == (
        tricky.question, tricky.answer, tricky.alternates, tricky.tags)
    assert yaml.safe_load(text)["entries"][0]["sources"] == [{"doc": HUGGING_FACE[0], "quote": HUGGING_FACE[1]}]


def test_an_id_is_made_from_the_question() -> None:
    assert id_from("What is RLHF, and why does it matter?") == "what-is-rlhf-and-why-does-it-matter"
    assert id_from("Qu'est-ce qu'un LLM ?") == "qu-est-ce-qu-un-llm"
    assert id_from("¿¡…!?") == ""
    assert len(id_from("word " * 100)) <= 64


def test_written_entries_and_answers_apply_in_order_and_those_refused_are_skipped_with_why(kb: KnowledgeBase) -> None:
    taken = NewEntry(**{**vars(ENTRY), "question": "What is the Hugging Face hub?"})  # type: ignore[arg-type]
    result = with_written(kb.faq, [ENTRY, NewAnswer(ENTRY.id, "Its new answer."), taken,
                                   NewAnswer("attention", "Weighing what matters.")])
    assert [e.id for e in result.knowledge.entries] == ["licensing", "llama", "attention", ENTRY.id]
    assert result.knowledge[ENTRY.id].answer == "Its new answer."
    assert result.knowledge["attention"].answer == "Weighing what matters."
    [skipped] = result.skipped
    assert skipped.written == taken and "duplicate id 'what-is-hugging-face'" in skipped.reason
    assert skipped.reason.endswith("small.yaml (written in Slack))")  # not a line of the file: it is not there yet
    assert with_written(kb.faq, []).knowledge is kb.faq


def test_the_bot_answers_a_written_entry_and_its_new_answers_with_the_citation(kb: KnowledgeBase) -> None:
    written = kb.with_taught((), [ENTRY, NewAnswer("llama", "LLaMA: Meta's models, in our words.")])
    for question in (QUESTION, "tell me about huggingface"):
        result = written.ask(question)
        assert (result.status, result.id) == ("answer", ENTRY.id), question
    [link] = written.links(written.knowledge[ENTRY.id])
    assert link.url and link.url.startswith("https://futuretechblog.space/open-source-large-language-model#:~:text=")
    assert written.knowledge["llama"].answer == "LLaMA: Meta's models, in our words."
    assert written.ask("tell me about llama 3").id == "llama"
    # Phrasings taught later keep what was written; an empty list of written ones takes them back.
    assert written.with_taught(()).written == written.written
    assert written.with_taught((), []).ask(QUESTION).id != ENTRY.id


def test_the_entry_written_for_a_question_answers_it_even_where_an_older_entry_is_close() -> None:
    shipped = KnowledgeBase.load()
    question = "What hardware do I need to run an open model on my laptop?"
    assert shipped.ask(question).id == "resource-requirements"
    cited = shipped.closest_passages(question)[0].passage
    entry = NewEntry(id_from(question), "challenges", question, "A recent GPU, or patience.",
                     ((cited.doc, cited.text),))
    assert shipped.with_taught((), [entry]).ask(question).id == entry.id


def test_the_passages_closest_to_a_question_are_verbatim_sentences_of_the_documents(kb: KnowledgeBase) -> None:
    near = kb.closest_passages(QUESTION)
    assert len(near) == 5 and near[0].passage.text == HUGGING_FACE[1]
    assert [n.similarity for n in near] == sorted((n.similarity for n in near), reverse=True)
    for n in near:
        document = kb.knowledge.documents[n.passage.doc]
        assert IndexedText.of(document.text).locate(n.passage.text) == (n.passage.line, n.passage.line)
        assert len(n.passage.text.split()) >= 4
        assert kb.passages.by_key(n.passage.key) == n.passage
    assert kb.closest_passages("   ") == [] and kb.passages.by_key("not-a-key") is None
    # Computed once: the knowledge base the next teaching makes shares them.
    assert kb.with_taught(()).passages is kb.passages


def test_the_passages_embeddings_are_kept_in_the_embedding_cache(tmp_path: Path) -> None:
    kb = KnowledgeBase.load(FIXTURE_FAQ, embedding_cache=tmp_path)
    kb.closest_passages(QUESTION)
    fresh = Embedder(cache_dir=tmp_path)  # another process, later
    assert fresh._disk is not None and len(fresh._disk) >= len(kb.passages.passages)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    yield store
    store.close()


def test_the_store_keeps_what_was_written_one_live_entry_per_id_per_workspace(store: Store) -> None:
    before = store.written_version()
    first = store.add_written(ENTRY, "UADMIN")
    answer = store.add_written(NewAnswer("llama", "Another answer."), "UADMIN")
    assert [(r.id, r.item) for r in store.written()] == [(first, ENTRY),
                                                         (answer, NewAnswer("llama", "Another answer."))]
    with pytest.raises(EntryTaken, match=f"an entry 'what-is-hugging-face' was written a moment ago \\(#{first}\\)"):
        store.add_written(ENTRY, "UOTHER")
    other_team = store.add_written(ENTRY, "UOTHER", team_id="T2")
    assert store.written_version() != before
    undone = store.undo_written(first, "UOTHER")
    assert undone is not None and undone.undone and undone.undone_by == "UOTHER"
    assert store.undo_written(first, "UOTHER") is None and store.undo_written(2**40, "U") is None
    again = store.add_written(ENTRY, "UADMIN")  # once undone, the id is free again
    assert [r.id for r in store.written()] == [answer, other_team, again]
    assert len(store.written(include_undone=True)) == 4
    with pytest.raises(InvalidRecord):
        store.add_written(NewAnswer("llama", "nul \x00 here"), "UADMIN")


# `openllm-bot taught list` and `export`: the entries and answers written from Slack, listed, exported as FAQ files'
# YAML, and written into a knowledge folder.

def openllm_bot(store: Path, faq: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "EMBEDDING_CACHE_DIR": "", "PYTHONDONTWRITEBYTECODE": "1",
           "STORE_PATH": str(store)}
    return subprocess.run([sys.executable, "-m", "bot", "--faq", str(faq), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path]:
    """A store holding what admins wrote from Slack about the fixture FAQ, and a copy of the FAQ."""
    faq = tmp_path / "knowledge" / "faq"
    shutil.copytree(FIXTURE_FAQ, faq)
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}")
    now = utcnow()
    store.add_written(ENTRY, "UADMIN", at=now - timedelta(hours=3))
    store.add_written(NewAnswer("llama", "LLaMA, in our words:\n\n• Meta's models"), "UADMIN",
                      at=now - timedelta(hours=2))
    undone = store.add_written(NewAnswer("attention", "Taken back."), "UOTHER", at=now - timedelta(hours=1))
    store.undo_written(undone, "UADMIN")
    store.add_taught("who runs the hugging face hub", ENTRY.id, None, "UADMIN", at=now)  # a phrasing of the new entry
    store.close()
    return path, faq


def test_taught_list_shows_what_was_written_and_export_prints_faq_files_to_add_to(written: tuple[Path, Path]) -> None:
    store, faq = written
    listed = openllm_bot(store, faq, "taught", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].endswith('UADMIN  what-is-hugging-face: "who runs the hugging face hub"')
    assert lines[1] == "Entries and answers written from Slack:"
    assert lines[2].endswith('UADMIN  new entry what-is-hugging-face (small.yaml): "What is Hugging Face?"')
    assert lines[3].endswith('UADMIN  new answer of llama: "LLaMA, in our words: • Meta\'s models"')
    assert 'new answer of attention: "Taken back."  [undone ' in lines[4] and lines[4].endswith("by UADMIN]")

    exported = openllm_bot(store, faq, "taught", "export")
    assert exported.returncode == 0 and exported.stderr == "", exported.stderr
    phrasings, small = yaml.safe_load_all(exported.stdout)
    assert phrasings["entries"] == {ENTRY.id: {"alternates": ["who runs the hugging face hub"]}}
    assert [e["id"] for e in small["entries"]] == [ENTRY.id, "llama"]
    # The new entry goes into knowledge/faq/small.yaml as it is: added to the end of its list, the FAQ validates.
    document = exported.stdout.split("\n---\n")[1]
    assert document.startswith("# Written from Slack, for ") and "1 new entry and 1 answer" in document
    listed_entries = document.split("entries:\n", 1)[1].split("  - id: llama\n")[0]
    (faq / "small.yaml").write_text((faq / "small.yaml").read_text() + listed_entries)
    valid = openllm_bot(store, faq, "validate")
    assert valid.returncode == 0 and valid.stdout.startswith("ok: 4 entries"), valid.stderr


def test_taught_export_into_a_knowledge_folder_writes_the_entries_which_the_bot_then_answers(
        written: tuple[Path, Path]) -> None:
    store, faq = written
    before = (faq / "small.yaml").read_text()
    out = openllm_bot(store, faq, "taught", "export", "--into", str(faq.parent))
    assert out.returncode == 0, out.stderr
    assert out.stderr == f"openllm-bot: wrote 1 new entry and 1 answer into {faq / 'small.yaml'}\n"
    after = (faq / "small.yaml").read_text()
    assert after.startswith(before.split("    answer: >-\n      LLaMA is Meta's")[0])  # the rest kept as it was
    assert "LLaMA is Meta's family" not in after and after.endswith("    related: []\n")
    valid = openllm_bot(store, faq, "validate")
    assert valid.returncode == 0 and valid.stdout.startswith("ok: 4 entries"), valid.stderr
    kb = KnowledgeBase.load(faq, SEEDS)
    assert kb.ask(QUESTION).id == ENTRY.id and kb.entry("llama").answer == "LLaMA, in our words:\n\n• Meta's models"
    # Now in the FAQ itself: exported again, nothing is left out, or written twice.
    again = openllm_bot(store, faq, "taught", "export")
    assert again.returncode == 0 and again.stderr == "" and "---" not in again.stdout


def test_taught_export_into_writes_nothing_when_the_faq_would_not_be_valid(written: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    store, faq = written
    other = tmp_path / "other"
    shutil.copytree(FIXTURE_FAQ, other)
    taken = (other / "small.yaml").read_text().replace("id: attention", f"id: {ENTRY.id}")
    (other / "small.yaml").write_text(taken)
    out = openllm_bot(store, faq, "taught", "export", "--into", str(other))
    assert out.returncode == 1 and out.stderr.startswith("openllm-bot: nothing written: with what was written from "
                                                         f"Slack, {other / 'small.yaml'} is invalid (")
    assert f"duplicate id '{ENTRY.id}'" in out.stderr and (other / "small.yaml").read_text() == taken
    wrong = openllm_bot(store, faq, "taught", "list", "--into", str(other))
    assert (wrong.returncode, wrong.stderr) == (2, f"openllm-bot: --into {other}: only `taught export` writes into "
                                                   "the FAQ\n")


def test_written_entries_go_into_a_faq_file_at_its_own_indentation_keeping_the_rest(kb: KnowledgeBase) -> None:
    entry = kb.check_written(NewEntry(**{**vars(ENTRY), "answer": "One.\n\n• two"}))  # type: ignore[arg-type]
    text = "# A comment\nentries:\n- id: llama\n  question: x\n  answer: >-\n    old\n    answer\n  tags: []  # kept\n"
    merged = into_faq_file(text, [entry], {"llama": "New:\n\nanswer"})
    assert merged.startswith("# A comment\nentries:\n- id: llama\n  question: x\n  answer: |-\n    New:\n\n    answer\n"
                             "  tags: []  # kept\n- id: what-is-hugging-face\n")
    data = yaml.safe_load(merged)
    assert [e["answer"] for e in data["entries"]] == ["New:\n\nanswer", "One.\n\n• two"]
    assert into_faq_file("# only comments\n", [entry], {}).startswith("# only comments\nentries:\n  - id: ")


async def test_the_console_writes_an_entry_through_the_same_form(kb: KnowledgeBase, tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(kb, out, Recorder(Store(f"sqlite:///{tmp_path / 'console.sqlite3'}"), b"console-key-0123"))
    await console.start()

    async def typed(line: str) -> str:
        start = len(out.getvalue())
        await console.handle(line)
        return out.getvalue()[start:]

    try:
        await typed(QUESTION)
        home = await typed("/home")
        new_entry = re.findall(r"\[(\d+)\] New entry", home)[0]  # beside the question
        form = await typed(f"/click {new_entry}")
        assert "[Form: New FAQ entry]" in form and f"*1.* {HUGGING_FACE[1]}" in form
        await typed(f"/set question {QUESTION}")
        await typed(f"/set answer {ENTRY.answer}")
        await typed("/set theme small")
        refused = await typed("/submit")
        assert "Not saved:\n  passages: 'sources' must be a non-empty list of {doc, quote}" in refused
        assert "Cite (optional) [/cite N]: 1" in await typed("/cite 1")
        done = await typed("/submit")
        assert "Written: new entry *What is Hugging Face?* (`what-is-hugging-face`, in small.yaml)" in done
        answer = await typed("tell me about huggingface")
        assert ENTRY.answer in answer and "futuretechblog.space/open-source-large-language-model#:~:text=" in answer
    finally:
        await console.close()


def test_a_form_is_filled_in_only_with_wordings_no_entry_has(kb: KnowledgeBase) -> None:
    draft = Draft.from_value(json.dumps({"question": QUESTION, "answer": "  An answer. ", "alternates": [
        "Who Made  LLaMA", "what is hugging face?", "what's hugging face for", 5]}))
    assert (draft.question, draft.answer) == (QUESTION, "An answer.")
    assert unknown_wordings(kb, draft).alternates == ("what's hugging face for",)
    assert Draft.from_value("not json") == Draft() == Draft.from_value('["a list"]')
