"""`openllm-bot draft`: YAML drafts of FAQ entries for a person to complete (a question and the passages to cite, the
answer left empty), for a document's uncited paragraphs and for the questions the bot did not answer; once a person
writes the answers, the file loads as it is."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_paths import FIXTURE_FAQ, SEEDS
from test_new_document import FILE, bot, with_document

from bot.draft import clean_question, representative
from bot.store import QuestionRecord, Store, utcnow
from knowledge import load_knowledge
from knowledge.content.documents import IndexedText
from knowledge.content.drafts import Ids, document_drafts, drafts_yaml, yaml_text
from knowledge.content.headings import as_question, opening_question, question_near
from knowledge.content.loader import MAX_QUOTE_CHARS
from knowledge.content.written import NewEntry
from knowledge.result import Status

LONG_NOTE = " ".join(f"Note {n} of the long section says that running a quantized model well takes some care with "
                     "memory and with the settings chosen." for n in range(1, 13))
DOCUMENT = f"""Running Open Models on Small Machines

How Much Memory Does a Quantized Model Need?

Quantization stores each weight of a model in fewer bits, so that a seven billion parameter model fits in about \
four gigabytes of memory instead of fourteen.

The quality lost to four-bit quantization is small for most chat tasks, though long reasoning suffers more than \
short answers.

Does Quantization Slow a Model Down?

On a laptop without a graphics card, a quantized model answers faster than the full one, because less memory has \
to be read for each word it writes.

Choosing a Format

Community tools publish the same open model in several quantized formats, and the right one depends on the \
hardware that will run it.

Questions from readers

  1. Which format suits a laptop? A laptop without a graphics card runs the smallest quantized files best, at some \
cost in quality.

A Longer Note

