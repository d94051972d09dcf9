"""Entries and answers admins write from Slack: a new entry of the FAQ (in a theme's file), or another answer for an
entry the FAQ has. Each is written as the YAML of an FAQ file (`faq_yaml`, also what is exported into knowledge/faq/)
and read back by the loader, so it is checked exactly as an entry of knowledge/faq/ is; written ones are applied in
the order written, and one the FAQ refuses as it is now (its id taken since, a quote the documents no longer hold) is
skipped, with why."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .files import KnowledgeError, compose
from .loader import MAX_ID_CHARS, check_entries
from .model import Entry, Knowledge

# A theme is the name of an FAQ file without `.yaml`: words of lower-case letters and digits, joined by - or _.
_THEME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
MAX_THEME_CHARS = 64
_WORD = re.compile(r"[a-z0-9]+")
_ID_WORDS = 8  # an id made from a question keeps its first words
FIELDS = ("id", "question", "alternates", "tags", "answer", "sources", "related", "near_misses")


@dataclass(frozen=True)
class NewEntry:
    """An entry written from Slack: it goes into the FAQ file of `theme` (knowledge/faq/<theme>.yaml). `sources` are
    (document, verbatim quote) pairs."""

    id: str
    theme: str
    question: str
    answer: str
    sources: tuple[tuple[str, str], ...]
    alternates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"new entry '{self.id}'"


@dataclass(frozen=True)
class NewAnswer:
    """Another answer for the entry `entry_id`, written from Slack: the bot answers with it instead of the FAQ's."""

    entry_id: str
    answer: str

    def __str__(self) -> str:
        return f"new answer of entry '{self.entry_id}'"


Written = NewEntry | NewAnswer


@dataclass(frozen=True)
class Refusal:
    """Why something written cannot be taken: `reason`, about its `field` (one of FIELDS, or "theme" or "entry"), and
    for a source, which one (0-based)."""

    field: str
    reason: str
    source: int | None = None


class WrittenRefused(Exception):
    """What was written is refused; `refusals` says why, field by field."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = tuple(refusals)
        super().__init__("; ".join(r.reason for r in self.refusals))


@dataclass(frozen=True)
class SkippedWritten:
    written: Written
    reason: str

    def __str__(self) -> str:
        return f"{self.written}: {self.reason}"


@dataclass(frozen=True)
class WrittenKnowledge:
    """The FAQ with what was written applied, and what could not be, with why."""

    knowledge: Knowledge
    applied: tuple[Written, ...]
    skipped: tuple[SkippedWritten, ...]


def id_from(question: str) -> str:
    """An entry id made from a question: its first words, lower-case, joined by hyphens ("What is RLHF?" gives
    "what-is-rlhf"); "" when it has no letters or digits of the Latin alphabet."""
    words = _WORD.findall(question.casefold())[:_ID_WORDS]
    made = ""
    for word in words:
        longer = f"{made}-{word}" if made else word
        if len(longer) > MAX_ID_CHARS:
            break
        made = longer
    return made or (words[0][:MAX_ID_CHARS] if words else "")


def themes(knowledge: Knowledge) -> list[str]:
    """The FAQ's themes (the names of its files, without `.yaml`), in file order."""
    return list(dict.fromkeys(PurePosixPath(e.file).stem for e in knowledge.entries if e.file))


def theme_file(knowledge: Knowledge, theme: str) -> str:
    """The FAQ file of `theme`, as its entries name it (`knowledge/faq/models.yaml`); for a theme no entry is in, the
    same folder's."""
    for entry in knowledge.entries:
        if entry.file and PurePosixPath(entry.file).stem == theme:
            return entry.file
    folder = next((str(PurePosixPath(e.file).parent) for e in knowledge.entries if e.file), "")
    return f"{folder}/{theme}.yaml" if folder and folder != "." else f"{theme}.yaml"


# ---- The YAML of an FAQ file

