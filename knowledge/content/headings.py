"""The questions a document asks itself: its question-like headings ("What Exactly Are Open Source LLMs?") and the
question a FAQ-style list item opens with ("5. What are the future trends …? Future trends may include …"); for a
paragraph, the heading of its section and the question near it, which a drafted entry takes as its question."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .coverage import document_lines, is_furniture, is_paragraph
from .documents import collapse_whitespace
from .model import Document

# A heading that opens with one of these words asks something, with or without its "?".
INTERROGATIVES = frozenset("what why how who whom whose when where which".split())
# A question near a paragraph: its section's heading, when at most this many paragraphs of the section come before it
# (further down a section, the text has moved on from what its heading asks).
NEAR_PARAGRAPHS = 3
MAX_QUESTION_WORDS = 30  # a longer "question" is a sentence of prose that happens to end in "?"
# Markdown heading marks, list numbers and bullets, "Q:" before a heading's words; emphasis around them.
_MARKERS = re.compile(r"^(?:#{1,6}\s+|(?:\(?\d{1,3}[.):]|[-*•·–—])\s+|Q\s*[:.]\s*)+", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(?:\(?\d{1,3}[.):]|[-*•·–—])\s+")
_EMPHASIS = re.compile(r"^[*_]+|[*_]+$")
_FIRST_SENTENCE = re.compile(r"^(.+?\?)\s+(\S.*)$")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Heading:
    """A line of a document that is not prose: a heading, or page furniture (a byline, "5 min read")."""

    line: int
    text: str  # without markdown marks, list numbers or emphasis
    question: str | None  # the heading as a question, when it asks one


@dataclass(frozen=True)
class Asked:
    """A question the document asks about a paragraph: a heading over it (`line` is the heading's), or the question
    the paragraph itself opens with (`line` is the paragraph's, and `rest` what follows the question)."""

    question: str
    line: int
    rest: str | None = None


def bare(text: str) -> str:
    """`text` without markdown heading marks, list numbers, bullets or emphasis around it, whitespace collapsed."""
    text = _MARKERS.sub("", collapse_whitespace(text))
    return collapse_whitespace(_EMPHASIS.sub("", text))


def as_question(heading: str) -> str | None:
    """The heading as a question, when it asks one: it ends in "?", or opens with an interrogative ("How to Choose a
    Model" gives "How to Choose a Model?"); None for a heading that names a topic ("Governance: A Mixed Bag")."""
    text = bare(heading)
    words = _WORD.findall(text)
    if len(words) < 2 or len(words) > MAX_QUESTION_WORDS:
        return None
    if text.endswith("?"):
        return text
    if words[0].casefold() in INTERROGATIVES and text[-1:].isalnum():
        return text + "?"
    return None


def opening_question(line: str) -> tuple[str, str] | None:
    """The question a FAQ-style list item opens with, and the answer after it: "5. What are the future trends? Future
    trends may include …" gives ("What are the future trends?", "Future trends may include …"). Prose that opens
    with a rhetorical question ("So, where does this leave us? …") is not a list item: None."""
    text = collapse_whitespace(line)
    if not _LIST_ITEM.match(text):
        return None
    found = _FIRST_SENTENCE.match(bare(text))
    if found is None:
        return None
    question = as_question(found.group(1))
    return (question, found.group(2)) if question else None


def headings(document: Document) -> list[Heading]:
    """Every line of `document` that is neither prose nor blank nor its title, in order."""
    found = []
    for number, line in enumerate(document_lines(document.text), start=1):
        text = collapse_whitespace(line)
        if not text or is_paragraph(text, document.title) or text.casefold() == document.title.strip().casefold():
            continue
        furniture = is_furniture(text)
        found.append(Heading(number, bare(text), None if furniture else as_question(text)))
    return found


def section_heading(document: Document, line: int) -> tuple[Heading | None, int]:
    """The heading of the section the paragraph at `line` is in (None before the first), and how many paragraphs of
    that section come before it."""
    lines = document_lines(document.text)
    before = 0
    for number in range(line - 1, 0, -1):
        text = collapse_whitespace(lines[number - 1])
        if not text:
            continue
        if text.casefold() == document.title.strip().casefold():
            return None, before
        if is_paragraph(text, document.title):
            before += 1
            continue
        furniture = is_furniture(text)
        return Heading(number, bare(text), None if furniture else as_question(text)), before
    return None, before


def question_near(document: Document, line: int) -> Asked | None:
    """The question the document asks about the paragraph at `line`: the one it opens with (a FAQ-style list item),
    else its section's heading if that asks one and the paragraph is among the section's first NEAR_PARAGRAPHS."""
    lines = document_lines(document.text)
    if 1 <= line <= len(lines) and (opening := opening_question(lines[line - 1])):
        return Asked(opening[0], line, opening[1])
    heading, before = section_heading(document, line)
    if heading is not None and heading.question is not None and before < NEAR_PARAGRAPHS:
        return Asked(heading.question, heading.line)
    return None
