"""`openllm-bot coverage`: which paragraphs of each document the FAQ cites."""

from __future__ import annotations

from repo_paths import FIXTURE_FAQ, SEEDS

from knowledge import load_knowledge
from knowledge.content.coverage import coverage, format_coverage, is_paragraph


def test_headings_are_not_paragraphs() -> None:
    assert not is_paragraph("Bias and Safety Concerns")
    assert not is_paragraph("Get AI news in your inbox")
    assert not is_paragraph("What Exactly Are Open Source LLMs?")
    assert not is_paragraph("Home » The Future of LLM Development is Open Source")
    title = "The Future of LLM Development is Open Source"
    assert not is_paragraph(title, title)
    assert is_paragraph("Large Language Models are a type of artificial intelligence trained on text.")


def test_cited_paragraphs_name_the_entries_citing_them() -> None:
    report = {d.file: d for d in coverage(load_knowledge(FIXTURE_FAQ, SEEDS))}
    doc = report["001_ef82fbb3a280ee8f.txt"]
    by_line = {p.line: p.cited_by for p in doc.paragraphs}
    assert by_line[35] == ("licensing",)
    assert by_line[20] == ("llama",)
    assert by_line[3] == ()
    assert doc.cited == 2
    assert report["000_16cf9e8ad3637486.txt"].cited == 0


def test_report_gives_percentages_and_lists_uncited_paragraphs() -> None:
    text = format_coverage(coverage(load_knowledge(FIXTURE_FAQ, SEEDS)))
    assert "  2 of 24 paragraphs cited (8%)" in text
    assert "    not cited  line 3: Before diving into the specifics" in text
    assert text.splitlines()[-1].startswith("all documents: 3 of ")