# Bidirectional controls make a line display other than it reads: a text holding one is double-quoted, with them
# escaped (YAML reads the escape back as the character).
_BIDI = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as the FAQ files write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Several lines as a literal block, as written (YAML falls back to double quotes where a block cannot hold them).
    style = '"' if _BIDI.intersection(text) else "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def entry_fields(entry: NewEntry | Entry) -> dict[str, Any]:
    """The fields of `entry` as an FAQ file holds them, in the FAQ's order (`near_misses` only when it has some)."""
    if isinstance(entry, NewEntry):
        sources = [{"doc": doc, "quote": quote} for doc, quote in entry.sources]
        return {"id": entry.id, "question": entry.question, "alternates": list(entry.alternates),
                "tags": list(entry.tags), "answer": entry.answer, "sources": sources, "related": []}
    fields: dict[str, Any] = {
        "id": entry.id, "question": entry.question, "alternates": list(entry.alternates), "tags": list(entry.tags),
        "answer": entry.answer, "sources": [{"doc": s.doc, "quote": s.quote} for s in entry.sources],
        "related": list(entry.related)}
    if entry.near_misses:
        fields["near_misses"] = list(entry.near_misses)
    return fields


def faq_yaml(entries: Iterable[Mapping[str, Any]], comments: Sequence[str] = ()) -> str:
    """An FAQ file holding `entries` (each as `entry_fields` gives it): `entries:` and its list, indented as the
    shipped files are, so that the list can also be appended to an FAQ file as it is; `comments` first, one a line."""
    body = yaml.dump({"entries": [dict(e) for e in entries]}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=1 << 30)
    body = "".join(f"\\u{ord(c):04X}" if c in _BIDI else c for c in body)  # only in double-quoted texts: see above
    return "".join(f"# {line}\n" for line in comments) + body


_FIELD = re.compile(r"^(?:  - |    )([a-z_]+):")
_SOURCE = re.compile(r"^      - ")


def _field_at(text: str, line: int) -> tuple[str, int | None]:
    """The field of the one entry `faq_yaml` wrote in `text` that the 1-based `line` is in, and for a source, which."""
    field, source = "id", None
    for number, content in enumerate(text.splitlines(), start=1):
        if number > line:
            break
        if found := _FIELD.match(content):
            field, source = found.group(1), None
        elif field == "sources" and _SOURCE.match(content):
            source = 0 if source is None else source + 1
    return field, source


# ---- Checking and applying

def _checked(knowledge: Knowledge, fields: Mapping[str, Any], file: str) -> Entry:
    """`fields` read back by the loader as an entry of `file` beside `knowledge`'s entries; WrittenRefused says why
    not, field by field."""
    text = faq_yaml([fields])
    try:
        (entry,) = check_entries(knowledge, text, f"{file} (written in Slack)")
    except KnowledgeError as exc:
        refusals = []
        for problem in exc.problems:
            field, source = _field_at(text, problem.line)
            refusals.append(Refusal(field, problem.reason, source))
        raise WrittenRefused(refusals) from None
    return entry


def check_written(knowledge: Knowledge, written: Written) -> Entry:
    """The entry `written` makes of `knowledge` (a new one, or one of its entries with the new answer), checked as an
    entry of knowledge/faq/ is; raises WrittenRefused saying why not."""
    if isinstance(written, NewAnswer):
        entry = knowledge.get(written.entry_id)
        if entry is None:
            raise WrittenRefused([Refusal("entry", f"entry '{written.entry_id}' is not in the FAQ (any more)")])
        others = Knowledge(tuple(e for e in knowledge.entries if e.id != entry.id), knowledge.documents)
        checked = _checked(others, {**entry_fields(entry), "answer": written.answer}, entry.file)
        return replace(checked, file=entry.file, line=entry.line)
    if len(written.theme) > MAX_THEME_CHARS or not _THEME.match(written.theme):
        raise WrittenRefused([Refusal("theme", f"theme '{written.theme[:MAX_THEME_CHARS]}' is not the name of an FAQ "
                                               "file (lower-case letters and digits, joined by - or _)")])
    file = theme_file(knowledge, written.theme)
    return replace(_checked(knowledge, entry_fields(written), file), file=file, line=0)


