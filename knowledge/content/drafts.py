"""Drafts of FAQ entries for a person to complete: a question and the passages to cite, with an empty answer (never a
written one). A draft is written as an entry of an FAQ file, with comments saying where it comes from and what is
left to do, so that once its answer (and, where the document asks none, its question) is written it loads unchanged.
Drafts for a document's uncited paragraphs are made here; those for unanswered questions in `bot/draft.py`."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .coverage import Paragraph, coverage
from .documents import IndexedText, collapse_whitespace
from .headings import Asked, question_near, section_heading
from .loader import MAX_ID_CHARS, MAX_PHRASING_CHARS, MAX_QUOTE_CHARS, MIN_QUOTE_WORDS
from .model import Document, Knowledge, Source
from .phrasings import phrasing_key

COMMENT_WIDTH = 116  # comments above the drafts are wrapped to lines of at most 118 characters
ID_WORDS = 6  # an id made from a question keeps its first words (without the small ones)
_SMALL_WORDS = frozenset("a an the is are was were be do does did of to in on for and or it its this that".split())
_ID_WORD = re.compile(r"[a-z0-9]+")
_OPENING_QUESTION = re.compile(r"^([^.!?]+\?)\s")  # a paragraph's first sentence, when it asks something
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+")
# Characters YAML cannot hold as they are, or that show other than they read (bidirectional controls, zero-width
# characters): written as escapes, which a double-quoted YAML text reads back as the character.
_ESCAPED = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


@dataclass(frozen=True)
class Draft:
    """An entry for a person to complete. `question` is "" when the person is to write it; the notes are comments:
    above the entry, and beside its question, alternates and sources."""

    id: str
    question: str
    sources: tuple[Source, ...]
    alternates: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    question_note: str = ""
    alternates_note: str = ""
    sources_note: str = ""


@dataclass
class Ids:
    """The ids already taken (the FAQ's, and the drafts' as they are made): a new one is made from a text's first
    words, numbered when taken."""

    taken: set[str] = field(default_factory=set)

    def new(self, *texts: str) -> str:
        """An unused kebab-case id from the first of `texts` with words in the Latin alphabet ("draft" without)."""
        base = next((made for made in map(_id_words, texts) if made), "draft")
        made, n = base, 1
        while made in self.taken:
            n += 1
            suffix = f"-{n}"
            made = base[:MAX_ID_CHARS - len(suffix)].rstrip("-") + suffix
        self.taken.add(made)
        return made


def _id_words(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode()
    words = _ID_WORD.findall(folded)
    words = [w for w in words if w not in _SMALL_WORDS] or words
    made = ""
    for word in words[:ID_WORDS]:
        longer = f"{made}-{word}" if made else word
        if len(longer) > MAX_ID_CHARS:
            break
        made = longer
    return made


def cite(document: Document, text: str) -> tuple[Source, ...]:
    """`text`, a passage of `document`, as the quotes the loader takes: verbatim (whitespace collapsed), of at least
    MIN_QUOTE_WORDS words and at most MAX_QUOTE_CHARS characters (a longer text cut between sentences, a sentence
    longer than that between words), each found in the document; () when it holds none."""
    indexed = IndexedText.of(document.text)
    sources = []
    for quote in _pieces(collapse_whitespace(text)):
        span = indexed.locate(quote)
        if span is not None and len(quote.split()) >= MIN_QUOTE_WORDS:
            sources.append(Source(document.file, quote, span[0], span[1]))
    return tuple(sources)


def _pieces(text: str) -> list[str]:
    """`text` in consecutive pieces of at most MAX_QUOTE_CHARS characters, cut after a sentence where one ends."""
    if len(text) <= MAX_QUOTE_CHARS:
        return [text]
    pieces: list[str] = []
    start = 0
    while len(text) - start > MAX_QUOTE_CHARS:
        window = text[start:start + MAX_QUOTE_CHARS + 1]
        ends = [m.end() for m in _SENTENCE_END.finditer(window)]
        cut = ends[-1] if ends else window.rfind(" ") + 1
        if cut <= 0:
            cut = MAX_QUOTE_CHARS
        pieces.append(text[start:start + cut].strip())
        start += cut
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def phrasings(knowledge: Knowledge) -> dict[str, tuple[str, str]]:
    """Each question, alternate and near miss of the FAQ, by `phrasing_key`: the entry that has it, and as what."""
    owners: dict[str, tuple[str, str]] = {}
    for entry in knowledge.entries:
        for kind, texts in (("question", (entry.question,)), ("alternate", entry.alternates),
                            ("near miss", entry.near_misses)):
            for text in texts:
                owners.setdefault(phrasing_key(text), (entry.id, kind))
    return owners


def document_drafts(knowledge: Knowledge, file: str, ids: Ids | None = None) -> list[Draft]:
    """A draft per uncited paragraph of the document `file` (paragraphs under one question-like heading in one
    draft): the question the document asks near it, if any and if no entry asks it already, else "" for a person
    to write; the paragraph (or the answer after a list item's question) to cite."""
    document = knowledge.documents[file]
    ids = ids or Ids({e.id for e in knowledge.entries})
    owners = phrasings(knowledge)
    report = next(d for d in coverage(knowledge) if d.file == file)
    groups: list[tuple[Asked | None, list[Paragraph], list[Source]]] = []
    under: dict[int, int] = {}  # a question-like heading's line -> its group in `groups`
    for paragraph in report.paragraphs:
        if paragraph.cited_by:
            continue
        asked = question_near(document, paragraph.line)
        quoted = cite(document, asked.rest) if asked is not None and asked.rest else ()
        sources = quoted or cite(document, paragraph.text)
        if not sources:
            continue
        heading = asked.line if asked is not None and asked.rest is None else None
        if heading is not None and heading in under:
            groups[under[heading]][1].append(paragraph)
            groups[under[heading]][2].extend(sources)
            continue
        if heading is not None:
            under[heading] = len(groups)
        groups.append((asked, [paragraph], list(sources)))
    return [_draft(document, asked, paragraphs, tuple(sources), owners, ids) for asked, paragraphs, sources in groups]


def _draft(document: Document, asked: Asked | None, paragraphs: list[Paragraph], sources: tuple[Source, ...],
           owners: dict[str, tuple[str, str]], ids: Ids) -> Draft:
    lines = [p.line for p in paragraphs]
    where = f"from {document.file} " + (f"line {lines[0]}" if len(lines) == 1 else
                                        "lines " + ", ".join(map(str, lines)))
    after = asked is not None and asked.rest is not None and sources[0].quote in collapse_whitespace(asked.rest)
    what = "the answer after its question" if after else "the paragraph" if len(lines) == 1 else "the paragraphs"
    sources_note = f"{what}, verbatim: cite what the answer rests on (cut a quote shorter if you like, never reword it)"
    write = "yours to write: the question this passage answers"
    if asked is not None and len(asked.question) <= MAX_PHRASING_CHARS:
        owner = owners.get(phrasing_key(asked.question))
        if owner is None:
            how = "the question it opens with" if asked.rest is not None else f"its heading (line {asked.line})"
            return Draft(ids.new(asked.question), asked.question, sources, notes=(where,),
                         question_note=f"as the document asks it: {how}", sources_note=sources_note)
        taken = f"'{asked.question}' is already the {owner[1]} of entry '{owner[0]}'"
        return Draft(ids.new(asked.question), "", sources, notes=(
            where, f"{taken}: this passage may belong in that entry's sources instead"),
            question_note=write, sources_note=sources_note)
    first = paragraphs[0]
    section, _ = section_heading(document, first.line)
    hint = f" (its section: '{section.text}')" if section is not None else ""
    notes = [where, f"the document asks no question near this paragraph{hint}"]
    if (opening := _OPENING_QUESTION.match(first.text)) and len(opening.group(1)) <= MAX_PHRASING_CHARS:
        notes.append(f"it opens with '{opening.group(1)}', which may say what it answers")
    return Draft(ids.new(section.text if section is not None else "", first.text), "", sources, notes=tuple(notes),
                 question_note=write, sources_note=sources_note)


# ---- The YAML of drafts

def yaml_text(text: str) -> str:
    """`text` as a double-quoted YAML text that reads back as exactly `text`, on one line."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif unicodedata.category(ch) in _ESCAPED or ch == "\ufeff":
            out.append(f"\\u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _comment(text: str) -> str:
    return f"  # {collapse_whitespace(text)}" if text.strip() else ""


HOW_TO_COMPLETE = (
    "For each draft: check its question (write it where it is empty), write the answer in your own words from its",
    "passages, keep the passages the answer rests on (a quote must stay verbatim: cut it shorter, never reword it),",
    "add tags and related ids; delete a draft not worth an entry. Then move the entries into their theme's file in",
    "knowledge/faq/ (or save this file there as a new theme) and run `openllm-bot validate`: an empty question or",
    "answer is refused until it is written.",
)


def drafts_yaml(drafts: Sequence[Draft], comments: Iterable[str] = ()) -> str:
    """The drafts as an FAQ file (`entries:` and its list, indented as the shipped files are): `comments` first, one
    a line, then how to complete them."""
    lines = [f"# {line}" for line in textwrap.wrap(" ".join(comments), COMMENT_WIDTH)]
    lines += [f"# {line}" for line in HOW_TO_COMPLETE]
    lines.append("entries:" if drafts else "entries: []")
    for draft in drafts:
        lines.append("")
        lines += [f"  # {line}" for note in draft.notes for line in textwrap.wrap(note, COMMENT_WIDTH - 2)]
        lines.append(f"  - id: {draft.id}")
        lines.append(f"    question: {yaml_text(draft.question)}{_comment(draft.question_note)}")
        if draft.alternates:
            lines.append(f"    alternates:{_comment(draft.alternates_note)}")
            lines += [f"      - {yaml_text(text)}" for text in draft.alternates]
        else:
            lines.append("    alternates: []  # other ways people ask it: what the matcher learns the entry from")
        lines.append("    tags: []  # bare topic words, none of them another entry's")
        lines.append('    answer: ""  # yours to write, in your own words, from the passages below')
        if draft.sources:
            lines.append(f"    sources:{_comment(draft.sources_note)}")
            for source in draft.sources:
                lines.append(f"      - doc: {yaml_text(source.doc)}")
                lines.append(f"        quote: {yaml_text(source.quote)}")
        else:
            note = draft.sources_note or "no passage found: add the {doc, quote} the answer rests on"
            lines.append(f"    sources: []{_comment(note)}")
        lines.append("    related: []  # ids of entries worth reading next")
    return "\n".join(lines) + "\n"
