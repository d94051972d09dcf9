"""The test harnesses themselves: a real PostgreSQL database per test (conftest `postgres_url`, tests/postgres.py)
and headless Chromium driven over the DevTools Protocol (tests/browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import PageResult, PageScriptError, open_in_chromium
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, inspect, select

SEEN_URLS: list[str] = []


def test_postgres_url_is_a_working_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    metadata = MetaData()
    notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String(50)))
    engine = create_engine(postgres_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(insert(notes), [{"text": "héllo"}, {"text": "world"}])
        with engine.connect() as connection:
            assert connection.execute(select(notes.c.text).order_by(notes.c.id)).scalars().all() == ["héllo", "world"]
            assert connection.dialect.name == "postgresql"
    finally:
        engine.dispose()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_empty_database(postgres_url: str, run: int) -> None:
    engine = create_engine(postgres_url)
    try:
        assert inspect(engine).get_table_names() == []  # nothing left by another test
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE leftover (id integer)")
    finally:
        engine.dispose()
    assert postgres_url not in SEEN_URLS
    SEEN_URLS.append(postgres_url)


def _write(tmp_path: Path, body: str) -> Path:
    page = tmp_path / "page.html"
    head = "<meta charset='utf-8'><title>t</title>"
    page.write_text(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>", encoding="utf-8")
    return page


SVG = "<svg width='200' height='100'><rect id='bar' x='10' y='10' width='120' height='30' fill='teal'/></svg>"


async def test_chromium_lays_out_svg_and_records_a_request_the_page_makes(chromium: str, tmp_path: Path) -> None:
    page = _write(tmp_path, SVG + "<img src='http://127.0.0.1:9/x.png' alt=''>")
    result = await open_in_chromium(page, "document.getElementById('bar').getBBox().width")
    assert isinstance(result, PageResult)
    assert result.value > 0  # laid out: getBBox is 0 for an SVG that is not rendered
    assert result.value == 120
    assert result.requests[0] == page.resolve().as_uri()
    assert result.external_requests == ["http://127.0.0.1:9/x.png"]
    assert [url for url, _ in result.failed] == ["http://127.0.0.1:9/x.png"]  # port 9: nothing listens


async def test_a_self_contained_page_requests_nothing_but_itself(chromium: str, tmp_path: Path) -> None:
    script = "<script>document.getElementById('bar').setAttribute('width', 42)</script>"
    css = "<style>rect { stroke: black }</style>"
    page = _write(tmp_path, css + SVG + script)
    result = await open_in_chromium(page, "({w: document.getElementById('bar').getBBox().width, t: document.title})")
    assert result.value == {"w": 42, "t": "t"}
    assert result.external_requests == []
    assert result.requests == [page.resolve().as_uri()]
    assert result.failed == [] and result.errors == []


async def test_page_errors_are_reported_and_a_throwing_script_raises(chromium: str, tmp_path: Path) -> None:
    page = _write(tmp_path, "<script>console.error('drawn badly'); null.x</script>")
    result = await open_in_chromium(page, "1 + 1")
    assert result.value == 2
    assert result.errors[0] == "drawn badly" and "TypeError" in result.errors[1]
    with pytest.raises(PageScriptError, match="nope"):
        await open_in_chromium(page, "Promise.reject(new Error('nope'))")
