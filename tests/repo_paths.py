"""Where the repository's parts are, for tests (not a conftest: that name is shared by every test folder)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FAQ = ROOT / "tests" / "fixtures" / "faq"
SEEDS = ROOT / "seeds"