def with_written(knowledge: Knowledge, written: Sequence[Written]) -> WrittenKnowledge:
    """Apply `written` to the FAQ in order, each checked against the FAQ with those before it applied: a new entry
    after the last of its theme's, a new answer in its entry's place. Those refused are skipped, with why."""
    if not written:
        return WrittenKnowledge(knowledge, (), ())
    entries = list(knowledge.entries)
    applied: list[Written] = []
    skipped: list[SkippedWritten] = []
    for item in written:
        current = Knowledge(tuple(entries), knowledge.documents)
        try:
            entry = check_written(current, item)
        except WrittenRefused as exc:
            skipped.append(SkippedWritten(item, str(exc)))
            continue
        applied.append(item)
        if isinstance(item, NewAnswer):
            entries = [entry if e.id == entry.id else e for e in entries]
            continue
        last = max((i for i, e in enumerate(entries) if e.file == entry.file), default=len(entries) - 1)
        entries.insert(last + 1, entry)
    return WrittenKnowledge(Knowledge(tuple(entries), knowledge.documents), tuple(applied), tuple(skipped))


# ---- Into the FAQ's files

def _entry_nodes(root: Node | None) -> list[MappingNode]:
    """The entries of an FAQ file's YAML, as mappings."""
    if not isinstance(root, MappingNode):
        return []
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "entries" and isinstance(value, SequenceNode):
            return [item for item in value.value if isinstance(item, MappingNode)]
    return []


def _answer_lines(entry: Entry | NewEntry, answer: str, indent: int) -> list[str]:
    """The `answer:` field of `entry` with `answer`, as `faq_yaml` writes it, at `indent` spaces."""
    fields = {**entry_fields(entry), "answer": answer}
    lines = faq_yaml([fields]).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("    answer:"))
    end = next((i for i in range(start + 1, len(lines)) if _FIELD.match(lines[i])), len(lines))
    return [" " * indent + line[4:] if line.strip() else line for line in lines[start:end]]


def into_faq_file(text: str, new: Sequence[Entry], answers: Mapping[str, str], file: str = "") -> str:
    """An FAQ file's `text` with `new` entries added to the end of its `entries:` list as `faq_yaml` writes them, and
    the entries of `answers`' ids given those answers in place (only the answer's lines change: the rest of the file,
    comments and all, stays as it was). A file that is empty or has no entries yet becomes `faq_yaml`'s. Raises
    KnowledgeError when the file is not YAML (`file` names it)."""
    root = compose(text, file or "the FAQ file") if text.strip() else None
    nodes = _entry_nodes(root)
    if not nodes:
        kept = "".join(line for line in text.splitlines(keepends=True) if line.lstrip().startswith("#"))
        return kept + faq_yaml([entry_fields(e) for e in new]) if new else text
    lines = text.splitlines(keepends=True)
    # From the last entry up, so that the lines of the earlier ones stay where they were.
    for node in reversed(nodes):
        fields = {k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)}
        entry_id = fields.get("id", (None, None))[1]
        if not isinstance(entry_id, ScalarNode) or entry_id.value not in answers or "answer" not in fields:
            continue
        key, value = fields["answer"]
        end = value.end_mark.line + (1 if value.end_mark.column else 0)
        entry = Entry(entry_id.value, "", (), (), "", (), ())
        lines[key.start_mark.line:end] = _answer_lines(entry, answers[entry_id.value], key.start_mark.column)
    merged = "".join(lines)
    if new:
        listed = faq_yaml([entry_fields(e) for e in new]).split("\n", 1)[1]  # without its `entries:` line
        shift = nodes[0].start_mark.column - 4  # the file's entries start there, `faq_yaml`'s at column 4 (`  - `)
        if shift > 0:
            listed = "".join(" " * shift + line if line.strip() else line for line in listed.splitlines(True))
        elif shift < 0:
            listed = "".join(line[-shift:] if line.strip() else line for line in listed.splitlines(True))
        merged = (merged if merged.endswith("\n") else merged + "\n") + listed
    return merged
