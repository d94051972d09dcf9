"""A maintainer adds a fifth document (a text file under seeds/ and its row in sources.yaml): the FAQ can cite it,
`validate` and `coverage` include it, whatever editor or converter wrote it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from repo_paths import FIXTURE_FAQ, ROOT, SEEDS

from bot.config import FaqSettings
from bot.reload import Reloader
from bot.state import KnowledgeHolder
from knowledge import load_knowledge, source_link
from knowledge.content.coverage import coverage, document_lines
from knowledge.content.passages import document_passages

SHIPPED_FAQ = ROOT / "knowledge" / "faq"
FILE = "004_small_machines.txt"
ROW = f"""  - file: {FILE}
    title: Running Open Models on Small Machines
    author: null
    publisher: null
    url: https://example.org/small-machines
"""
DOCUMENT = """Running Open Models on Small Machines

How Much Memory Does a Quantized Model Need?

Quantization stores each weight of a model in fewer bits, so that a seven billion parameter model fits in about \
four gigabytes of memory instead of fourteen.

The quality lost to four-bit quantization is small for most chat tasks, though long reasoning suffers more than \
short answers.

Choosing a Format

Community tools publish the same open model in several quantized formats, and the right one depends on the \
hardware that will run it.
"""
ENTRY = """
  - id: quantized-memory
    question: How much memory does a quantized model need?
    alternates:
      - memory for a 4 bit model
    tags: [memory needs]
    answer: >-
      Stored in four bits a weight, a seven billion parameter model fits in about four gigabytes.
    sources:
      - doc: 004_small_machines.txt
        quote: "a seven billion parameter model fits in about four gigabytes of memory instead of fourteen"
    related: []
"""


def with_document(tmp_path: Path, text: str = DOCUMENT, entry: str = ENTRY) -> tuple[Path, Path]:
    """A copy of the shipped FAQ and of seeds/, with the document added as a maintainer adds one (and, in the
    FAQ's challenges file, an entry citing it); the FAQ folder and the seeds folder."""
    seeds, faq = tmp_path / "seeds", tmp_path / "faq"
    shutil.copytree(SEEDS, seeds)
    shutil.copytree(SHIPPED_FAQ, faq)
    (seeds / FILE).write_text(text, encoding="utf-8", newline="")
    with (seeds / "sources.yaml").open("a", encoding="utf-8") as sources:
        sources.write(ROW)
    with (faq / "challenges.yaml").open("a", encoding="utf-8") as challenges:
        challenges.write(entry)
    return faq, seeds


def bot(faq: Path, seeds: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`openllm-bot ARGS` with KNOWLEDGE_DIR and SEEDS_DIR naming the copies, as a maintainer's .env would (and no
    store but one `env` names)."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("SLACK_", "MATCH_", "DATABASE_URL", "STORE_"))}
    environment |= {"DOTENV_PATH": "/dev/null", "KNOWLEDGE_DIR": str(faq), "SEEDS_DIR": str(seeds), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=environment)


def test_validate_checks_quotes_of_the_added_document(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    out = bot(faq, seeds, "validate")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok: 33 entries, 77 quotes verified in 5 documents")

    spoiled = ENTRY.replace("four gigabytes of memory", "four gigabytes of RAM")
    faq, seeds = with_document(tmp_path / "spoiled", entry=spoiled)
    out = bot(faq, seeds, "validate")
    assert out.returncode == 1
    assert f"quote not found verbatim in {FILE}" in out.stderr
    assert "Traceback" not in out.stderr


def test_coverage_lists_the_added_document_and_what_the_faq_cites_of_it(tmp_path: Path) -> None:
    faq, seeds = with_document(tmp_path)
    out = bot(faq, seeds, "coverage")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    at = lines.index(f"{FILE}  Running Open Models on Small Machines")
    assert lines[at + 1] == "  1 of 3 paragraphs cited (33%)"
    assert lines[at + 2].startswith("    not cited  line 7: The quality lost to four-bit quantization")
    assert lines[at + 3].startswith("    not cited  line 11: Community tools publish")
    assert lines[-1].startswith("all documents: 49 of 62 paragraphs cited")


def test_a_page_break_in_a_converted_document_does_not_shift_which_paragraph_is_cited(tmp_path: Path) -> None:
    # pdftotext ends each page with a form feed; the loader counts lines at newlines only, as a #L link does.
    text = DOCUMENT.replace("\n\nHow Much Memory", "\x0c\n\nHow Much Memory")
    faq, seeds = with_document(tmp_path, text)
    report = {d.file: d for d in coverage(load_knowledge(faq, seeds))}[FILE]
    assert [(p.line, p.cited_by) for p in report.paragraphs] == [(5, ("quantized-memory",)), (7, ()), (11, ())]


def test_a_document_saved_with_a_byte_order_mark_reads_as_without_one(tmp_path: Path) -> None:
    # Windows editors save UTF-8 with a byte-order mark: the title is still the title, not an uncited paragraph.
    title = "What You Need to Know Before Running Open Language Models on Small Machines"
    text = "\ufeff" + DOCUMENT.replace("Running Open Models on Small Machines", title, 1)
    faq, seeds = with_document(tmp_path, text)
    (seeds / "sources.yaml").write_text((seeds / "sources.yaml").read_text(encoding="utf-8").replace(
        "title: Running Open Models on Small Machines", f"title: {title}"), encoding="utf-8")
    knowledge = load_knowledge(faq, seeds)
    assert knowledge.documents[FILE].text.startswith("What You Need")
    report = {d.file: d for d in coverage(knowledge)}[FILE]
    assert [p.line for p in report.paragraphs] == [5, 7, 11]


async def test_a_running_bot_offers_the_added_document_s_passages_once_it_notices_it(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    faq = FaqSettings(faq_dir=FIXTURE_FAQ, seeds_dir=seeds)
    holder = KnowledgeHolder(faq.load())
    reloader = Reloader(holder, faq.load, faq.watched())
    asked = "how much memory does a quantized 7b model need"
    assert all(near.passage.doc != FILE for near in holder.base.closest_passages(asked))

    (seeds / FILE).write_text(DOCUMENT, encoding="utf-8")  # as a maintainer adds it, while the bot runs
    with (seeds / "sources.yaml").open("a", encoding="utf-8") as sources:
        sources.write(ROW)
    assert await reloader.check() is True
    closest = holder.base.closest_passages(asked)[0].passage
    assert (closest.doc, closest.line) == (FILE, 5)


def test_a_page_break_does_not_shift_the_line_a_passage_is_offered_at(tmp_path: Path) -> None:
    # The New entry form shows each passage with its line and a #L link: numbered as the loader and coverage do.
    text = DOCUMENT.replace("\n\nHow Much Memory", "\x0c\n\nHow Much Memory")
    faq, seeds = with_document(tmp_path, text)
    knowledge = load_knowledge(faq, seeds)
    document = knowledge.documents[FILE]
    passages = [p for p in document_passages(knowledge.documents) if p.doc == FILE]
    assert [p.line for p in passages] == [5, 7, 11]
    lines = document_lines(document.text)
    assert all(p.text in lines[p.line - 1] for p in passages)
    cited = knowledge["quantized-memory"].sources[0]
    assert any(p.line == cited.line_start and cited.quote in p.text for p in passages)
    link = source_link(replace(document, url=None), passages[0].source, "https://github.com/example/openllm-bot")
    assert link.url == f"https://github.com/example/openllm-bot/seeds/{FILE}#L5-L5"
