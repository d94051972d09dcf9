"""The seed documents: their metadata from sources.yaml and where a quote stands in them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .model import Document

_SPACE = re.compile(r"\s+")


def collapse_whitespace(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class IndexedText:
    """A document's text with whitespace collapsed, remembering each character's line."""

    text: str
    lines: tuple[int, ...]

    @classmethod
    def of(cls, raw: str) -> IndexedText:
        chars: list[str] = []
        lines: list[int] = []
        line = 1
        pending_space = False
        for ch in raw:
            if ch.isspace():
                pending_space = bool(chars)
                if ch == "\n":
                    line += 1
                continue
            if pending_space:
                chars.append(" ")
                lines.append(line)
                pending_space = False
            chars.append(ch)
            lines.append(line)
        return cls("".join(chars), tuple(lines))

    def locate(self, quote: str) -> tuple[int, int] | None:
        """1-based first and last line of `quote` (whitespace collapsed), or None."""
        needle = collapse_whitespace(quote)
        if not needle:
            return None
        start = self.text.find(needle)
        if start < 0:
            return None
        return self.lines[start], self.lines[start + len(needle) - 1]


class SourcesError(Exception):
    """sources.yaml is missing or malformed; the message names file and reason."""


def load_documents(seeds_dir: Path) -> dict[str, Document]:
    """Read `sources.yaml` and every document it lists; keyed by file name."""
    meta_path = seeds_dir / "sources.yaml"
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourcesError(f"{meta_path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SourcesError(f"{meta_path}: invalid YAML: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("documents"), list):
        raise SourcesError(f"{meta_path}: expected a top-level 'documents:' list")
    documents: dict[str, Document] = {}
    for item in meta["documents"]:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise SourcesError(f"{meta_path}: every document needs a 'file'")
        path = seeds_dir / item["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SourcesError(f"{meta_path}: {item['file']}: cannot read: {exc.strerror}") from None
        related = item.get("related") or {}
        documents[item["file"]] = Document(
            file=item["file"],
            title=str(item.get("title") or item["file"]),
            text=text,
            url=item.get("url") or None,
            author=item.get("author") or None,
            publisher=item.get("publisher") or None,
            related_title=related.get("title") if isinstance(related, dict) else None,
            related_url=related.get("url") if isinstance(related, dict) else None,
        )
    return documents
