"""Taught phrasings, and entries and answers written from Slack, for the command line: a list to read, and YAML to
merge into the FAQ files (written into them with `--into`). Built from the store's `TaughtRecord`s and
`WrittenRecord`s."""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from knowledge import Entry, Knowledge, KnowledgeError, Problem, Taught, load_knowledge, with_taught
from knowledge.content.phrasings import Phrasing
from knowledge.content.written import NewEntry, entry_fields, faq_yaml, into_faq_file, with_written

from .report import clip_question
from .store import TaughtRecord, WrittenRecord

EXPORT_HEADER = """\
# Phrasings admins taught from Slack, in the order taught; undone ones left out, and any the FAQ refuses as it is now
# (`openllm-bot taught list` shows them all).
# entries.<id>.alternates: add to the `alternates` of entry <id> in knowledge/faq/*.yaml.
# entries.<id>.near_misses: add to the `near_misses` of entry <id> (asked about it, not covered by the documents).
# out_of_scope: add to the `unanswered` group of knowledge/out_of_scope.yaml (not covered, near no entry).
"""


# Bidirectional overrides and isolates (and the marks) make a line display other than it reads: "‮txt.exe" shows
# as "exe.txt". The zero-width joiners of emoji are format characters too, and stay.
_BIDI = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _one_line(text: str) -> str:
    """`text` clipped to one line, with control characters (a terminal's escape sequences) and bidirectional
    controls shown as '?'."""
    return "".join("?" if unicodedata.category(c) == "Cc" or c in _BIDI else c for c in clip_question(text))


def _when(record: TaughtRecord) -> str:
    return f"{record.taught_at:%Y-%m-%d %H:%M}"


def applicable(records: Sequence[TaughtRecord], faq: Knowledge, out_of_scope: Sequence[Phrasing] = ()
               ) -> tuple[list[TaughtRecord], list[tuple[TaughtRecord, str]]]:
    """Of `records` (the store's phrasings not undone, oldest first), those the bot applies to the FAQ as it is, and
    the others with why not (the FAQ now holds them itself, or says otherwise): what the matcher does with them, so
    that an export merges into the FAQ without a problem."""
    taught = [Taught(r.text, r.entry_id, r.near_entry) for r in records]
    result = with_taught(faq, taught, out_of_scope=out_of_scope)
    applied: list[TaughtRecord] = []
    skipped: list[tuple[TaughtRecord, str]] = []
    left, refused = list(result.applied), list(result.skipped)  # each a subsequence of `taught`, in its order
    for record, item in zip(records, taught, strict=True):
        if left and left[0] == item:
            applied.append(record)
            left.pop(0)
        elif refused and refused[0].taught == item:
            skipped.append((record, refused.pop(0).reason))
    return applied, skipped


def skipped_text(skipped: Iterable[tuple[TaughtRecord, str]]) -> str:
    """One line per phrasing left out of an export, with why (control characters shown as '?')."""
    return "".join(f"  {r.id}: \"{_one_line(r.text)}\": {_one_line(reason)}\n" for r, reason in skipped)


def taught_list_text(records: Iterable[TaughtRecord]) -> str:
    """One line per taught phrasing, as given (oldest first from the store): id, when (UTC), who, what it means,
    the text; undone ones marked with when and by whom."""
    lines = []
    for r in records:
        meaning = r.entry_id if r.entry_id is not None else "not covered"
        if r.entry_id is None and r.near_entry is not None:
            meaning += f" (near {r.near_entry})"
        undone = (f"  [undone {r.undone_at:%Y-%m-%d %H:%M} by {_one_line(r.undone_by or '?')}]"
                  if r.undone_at is not None else "")
        lines.append(f"{r.id:>5}  {_when(r)}  {_one_line(r.taught_by)}  {_one_line(meaning)}: "
                     f"\"{_one_line(r.text)}\"{undone}")
    return "\n".join(lines) + "\n" if lines else "No taught phrasings.\n"


