"""Which paragraphs of each seed document the FAQ cites, so a maintainer sees what is left to distil."""

from __future__ import annotations

from dataclasses import dataclass

from .documents import collapse_whitespace
from .model import Knowledge

# A paragraph is a line of prose: long, or a statement. Shorter lines are headings (questions among them) and
# page furniture such as breadcrumbs.
PARAGRAPH_WORDS, SENTENCE_WORDS = 12, 5
_FURNITURE = ("»", "›", " | ")


def document_lines(text: str) -> list[str]:
    """A document's lines as the loader numbers a quote's lines (and as a `#L` link does): split at newlines only.
    `str.splitlines` also splits at form feeds (pdftotext's page breaks), U+2028 and the like, which would number
    every line after one differently from the quotes citing it."""
    return text.split("\n")


def is_furniture(line: str) -> bool:
    """A breadcrumb or a menu ("Home » Blog", "News | Events"), not the document's own words."""
    return any(mark in line for mark in _FURNITURE)


def is_paragraph(line: str, title: str = "") -> bool:
    text = collapse_whitespace(line)
    if is_furniture(text) or (title and text.casefold() == title.strip().casefold()):
        return False
    n = len(text.split())
    return n >= PARAGRAPH_WORDS or (n >= SENTENCE_WORDS and text.endswith((".", "!")))


@dataclass(frozen=True)
class Paragraph:
    line: int
    text: str
    cited_by: tuple[str, ...]


@dataclass(frozen=True)
class DocumentCoverage:
    file: str
    title: str
    paragraphs: tuple[Paragraph, ...]

    @property
    def cited(self) -> int:
        return sum(1 for p in self.paragraphs if p.cited_by)

    @property
    def percent(self) -> float:
        return 100 * self.cited / len(self.paragraphs) if self.paragraphs else 100.0


def coverage(knowledge: Knowledge) -> list[DocumentCoverage]:
    """Per document, each paragraph and the entries citing it."""
    cited: dict[tuple[str, int], list[str]] = {}
    for entry in knowledge.entries:
        for source in entry.sources:
            for line in range(source.line_start, source.line_end + 1):
                ids = cited.setdefault((source.doc, line), [])
                if entry.id not in ids:
                    ids.append(entry.id)
    report = []
    for document in knowledge.documents.values():
        paragraphs = tuple(
            Paragraph(n, collapse_whitespace(text), tuple(cited.get((document.file, n), ())))
            for n, text in enumerate(document_lines(document.text), start=1)
            if is_paragraph(text, document.title)
        )
        report.append(DocumentCoverage(document.file, document.title, paragraphs))
    return report


def format_coverage(report: list[DocumentCoverage], show_uncited: bool = True, width: int = 100) -> str:
    lines = []
    total = sum(len(d.paragraphs) for d in report)
    cited = sum(d.cited for d in report)
    for doc in report:
        lines.append(f"{doc.file}  {doc.title}")
        lines.append(f"  {doc.cited} of {len(doc.paragraphs)} paragraphs cited ({doc.percent:.0f}%)")
        if show_uncited:
            for p in doc.paragraphs:
                if not p.cited_by:
                    text = p.text if len(p.text) <= width else p.text[: width - 3] + "..."
                    lines.append(f"    not cited  line {p.line}: {text}")
    lines.append("")
    lines.append(f"all documents: {cited} of {total} paragraphs cited ({100 * cited / total if total else 100:.0f}%)")
    return "\n".join(lines)
