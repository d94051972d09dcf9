"""The README, docs/ and benchmarks/README.md link to each other by relative links: each points at a file that
exists and, with `#anchor`, at a heading there (as GitHub names headings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from repo_paths import ROOT

README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^()\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)


def _prose(path: Path) -> str:
    """The Markdown without its code blocks and code spans, where a `[x](y)` is not a link."""
    return _CODE.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of `path`: lower case, punctuation dropped, spaces as hyphens, and
    -1, -2... after a repeated one."""
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def relative_links(path: Path) -> list[str]:
    return [target for target in _LINK.findall(_prose(path)) if not re.match(r"[a-z][a-z+.-]*:", target)]


def test_the_readme_leads_to_every_doc() -> None:
    docs = set((ROOT / "docs").glob("*.md"))
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(README)}
    assert docs and docs <= linked


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(doc: Path) -> None:
    broken = []
    for target in relative_links(doc):
        file, _, anchor = target.partition("#")
        linked = (doc.parent / file).resolve() if file else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no such heading")
    assert broken == []
