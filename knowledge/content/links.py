"""Links from a cited passage to the exact place in its document.

Text fragments follow the WICG syntax `#:~:text=start[,end]`; see
https://wicg.github.io/scroll-to-text-fragment/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote as _percent

from .model import Document, Source

# Characters a text directive may hold unencoded; everything else, '-', '&' and ',' included, is encoded.
_SAFE = "!$'()*+./:;=?@_~"
# Quotes longer than this many words link by their first and last few words.
LONG_QUOTE_WORDS = 8
EDGE_WORDS = 4
_WORD = re.compile(r"\S+")


def encode_fragment_text(text: str) -> str:
    return _percent(text, safe=_SAFE).replace("-", "%2D")


def _trim_punctuation(words: list[str]) -> list[str]:
    # A fragment matches whole words, so edge punctuation that ends a quote mid-sentence is harmless,
    # but a trailing comma or colon would make the link stricter than it needs to be.
    if words:
        words[-1] = words[-1].rstrip(",;:")
    return words


def text_fragment(quote: str) -> str:
    """`#:~:text=...` for `quote`: the whole passage when short, else its first and last words."""
    words = _trim_punctuation(_WORD.findall(quote))
    if len(words) <= LONG_QUOTE_WORDS:
        return "#:~:text=" + encode_fragment_text(" ".join(words))
    start = " ".join(words[:EDGE_WORDS])
    end = " ".join(words[-EDGE_WORDS:])
    return "#:~:text=" + encode_fragment_text(start) + "," + encode_fragment_text(end)


@dataclass(frozen=True)
class SourceLink:
    """How one cited passage is shown: the document's title, linked where possible."""

    title: str
    url: str | None
    lines: str
    related_title: str | None = None
    related_url: str | None = None


def source_link(document: Document, source: Source, base_url: str | None = None) -> SourceLink:
    """The link for `source`; documents without an address fall back to `base_url/seeds/<file>#L<a>-L<b>`."""
    lines = (f"line {source.line_start}" if source.line_start == source.line_end
             else f"lines {source.line_start}-{source.line_end}")
    if document.url:
        url: str | None = document.url + text_fragment(source.quote)
    elif base_url:
        url = f"{base_url.rstrip('/')}/seeds/{document.file}#L{source.line_start}-L{source.line_end}"
    else:
        url = None
    return SourceLink(title=document.title, url=url, lines=lines,
                      related_title=document.related_title, related_url=document.related_url)
