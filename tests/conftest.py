from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FAQ = ROOT / "tests" / "fixtures" / "faq"
SEEDS = ROOT / "seeds"


@pytest.fixture
def fixture_faq_text() -> str:
    return (FIXTURE_FAQ / "small.yaml").read_text(encoding="utf-8")
