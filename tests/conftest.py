from __future__ import annotations

from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ


@pytest.fixture
def fixture_faq_text() -> str:
    return (FIXTURE_FAQ / "small.yaml").read_text(encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, then a database on a real PostgreSQL server (skips without one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("postgres_url")