def _add(texts: list[str], text: str) -> None:
    if text not in texts:  # taught twice the same way: once in the FAQ
        texts.append(text)


# Line breaks that a quoted scalar would fold into a space when read back, and the bidirectional controls that make a
# line display other than it reads: texts holding one are double-quoted, the one style that escapes them (PyYAML
# writes them as they are in the others, and the bidirectional controls even there: `taught_export_yaml` escapes them).
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")
_DOUBLE_QUOTED = _LINE_BREAKS | _BIDI


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as the FAQ files write them; texts with line breaks double-quoted."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if _DOUBLE_QUOTED.intersection(text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def taught_export_yaml(records: Iterable[TaughtRecord]) -> str:
    """The taught phrasings that are not undone as YAML, entry ids sorted and texts in the order taught: under
    `entries`, each entry's `alternates` and `near_misses`; not covered and near no entry, under `out_of_scope`.
    Texts are quoted as YAML needs, so that a loader reads back exactly what was taught."""
    entries: dict[str, dict[str, list[str]]] = {}
    out_of_scope: list[str] = []
    for r in records:
        if r.undone:
            continue
        if r.entry_id is not None:
            _add(entries.setdefault(r.entry_id, {}).setdefault("alternates", []), r.text)
        elif r.near_entry is not None:
            _add(entries.setdefault(r.near_entry, {}).setdefault("near_misses", []), r.text)
        else:
            _add(out_of_scope, r.text)
    document: dict[str, Any] = {"entries": entries, "out_of_scope": out_of_scope}
    # No line folding: a long question stays on one line.
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=True, allow_unicode=True, default_flow_style=False,
                     width=1 << 30)
    # Only inside double-quoted scalars (see _represent_text), where YAML reads the escape back as the character.
    return EXPORT_HEADER + "".join(f"\\u{ord(c):04X}" if c in _BIDI else c for c in body)


# ---- Entries and answers written from Slack (issue 22, part 2)

def written_list_text(records: Iterable[WrittenRecord]) -> str:
    """One line per entry or answer written from Slack, oldest first (as the store gives them): id, when (UTC), who,
    what it is; undone ones marked with when and by whom. Nothing when there are none."""
    lines = []
    for r in records:
        if r.kind == "entry":
            what = f"new entry {r.entry_id} ({r.theme}.yaml): \"{_one_line(r.question or '')}\""
        else:
            what = f"new answer of {r.entry_id}: \"{_one_line(r.answer)}\""
        undone = (f"  [undone {r.undone_at:%Y-%m-%d %H:%M} by {_one_line(r.undone_by or '?')}]"
                  if r.undone_at is not None else "")
        lines.append(f"{r.id:>5}  {r.written_at:%Y-%m-%d %H:%M}  {_one_line(r.written_by)}  {_one_line(what)}{undone}")
    return "Entries and answers written from Slack:\n" + "\n".join(lines) + "\n" if lines else ""


@dataclass(frozen=True)
class FileChanges:
    """What goes into one FAQ file: `new` entries to add to its end, and `answers` (by entry id) to give entries it
    has."""

    new: list[Entry] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"{n} new entr{'y' if n == 1 else 'ies'}" for n in [len(self.new)] if n]
        parts += [f"{n} answer{'' if n == 1 else 's'}" for n in [len(self.answers)] if n]
        return " and ".join(parts)


@dataclass(frozen=True)
class WrittenExport:
    """The entries and answers written from Slack that apply to the FAQ as it is: by the FAQ file each goes into (by
    its name); the others with why (but for those the FAQ holds already: merged); and the FAQ with them applied (what
    the taught phrasings are exported against)."""

    files: dict[str, FileChanges]
    skipped: list[tuple[WrittenRecord, str]]
    knowledge: Knowledge


