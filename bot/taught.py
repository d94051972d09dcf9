"""Taught phrasings for the command line: a list to read, and YAML to merge into the FAQ files. Pure: built from
the store's `TaughtRecord`s."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from knowledge import Knowledge, Taught, with_taught
from knowledge.content.phrasings import Phrasing

from .report import clip_question
from .store import TaughtRecord

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
