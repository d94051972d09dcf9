"""Models the documents never name: a question about "GPT-4" or "Llama 4" is not answered with the entry about
GPT-3 or Llama 2 and 3 as if it were covered. Which versions of which model families the FAQ covers is read from the
FAQ and its documents (a family is a one-word tag or id part of an entry that the texts name with a version)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..content.model import Knowledge

# A family name and a version: "gpt-3", "llama 2", "mistral 7b", "mixtral 8x7b", "gpt 3.5", "gpt-4o" (a letter after
# the number: "4o" is not "4", and never "3").
_VERSIONED = re.compile(r"\b([a-z]{3,})[ -]?(\d+(?:\.\d+)?(?:x\d+)?[a-z]?)\b")


@dataclass(frozen=True)
class Versions:
    """The versions the FAQ and its documents name, by model family."""

    known: Mapping[str, frozenset[str]]

    def uncovered(self, query: str) -> str | None:
        """How to say what the normalised `query` names that the documents do not ("mention GPT-4 (only GPT-3)"),
        or None when every versioned model it names is covered."""
        for family, version in _VERSIONED.findall(query.lower()):
            versions = self.known.get(family)
            if versions and version not in versions:
                covered = ", ".join(_display(family, v) for v in sorted(versions))
                return f"mention {_display(family, version)} (only {covered})"
        return None


def _display(family: str, version: str) -> str:
    return f"{family.upper()}-{version}" if len(family) <= 4 else f"{family.capitalize()} {version}"


def versions_of(knowledge: Knowledge, extra: Iterable[str] = ()) -> Versions:
    """The versions `knowledge` (its entries and documents, and `extra` texts) names, for the families among its
    entries' one-word tags and id parts."""
    families = {w for e in knowledge.entries for w in (*e.tags, *e.id.split("-")) if w.isalpha() and len(w) >= 3}
    texts = [d.text for d in knowledge.documents.values()]
    texts += [t for e in knowledge.entries for t in (e.question, e.answer, *e.tags)]  # not alternates: "llm 101"
    known: dict[str, set[str]] = {}
    for text in (*texts, *extra):
        for family, version in _VERSIONED.findall(text.lower()):
            if family in families:
                known.setdefault(family, set()).add(version)
    return Versions({f: frozenset(v) for f, v in known.items()})