def written_export(records: Sequence[WrittenRecord], faq: Knowledge, since: datetime | None = None) -> WrittenExport:
    """What `records` (the store's, not undone, oldest first) put into the FAQ `faq`: each applied after the ones
    before, as the bot applies them; `since`: only those written from then on are exported."""
    items = [(r, item) for r in records if not r.undone and (item := r.item) is not None]
    result = with_written(faq, [item for _, item in items])
    reasons = {id(s.written): s.reason for s in result.skipped}
    files: dict[str, FileChanges] = {}
    skipped: list[tuple[WrittenRecord, str]] = []
    new_ids = {item.id for _, item in items if isinstance(item, NewEntry) and id(item) not in reasons}
    for record, item in items:
        if since is not None and record.written_at < since:
            continue
        if id(item) in reasons:
            entry = faq.get(item.id if isinstance(item, NewEntry) else item.entry_id)
            merged = entry is not None and entry.answer == item.answer.strip() and (
                not isinstance(item, NewEntry) or entry.question == item.question)
            if not merged:
                skipped.append((record, reasons[id(item)]))
            continue
        if isinstance(item, NewEntry):
            entry = result.knowledge[item.id]  # with any answer written for it since
            files.setdefault(PurePosixPath(entry.file).name, FileChanges()).new.append(entry)
        elif item.entry_id not in new_ids:  # an answer of a new entry goes with it
            entry = result.knowledge[item.entry_id]
            if (held := faq.get(entry.id)) is not None and held.answer == entry.answer:
                continue  # the FAQ has that answer already (merged)
            files.setdefault(PurePosixPath(entry.file).name, FileChanges()).answers[entry.id] = entry.answer
    return WrittenExport(files, skipped, result.knowledge)


WRITTEN_HEADER = """\
Written from Slack, for {file}: {changes}. Add the new entries to the end of its `entries:` list as they are;
an entry whose answer was written anew replaces the entry of the same id. `openllm-bot taught export --into
knowledge` does both.
"""


def written_export_yaml(export: WrittenExport, faq: Knowledge) -> str:
    """One YAML document per FAQ file (`---` before each), each an FAQ file in itself: the new entries, then the
    entries answered anew (with the new answer). Nothing when nothing was written."""
    documents = []
    for name, changes in sorted(export.files.items()):
        entries = [entry_fields(e) for e in changes.new]
        entries += [entry_fields(replace(faq[i], answer=a)) for i, a in changes.answers.items() if i in faq]
        shown = next((e.file for e in faq.entries if PurePosixPath(e.file).name == name), name)
        documents.append("---\n" + faq_yaml(entries, WRITTEN_HEADER.format(file=shown, changes=changes).splitlines()))
    return "".join(documents)


def faq_folder(folder: Path) -> Path:
    """The folder of FAQ files `folder` names: itself, or its faq/ (a knowledge folder, as `validate` takes)."""
    return folder / "faq" if (folder / "faq").is_dir() else folder


def write_into(export: WrittenExport, folder: Path, seeds_dir: Path) -> dict[Path, FileChanges]:
    """Write `export` into the FAQ files of `folder` (new entries at the end of each file, answers in place, the rest
    of each file as it was), once the FAQ they make is found valid (in a copy): raises KnowledgeError listing its
    problems otherwise, having written nothing. The files written, with what went into each."""
    faq_dir = faq_folder(folder)
    texts: dict[Path, str] = {}
    for name, changes in export.files.items():
        path = faq_dir / name
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        texts[path] = into_faq_file(text, changes.new, changes.answers, str(path))
    with tempfile.TemporaryDirectory(prefix="openllm-export-") as scratch:
        copy = Path(scratch)
        for path in faq_dir.glob("*.yaml"):
            if path.is_file():
                shutil.copyfile(path, copy / path.name)
        for path, text in texts.items():
            (copy / path.name).write_text(text, encoding="utf-8")
        try:
            load_knowledge(copy, seeds_dir)
        except KnowledgeError as exc:  # named as the files to be written, not the copy's
            raise KnowledgeError([Problem(str(faq_dir / Path(p.file).name) if p.file.startswith(scratch) else p.file,
                                          p.line, p.reason) for p in exc.listed], exc.unlisted) from None
    for path, text in texts.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return {path: export.files[path.name] for path in texts}
