"""The code's layout keeps its promises: knowledge/ takes its settings as arguments."""

from __future__ import annotations

import re

from repo_paths import ROOT


def test_knowledge_reads_no_environment_variable() -> None:
    # Settings are read once, in bot/config.py, and passed in: knowledge/ is usable (and testable) without them.
    readers = re.compile(r"\bos\.environ\b|\bgetenv\(|\bload_dotenv\(")
    offending = [str(path.relative_to(ROOT)) for path in (ROOT / "knowledge").rglob("*.py")
                 if readers.search(path.read_text(encoding="utf-8"))]
    assert offending == []
