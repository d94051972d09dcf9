from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import postgres
import pytest
from browser import find_chromium
from repo_paths import FIXTURE_FAQ


@pytest.fixture(autouse=True)
def store_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Whatever a test starts records questions in a store of the test's own, never in the repository."""
    path = tmp_path / "store.sqlite3"
    monkeypatch.setenv("STORE_PATH", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return path


@pytest.fixture
def fixture_faq_text() -> str:
    return (FIXTURE_FAQ / "small.yaml").read_text(encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, then a database on a real PostgreSQL server (skips without one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Server]:
    """One PostgreSQL server for the session: TEST_DATABASE_URL's when set, else a throwaway one on 127.0.0.1
    (tests/postgres.py); skips with the reason when none can be had, stopped at the end."""
    try:
        url = os.environ.get("TEST_DATABASE_URL")
        server = postgres.external_server(url) if url else postgres.start_server()
    except postgres.Unavailable as error:
        pytest.skip(f"no PostgreSQL server: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: postgres.Server) -> Iterator[str]:
    """A fresh, empty database for this test: `postgresql+psycopg://user@127.0.0.1:PORT/name`, dropped after."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless Chromium binary tests/browser.py drives; skips with the reason when there is none."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (`.ci/run` installs Debian's chromium with apt-get when permitted)")
    return binary
