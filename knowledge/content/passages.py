"""The passages of the seed documents an entry may cite: each sentence of their paragraphs, verbatim, with its line.
A sentence of fewer than MIN_QUOTE_WORDS words is joined to the next one of its paragraph (the loader refuses a
shorter quote)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .coverage import document_lines, is_paragraph
from .loader import MAX_QUOTE_CHARS, MIN_QUOTE_WORDS
from .model import Document, Source

# A sentence ends at . ! or ? (and any closing quote or bracket) followed by a space and what starts a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Passage:
    """A sentence of a document (`doc`, its file name), verbatim, at its 1-based `line`."""

    doc: str
    text: str
    line: int

    @property
    def key(self) -> str:
        """What names the passage in a form (a Slack checkbox's value): its document and text, hashed."""
        return hashlib.sha256(f"{self.doc}\0{self.text}".encode()).hexdigest()[:24]

    @property
    def source(self) -> Source:
        return Source(doc=self.doc, quote=self.text, line_start=self.line, line_end=self.line)


def sentences(paragraph: str) -> list[str]:
    """The sentences of `paragraph`, verbatim (a short one joined to the next); one longer than MAX_QUOTE_CHARS is
    left out (no quote may be that long)."""
    parts = [p.strip() for p in _SENTENCE_END.split(paragraph.strip()) if p.strip()]
    joined: list[str] = []
    pending = ""
    for part in parts:
        if pending:
            # The paragraph's own text from the short sentence's start to this one's end.
            start = paragraph.index(pending)
            part = paragraph[start:paragraph.index(part, start + len(pending)) + len(part)]
        if len(part.split()) < MIN_QUOTE_WORDS:
            pending = part
            continue
        pending = ""
        joined.append(part)
    return [s for s in joined if len(s) <= MAX_QUOTE_CHARS]


def document_passages(documents: Mapping[str, Document]) -> tuple[Passage, ...]:
    """Every passage of every document, in document and line order, each at its line as the loader and a `#L` link
    number it (`document_lines`)."""
    found: list[Passage] = []
    for document in documents.values():
        for number, line in enumerate(document_lines(document.text), start=1):
            if is_paragraph(line, document.title):
                found.extend(Passage(document.file, text, number) for text in sentences(line))
    return tuple(found)
