"""Models the documents never name: a question about "GPT-4", "Llama 4" or "GPT-J" is not answered with the entry
about GPT-3 or Llama 2 and 3 as if it were covered. Which versions of which model families the FAQ covers is read from
the FAQ and its documents (a family is a one-word tag or id part of an entry that the texts name with a version), and
so are the hyphenated names of those families they use (none today: a document naming "GPT-Neo" would cover it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..content.model import Knowledge
from ..matching.analysis import english_zipf

# A family name and a version: "gpt-3", "llama 2", "mistral 7b", "mixtral 8x7b", "gpt 3.5", "gpt-4o" (a letter after
# the number: "4o" is not "4", and never "3").
_VERSIONED = re.compile(r"\b([a-z]{3,})[ -]?(\d+(?:\.\d+)?(?:x\d+)?[a-z]?)\b")
# A family name, a hyphen and a word: "gpt-oss", "gpt-j", "gpt-neo" are other models than GPT-3 when the word is a name
# (not an English word: below NAME_ZIPF, or one or two letters); "gpt-family models" and "a llama-based product" are
# about the family.
_COMPOUND = re.compile(r"\b([a-z]{3,})-([a-z]+)\b")
NAME_ZIPF = 4.0  # "oss" 2.98, "neo" 3.99, "cpp" 2.86 are names here; "based" 5.51, "family" 5.66, "style" 5.11 are not


@dataclass(frozen=True)
class Versions:
    """The versions the FAQ and its documents name, by model family."""

    known: Mapping[str, frozenset[str]]
    named: frozenset[str] = frozenset()  # the hyphenated names of those families the texts use ("gpt-neox")

    def uncovered(self, query: str) -> str | None:
        """How to say what the normalised `query` names that the documents do not ("mention GPT-4 (only GPT-3)"),
        or None when every versioned or hyphenated model it names is covered."""
        lowered = query.lower()
        for family, version in _VERSIONED.findall(lowered):
            versions = self.known.get(family)
            if versions and version not in versions:
                return self._say(family, version)
        for family, word in _COMPOUND.findall(lowered):
            if (family in self.known and f"{family}-{word}" not in self.named
                    and (len(word) <= 2 or english_zipf(word) < NAME_ZIPF)):
                return self._say(family, word.upper() if len(word) <= 3 else word.capitalize())
        return None

    def _say(self, family: str, version: str) -> str:
        covered = ", ".join(_display(family, v) for v in sorted(self.known[family]))
        return f"mention {_display(family, version)} (only {covered})"


def _display(family: str, version: str) -> str:
    return f"{family.upper()}-{version}" if len(family) <= 4 else f"{family.capitalize()} {version}"


def versions_of(knowledge: Knowledge, extra: Iterable[str] = ()) -> Versions:
    """The versions `knowledge` (its entries and documents, and `extra` texts) names, for the families among its
    entries' one-word tags and id parts."""
    families = {w for e in knowledge.entries for w in (*e.tags, *e.id.split("-")) if w.isalpha() and len(w) >= 3}
    texts = [d.text for d in knowledge.documents.values()]
    texts += [t for e in knowledge.entries for t in (e.question, e.answer, *e.tags)]  # not alternates: "llm 101"
    known: dict[str, set[str]] = {}
    compounds: set[str] = set()
    for text in (*texts, *extra):
        for family, version in _VERSIONED.findall(text.lower()):
            if family in families:
                known.setdefault(family, set()).add(version)
        compounds.update(f"{family}-{word}" for family, word in _COMPOUND.findall(text.lower()))
    return Versions({f: frozenset(v) for f, v in known.items()}, frozenset(compounds))