{LONG_NOTE}
"""


def entries(text: str) -> list[dict[str, Any]]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict) and set(loaded) == {"entries"}
    return list(loaded["entries"])


def completed(text: str, drafts: list[dict[str, Any]]) -> str:
    """The drafts as a person completes them: each answer written, and each question the document did not ask."""
    for n, draft in enumerate(drafts, start=1):
        draft["answer"] = f"Written by a person, from the passages ({n})."
        draft["question"] = draft["question"] or f"What else does the guide on small machines say ({n})?"
    return yaml.safe_dump({"entries": drafts}, sort_keys=False, allow_unicode=True)


# ---- The questions a document asks itself

def test_a_heading_is_a_question_when_it_asks_one() -> None:
    assert as_question("What Exactly Are Open Source LLMs?") == "What Exactly Are Open Source LLMs?"
    assert as_question("## How to Choose a Model") == "How to Choose a Model?"
    assert as_question("**Why open?**") == "Why open?"
    assert as_question("Governance: A Mixed Bag") is None
    assert as_question("5 min read") is None


def test_a_faq_list_item_opens_with_its_question_and_prose_does_not() -> None:
    assert opening_question("  5. What are the future trends? Future trends may include advancements.") == (
        "What are the future trends?", "Future trends may include advancements.")
    assert opening_question("So, where does this leave us? The ongoing evolution of open LLMs goes on.") is None


def test_the_question_near_a_paragraph_is_its_own_or_its_section_heading() -> None:
    documents = load_knowledge(seeds_dir=SEEDS).documents
    listed = question_near(documents["002_c64a73bc05cacdc4.txt"], 44)
    assert listed is not None and listed.line == 44
    assert listed.question == "What are the future trends expected in the development of open source LLMs?"
    assert listed.rest is not None and listed.rest.startswith("Future trends may include advancements")
    under = question_near(documents["001_ef82fbb3a280ee8f.txt"], 3)
    assert under is not None and (under.question, under.line) == ("What Exactly Are Open Source LLMs?", 2)
    assert question_near(documents["003_672eb0fce39da1cc.txt"], 11) is None  # "The Road Ahead" asks nothing


# ---- Drafts for a document's uncited paragraphs

def test_drafts_for_a_document_take_its_questions_and_quote_what_no_entry_cites(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    out = bot(faq, seeds, "draft", "document", FILE)
    assert out.returncode == 0, out.stderr
    drafts = entries(out.stdout)
    questions = [(d["question"], [" ".join(s["quote"].split()[:4]) for s in d["sources"]]) for d in drafts]
    assert questions == [
        # Its heading is the question of the entry citing the paragraph before it: left for a person.
        ("", ["The quality lost to"]),
        ("Does Quantization Slow a Model Down?", ["On a laptop without"]),
        ("", ["Community tools publish the"]),
        ("Which format suits a laptop?", ["A laptop without a"]),  # the answer after the list item's question
        ("", ["Note 1 of the", "Note 8 of the"]),  # at most MAX_QUOTE_CHARS a quote, cut between sentences
    ]
    assert "already the question of entry 'quantized-memory'" in out.stdout
    assert "the document asks no question near this paragraph (its section: 'Choosing a Format')" in out.stdout
    assert all(d["answer"] == "" for d in drafts)  # never an answer
    document = IndexedText.of(DOCUMENT)
    for draft in drafts:
        for source in draft["sources"]:
            assert source["doc"] == FILE and document.locate(source["quote"]) is not None
            assert len(source["quote"]) <= MAX_QUOTE_CHARS
    ids = [d["id"] for d in drafts]
    shipped = {e.id for e in load_knowledge(faq, seeds).entries}
    assert len(set(ids)) == len(ids) and not shipped & set(ids)


def test_paragraphs_under_one_question_are_one_draft(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT, entry="")  # no entry cites the document
    first = document_drafts(load_knowledge(faq, seeds), FILE)[0]
    assert first.question == "How Much Memory Does a Quantized Model Need?"
    assert [s.line_start for s in first.sources] == [5, 7] and first.notes == (f"from {FILE} lines 5, 7",)


def test_a_paragraph_opening_with_a_question_says_so_beside_the_question_left_to_write() -> None:
    drafts = document_drafts(load_knowledge(FIXTURE_FAQ, SEEDS), "003_672eb0fce39da1cc.txt")
    [ahead] = [d for d in drafts if d.sources[0].line_start == 11]
    assert ahead.question == "" and ahead.id == "road-ahead"
    assert ahead.notes[1:] == ("the document asks no question near this paragraph (its section: 'The Road Ahead')",
                               "it opens with 'So, where does this leave us?', which may say what it answers")


def test_a_paragraph_an_entry_written_in_slack_cites_is_not_drafted(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    quote = "the right one depends on the hardware that will run it"
    store.add_written(NewEntry("which-quantized-format", "challenges", "Which quantized format should I use?",
                               "The one that suits the hardware it runs on.", ((FILE, quote),)), "UADMIN")
    store.close()
    out = bot(faq, seeds, "draft", "document", FILE, env={"STORE_PATH": str(tmp_path / "store.sqlite3")})
    assert out.returncode == 0, out.stderr
    drafts = entries(out.stdout)
    assert len(drafts) == 4 and "Community tools publish" not in out.stdout
    assert "which-quantized-format" not in [d["id"] for d in drafts]


def test_drafts_load_unchanged_once_a_person_writes_the_answers(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    text = bot(faq, seeds, "draft", "document", FILE).stdout
    (faq / "drafted.yaml").write_text(text, encoding="utf-8")
    refused = bot(faq, seeds, "validate")
    assert refused.returncode == 1
    assert "drafted.yaml" in refused.stderr and "'answer' must not be empty" in refused.stderr

    drafts = entries(text)
    (faq / "drafted.yaml").write_text(completed(text, drafts), encoding="utf-8")
    loaded = bot(faq, seeds, "validate")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith(f"ok: {33 + len(drafts)} entries")
    # Nothing of the document is left uncited.
    assert f"{FILE}  Running Open Models on Small Machines" in (covered := bot(faq, seeds, "coverage").stdout)
    assert "  6 of 6 paragraphs cited (100%)" in covered.split(FILE)[1]


def test_a_document_is_named_by_its_file_its_stem_its_path_or_its_title(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    by_file = bot(faq, seeds, "draft", "document", FILE).stdout
    for name in (FILE.removesuffix(".txt"), str(seeds / FILE), "running open models on small machines"):
        out = bot(faq, seeds, "draft", "document", name)
        assert out.returncode == 0, out.stderr
        assert out.stdout == by_file
    cited = bot(faq, seeds, "draft", "document", "000_16cf9e8ad3637486.txt")  # every paragraph is cited
    assert cited.returncode == 0 and cited.stdout == ""
    assert cited.stderr.strip() == "openllm-bot: every paragraph of 000_16cf9e8ad3637486.txt is cited: nothing to draft"


def one_line(out: Any) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return str(lines[0])


def test_an_unknown_or_unlisted_document_is_one_line(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    assert "unknown document 'nope.txt'" in one_line(bot(faq, seeds, "draft", "document", "nope.txt"))
    (seeds / "005_new.txt").write_text("A document whose row is not written yet.\n", encoding="utf-8")
    said = one_line(bot(faq, seeds, "draft", "document", "005_new.txt"))
    assert "005_new.txt is in" in said and "not listed in its sources.yaml" in said


def test_out_writes_the_file_and_never_overwrites_one_without_force(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    target = tmp_path / "drafts.yaml"
    written = bot(faq, seeds, "draft", "document", FILE, "--out", str(target))
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and written.stderr.strip() == f"wrote {target}: 5 drafts"
    assert len(entries(target.read_text(encoding="utf-8"))) == 5

    target.write_text("# my half-completed drafts\n", encoding="utf-8")
    said = one_line(bot(faq, seeds, "draft", "document", FILE, "--out", str(target)))
    assert said == f"openllm-bot: --out {target}: the file exists; add --force to overwrite it"
    assert target.read_text(encoding="utf-8") == "# my half-completed drafts\n"
    forced = bot(faq, seeds, "draft", "document", FILE, "--out", str(target), "--force")
    assert forced.returncode == 0 and len(entries(target.read_text(encoding="utf-8"))) == 5


@pytest.mark.parametrize(("out", "says"), [
    ("missing/drafts.yaml", "does not exist"),
    (".", "is a folder"),
    ("/sys/drafts.yaml", "cannot be written"),  # /sys: not writable even by root
])
def test_an_out_that_cannot_be_written_is_one_line(tmp_path: Path, out: str, says: str) -> None:
    faq, seeds = with_document(tmp_path, DOCUMENT)
    target = str(tmp_path / out) if not out.startswith("/") else out
    assert says in one_line(bot(faq, seeds, "draft", "document", FILE, "--out", target))


# ---- Drafts for the questions the bot did not answer

def test_a_question_is_cleaned_of_slack_markup_and_user_ids() -> None:
    asked = "<@U0BOT1234> hey can I use <https://x.example/llama|llama> at *work*?? :thinking_face: cc U0ABCDEF12"
    assert clean_question(asked) == "can I use llama at work?? cc"
    assert clean_question("Hi all, what is an llm") == "what is an llm"  # a greeting is said to people
    assert clean_question("Hey there bot how are llms trained?") == "how are llms trained?"
    assert clean_question("heyday of open models?") == "heyday of open models?"
    assert clean_question("&lt;!channel&gt; what is\u202e an llm") == "what is an llm"


def test_the_representative_wording_is_the_one_most_like_the_others() -> None:
    # Three people asking alike outweigh one wording asked twice; of those alike, the one that reads as a question.
    wordings = ["which gpu do i need to run llama 2 locally on my laptop", "gpu that runs llama",
                "which gpu runs llama", "what gpu runs llama"]
    asked = Counter({wordings[0]: 2, wordings[1]: 1, wordings[2]: 1, wordings[3]: 1})
    assert representative(wordings, asked) == "what gpu runs llama"
    assert representative(wordings[:2], asked) == wordings[0]


def record(text: str, hours: float, outcome: Status = "none") -> QuestionRecord:
    return QuestionRecord(asked_at=utcnow() - timedelta(hours=hours), surface="mention", outcome=outcome, text=text,
                          entry_id="hardware" if outcome == "suggest" else None)


def store_with_questions(path: Path) -> Path:
    store = Store(f"sqlite:///{path}")
    store.add_questions([
        # As stored: the bot's own mention taken out, other people's left in.
        record("how much memory does a 4-bit quantized 7b model need?", 1),
        record("hey <@U0ABCDEF12> how much *memory* does a 4-bit quantized 7b model need", 2),
        record("how much memory does a 4-bit quantized model need, cc U0ABCDEF12", 3, "suggest"),
        record("can i run falcon on a raspberry pi", 4),
        record("can i run falcon on a raspberry pi", 5),
        record("define llm please", 6),  # the FAQ answers it now
        record("what is the weather in berlin", 7),
        record("what is an llm", 8, "answer"),
        record("how much memory does a quantized 7b model need", 24 * 9),  # before the week
    ])
    store.add_taught("can i run falcon on a raspberry pi", None, None, "UADMIN")
    store.close()
    return path


def test_drafts_for_the_week_s_unanswered_questions(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    store = store_with_questions(tmp_path / "store.sqlite3")
    out = bot(faq, seeds, "draft", "unanswered", env={"STORE_PATH": str(store)})
    assert out.returncode == 0, out.stderr
    assert "<@" not in out.stdout and "U0ABCDEF12" not in out.stdout
    drafts = entries(out.stdout)
    assert [d["question"] for d in drafts] == ["how much memory does a 4-bit quantized 7b model need?",
                                               "what is the weather in berlin"]
    memory, weather = drafts
    assert memory["alternates"] == ["how much memory does a 4-bit quantized model need, cc"]
    assert memory["answer"] == "" and weather["answer"] == ""
    assert memory["sources"][0] == {"doc": FILE, "quote": "Quantization stores each weight of a model in fewer bits, "
                                    "so that a seven billion parameter model fits in about four gigabytes of memory "
                                    "instead of fourteen."}
    assert weather["sources"] == []  # nothing in the documents is close to it
    assert "no passage of the documents is close to it" in out.stdout
    assert "asked 3 times (1 offered an entry, 2 declined); the entry offered most: hardware" in out.stdout
    left_out = out.stderr.strip().splitlines()
    assert left_out == ["openllm-bot: left out 'can i run falcon on a raspberry pi': an admin taught what it means "
                        "since",
                        "openllm-bot: left out 'define llm please': the bot answers it now, with entry "
                        "'what-is-an-llm'"]

    # Completed (the draft without passages deleted, as its comment says), it loads as it is.
    (faq / "drafted.yaml").write_text(completed(out.stdout, [memory]), encoding="utf-8")
    loaded = bot(faq, seeds, "validate")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("ok: 34 entries")


def test_since_and_limit_choose_the_groups(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    store = store_with_questions(tmp_path / "store.sqlite3")
    out = bot(faq, seeds, "draft", "unanswered", "--since", "30d", "--limit", "1", env={"STORE_PATH": str(store)})
    assert out.returncode == 0, out.stderr
    (only,) = entries(out.stdout)
    assert only["question"] == "how much memory does a 4-bit quantized 7b model need?"
    assert "how much memory does a quantized 7b model need" in only["alternates"]  # asked 9 days ago
    assert "1 draft, for the most asked of the 4 groups" in out.stdout.replace("\n# ", " ")


def test_a_question_an_admin_wrote_an_entry_for_in_slack_is_not_drafted_again(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    path = store_with_questions(tmp_path / "store.sqlite3")
    store = Store(f"sqlite:///{path}")
    quote = "a seven billion parameter model fits in about four gigabytes of memory"
    store.add_written(NewEntry("memory-of-quantized-models", "challenges", "How much memory does a 4-bit model need?",
                               "About four gigabytes for seven billion parameters.", ((FILE, quote),),
                               alternates=("how much memory does a 4-bit quantized 7b model need",)), "UADMIN")
    store.close()
    out = bot(faq, seeds, "draft", "unanswered", env={"STORE_PATH": str(path)})
    assert out.returncode == 0, out.stderr
    assert [d["question"] for d in entries(out.stdout)] == ["what is the weather in berlin"]
    assert ("openllm-bot: left out 'how much memory does a 4-bit quantized 7b model need?': the bot answers it now, "
            "with entry 'memory-of-quantized-models'") in out.stderr.splitlines()


def test_a_store_of_several_workspaces_is_drafted_one_workspace_at_a_time(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    store.add_questions([replace(record("how much memory does a quantized 7b model need", 1), team="T0AAA"),
                         replace(record("which quantized format should i pick for my laptop", 2), team="T0BBB")])
    store.close()
    env = {"STORE_PATH": str(tmp_path / "store.sqlite3")}
    said = one_line(bot(faq, seeds, "draft", "unanswered", env=env))
    assert "holds 2 workspaces (T0AAA, T0BBB): name one with --team" in said
    out = bot(faq, seeds, "draft", "unanswered", "--team", "T0BBB", env=env)
    assert out.returncode == 0, out.stderr
    assert [d["question"] for d in entries(out.stdout)] == ["which quantized format should i pick for my laptop"]


def test_without_a_store_drafting_unanswered_questions_is_one_line(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    said = one_line(bot(faq, seeds, "draft", "unanswered", env={"STORE_PATH": str(tmp_path / "typo.sqlite3")}))
    assert "there is no store at" in said
    off = one_line(bot(faq, seeds, "draft", "unanswered", env={"STORE_ENABLED": "false"}))
    assert off == "openllm-bot: STORE_ENABLED=false: there is no store to draft from"


# ---- The YAML

@pytest.mark.parametrize("text", ['say "hi" \\ there', "a\u202eb\u2066c", "line\u2028break\x85and\ttab",
                                  "emoji 🦙 and é", "yes", "null", "- a: b #c", "\ufeffbom"])
def test_a_text_reads_back_as_written(text: str) -> None:
    assert yaml.safe_load(f"key: {yaml_text(text)}") == {"key": text}
    assert "\n" not in yaml_text(text) and "\u202e" not in yaml_text(text)


def test_ids_are_new_kebab_case_and_numbered_when_taken() -> None:
    ids = Ids({"what-is-rlhf"})
    assert ids.new("What is RLHF?") == "what-rlhf"
    assert ids.new("What is RLHF!") == "what-rlhf-2"
    assert ids.new("", "Pourquoi ça?") == "pourquoi-ca"
    assert ids.new("¿?") == "draft"
    assert drafts_yaml([]).rstrip().endswith("entries: []")
