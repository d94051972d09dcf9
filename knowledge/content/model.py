"""Immutable objects the FAQ is loaded into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Document:
    """A seed document and where it was published."""

    file: str
    title: str
    text: str
    url: str | None = None
    author: str | None = None
    publisher: str | None = None
    related_title: str | None = None
    related_url: str | None = None


@dataclass(frozen=True)
class Source:
    """A verbatim passage of a seed document, with its 1-based line range."""

    doc: str
    quote: str
    line_start: int
    line_end: int


@dataclass(frozen=True)
class Entry:
    id: str
    question: str
    alternates: tuple[str, ...]
    tags: tuple[str, ...]
    answer: str
    sources: tuple[Source, ...]
    related: tuple[str, ...]
    near_misses: tuple[str, ...] = ()  # asked about this topic, but the documents do not answer it
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Knowledge:
    """The whole FAQ: entries in file order and the documents they cite."""

    entries: tuple[Entry, ...]
    documents: Mapping[str, Document]
    _by_id: Mapping[str, Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", MappingProxyType(dict(self.documents)))
        object.__setattr__(self, "_by_id", MappingProxyType({e.id: e for e in self.entries}))

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def __getitem__(self, entry_id: str) -> Entry:
        return self._by_id[entry_id]

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def __len__(self) -> int:
        return len(self.entries)

    def by_tag(self) -> dict[str, list[Entry]]:
        """Tags in alphabetical order, each with its entries in file order."""
        tags: dict[str, list[Entry]] = {}
        for entry in self.entries:
            for tag in entry.tags:
                tags.setdefault(tag, []).append(entry)
        return dict(sorted(tags.items()))
