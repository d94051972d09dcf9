from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import postgres
import pytest
import redis
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


REDIS = shutil.which("redis-server")
REDIS_STARTUP_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence) for the session; its URL. Skips without one."""
    if REDIS is None:
        pytest.skip("redis-server is not installed (`.ci/run` installs it with apt-get when permitted)")
    port = _free_port()
    process = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + REDIS_STARTUP_SECONDS
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("redis-server did not start") from None
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(REDIS_STARTUP_SECONDS)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's redis-server, emptied for this test."""
    redis.Redis.from_url(redis_server).flushdb()
    return redis_server


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless Chromium binary tests/browser.py drives; skips with the reason when there is none."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (`.ci/run` installs Debian's chromium with apt-get when permitted)")
    return binary
