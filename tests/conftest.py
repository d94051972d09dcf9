from __future__ import annotations

import pytest
from repo_paths import FIXTURE_FAQ


@pytest.fixture
def fixture_faq_text() -> str:
    return (FIXTURE_FAQ / "small.yaml").read_text(encoding="utf-8")
