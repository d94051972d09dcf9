"""`openllm-bot report` on a seeded store with known counts, in text, CSV and HTML."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from browser import open_in_chromium
from repo_paths import FIXTURE_FAQ, ROOT

from bot.report import MAX_QUESTION_CHARS, Report, build_report, group_questions, parse_since, report_from_store
from bot.report_formats import as_csv, as_html, as_text
from bot.store import QuestionRecord, Store, TaughtRecord, VoteRecord, utcnow

NOW = datetime(2026, 11, 20, 12, 0)
DAY = timedelta(days=1)


def q(text: str | None, outcome: str, days_ago: float = 0, surface: str = "mention",
      entry: str | None = None) -> QuestionRecord:
    return QuestionRecord(NOW - days_ago * DAY, surface, outcome, "T1", "C1", "h", entry, 0.5, text)  # type: ignore[arg-type]


SEED = [
    # three wordings of one unanswered question, asked four times
    q("can i run llama on my phone", "none", 1),
    q("can i run llama on my phone", "none", 2),
    q("can llama run on phones?", "suggest", 2, "dm", "hardware"),
    q("can i run llama on a phone", "suggest", 3, "slash", "hardware"),
    # another, asked twice
    q("what's the weather in berlin", "none", 1),
    q("whats the weather in berlin?", "none", 1, "dm"),
    # a lone one with its text not kept
    q(None, "none", 1),
    # answers
    q("licence terms", "answer", 0, entry="licensing"),
    q("can we sell a llama product", "answer", 1, "slash", "licensing"),
    q("who made llama", "answer", 2, "dm", "llama"),
    # outside the period
    q("ancient question", "none", 30),
]
VOTES = [
    VoteRecord("C1:1", "alice", "licensing", True, NOW),
    VoteRecord("C1:1", "bob", "licensing", False, NOW),
    VoteRecord("C1:2", "bob", "licensing", False, NOW - DAY),
    VoteRecord("C1:3", "carol", "llama", True, NOW - DAY),
]


@pytest.fixture
def report() -> Report:
    return build_report(SEED, VOTES, NOW - 7 * DAY, NOW, entry_ids=["licensing", "llama", "hardware"])


def test_counts_per_outcome_surface_and_vote(report: Report) -> None:
    assert report.questions == 10
    assert report.outcomes == {"answer": 3, "suggest": 2, "none": 5}
    assert report.surfaces == {"mention": 5, "dm": 3, "slash": 2, "thread": 0}
    assert (report.helpful, report.unhelpful) == (2, 2)


def test_unanswered_near_duplicates_are_grouped_and_ranked_by_how_often_asked(report: Report) -> None:
    first, second = report.unanswered
    assert (first.text, first.count, first.declined, first.suggested, first.guess) == (
        "can i run llama on my phone", 4, 2, 2, "hardware")
    assert set(first.wordings) == {"can i run llama on my phone", "can llama run on phones?",
                                   "can i run llama on a phone"}
    assert (second.count, len(second.wordings)) == (2, 2)
    assert report.text_not_kept == 1


def test_distinct_questions_are_not_grouped_together() -> None:
    groups = group_questions([q("what is mistral", "none"), q("what is falcon", "none"),
                              q("llama", "none"), q("llama on a phone", "none")])
    assert len(groups) == 4


def test_per_entry_answers_and_votes_including_entries_nobody_got(report: Report) -> None:
    entries = {e.id: (e.answered, e.helpful, e.unhelpful) for e in report.entries}
    assert entries == {"licensing": (2, 1, 2), "llama": (1, 1, 0), "hardware": (0, 0, 0)}
    assert [e.id for e in report.least_helpful()] == ["licensing"]


def test_every_day_of_the_period_is_listed_with_its_outcomes(report: Report) -> None:
    assert len(report.days) == 8
    by_day = {d.day.isoformat(): (d.answer, d.suggest, d.none) for d in report.days}
    assert by_day["2026-11-19"] == (1, 0, 4) and by_day["2026-11-18"] == (1, 1, 1)
    assert by_day["2026-11-15"] == (0, 0, 0)
    assert sum(d.total for d in report.days) == report.questions


def test_text_report(report: Report) -> None:
    text = as_text(report)
    assert "Questions: 10 (answered 3, 30%; suggested 2; declined 5)" in text
    assert "By surface: mention 5, dm 3, slash 2" in text
    assert '4x  "can i run llama on my phone"  (declined 2, suggested 2, did you mean: hardware)' in text
    assert "(text not kept: STORE_QUESTION_TEXT=false)" in text
    assert "ancient question" not in text
    assert [line.split() for line in text.splitlines() if line.strip().startswith("licensing")] == [
        ["licensing", "2", "1", "2"]]
    assert "  Not answered and no votes: hardware" in text  # one line, not a row of zeros


def test_csv_report_is_one_table_with_a_section_per_kind_of_row(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(report))))
    sections = {r["section"] for r in rows}
    assert sections == {"unanswered", "entry", "day", "surface", "taught"}
    [phone] = [r for r in rows if r["item"] == "can i run llama on my phone"]
    assert (phone["count"], phone["declined"], phone["suggested"]) == ("4", "2", "2")
    [licensing] = [r for r in rows if r["section"] == "entry" and r["item"] == "licensing"]
    assert (licensing["answered"], licensing["helpful"], licensing["not_helpful"]) == ("2", "1", "2")
    assert sum(int(r["count"]) for r in rows if r["section"] == "day") == 10
    assert sum(int(r["count"]) for r in rows if r["section"] == "surface") == 10


def test_html_report_is_self_contained_and_escapes_what_people_typed() -> None:
    hostile = [q('<script>alert("x")</script> & <img src=http://evil.test/x>', "none")]
    page = as_html(build_report(hostile, [], NOW - DAY, NOW))
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "http://evil.test" not in page.replace("src=http://evil.test", "")  # only as escaped text
    assert "<img" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for fetching in ("<script", "<link", "@import", "url("):
        assert fetching not in page


def test_html_chart_has_a_bar_per_outcome_and_day(report: Report) -> None:
    page = as_html(report)
    assert page.count('class="bar answer"') == 3  # three days with answers
    assert page.count('class="bar none"') == 2 and page.count('class="bar suggest"') == 2


def taught(days_ago: float, undone: bool = False) -> TaughtRecord:
    at = NOW - days_ago * DAY
    return TaughtRecord(0, "a taught phrasing", "licensing", None, "UADMIN", at, at if undone else None,
                        "UADMIN" if undone else None)


# Taught 2.5 days ago, within the period: SEED's questions before it (days 3 and 30 ago; 30 is outside the period)
# and from it on. One taught earlier was undone, one before the period does not count.
TAUGHT = [taught(2.5), taught(0.5), taught(2.9, undone=True), taught(9)]


def test_phrasings_taught_in_the_period_and_the_answer_rate_before_the_first_and_since() -> None:
    report = build_report(SEED, VOTES, NOW - 7 * DAY, NOW, taught=TAUGHT)
    assert (report.taught, report.first_taught) == (2, NOW - 2.5 * DAY)
    assert (report.asked_before, report.answered_before, report.asked_after, report.answered_after) == (1, 0, 9, 3)
    assert (report.answer_rate_before, report.answer_rate_after) == (0.0, pytest.approx(3 / 9))
    assert report.questions == 10  # the rest of the report is as without teaching
    assert build_report(SEED, VOTES, NOW - 7 * DAY, NOW) == replace(
        report, taught=0, first_taught=None, asked_before=0, answered_before=0, asked_after=0, answered_after=0)


def test_without_teaching_or_without_questions_on_one_side_there_is_no_answer_rate_to_compare(
        report: Report) -> None:
    assert (report.taught, report.first_taught, report.answer_rate_before, report.answer_rate_after) == (
        0, None, None, None)
    early = build_report(SEED, VOTES, NOW - 7 * DAY, NOW, taught=[taught(6)])
    assert early.answer_rate_before is None and early.answer_rate_after == pytest.approx(3 / 10)
    late = build_report(SEED, VOTES, NOW - 7 * DAY, NOW, taught=[taught(-0.1)])  # after the period ends
    assert late.taught == 0 and late.answer_rate_after is None


def test_text_and_html_reports_say_what_was_taught_and_how_the_answer_rate_moved() -> None:
    report = build_report(SEED, VOTES, NOW - 7 * DAY, NOW, taught=TAUGHT)
    line = ("Taught from Slack: 2 phrasings (the first 2026-11-18 00:00); answered before it: 0% of 1, "
            "since: 33% of 9")
    assert line in as_text(report).splitlines()
    assert f"<li>{line}</li>" in as_html(report)
    nothing_before = build_report(SEED, VOTES, NOW - 7 * DAY, NOW, taught=[taught(6)])
    assert ("Taught from Slack: 1 phrasing (the first 2026-11-14 12:00); answered before it: no questions, "
            "since: 30% of 10") in as_text(nothing_before)


def test_text_report_says_when_nothing_was_taught(report: Report) -> None:
    assert "Taught from Slack: none" in as_text(report).splitlines()


def test_csv_report_has_the_taught_count_and_the_questions_either_side_of_the_first() -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(build_report(SEED, VOTES, NOW - 7 * DAY, NOW, taught=TAUGHT)))))
    taught_rows = [(r["item"], r["count"], r["answered"], r["detail"]) for r in rows if r["section"] == "taught"]
    assert taught_rows == [("phrasings taught", "2", "", "first 2026-11-18 00:00"),
                           ("asked before the first", "1", "0", "0% answered"),
                           ("asked since the first", "9", "3", "33% answered")]


def test_csv_report_without_teaching_has_only_the_count(report: Report) -> None:
    rows = list(csv.reader(io.StringIO(as_csv(report), newline="")))
    assert [row for row in rows if row[0] == "taught"] == [["taught", "phrasings taught", "0", "", "", "", "", "",
                                                            ""]]


@pytest.mark.parametrize("given, expected", [
    ("7d", NOW - 7 * DAY), ("12h", NOW - timedelta(hours=12)), ("2w", NOW - 14 * DAY),
    ("2026-11-01", datetime(2026, 11, 1)), ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9)),
])
def test_since_takes_a_span_or_a_date(given: str, expected: datetime) -> None:
    assert parse_since(given, NOW) == expected


def test_since_that_is_neither_says_what_it_takes() -> None:
    with pytest.raises(ValueError, match="7d, 12h or 2w"):
        parse_since("last tuesday", NOW)


def test_report_from_a_store_matches_the_records_it_holds(store_url: str) -> None:
    store = Store(store_url)
    store.add_questions(SEED)
    for vote in VOTES:
        store.add_vote(vote)
    from_store = report_from_store(store, NOW - 7 * DAY, NOW, ["licensing", "llama", "hardware"])
    store.close()
    assert from_store == build_report(SEED, VOTES, NOW - 7 * DAY, NOW, ["licensing", "llama", "hardware"])


def run_report(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "STORE_PATH": str(store), "HOME": str(store.parent)}
    return subprocess.run([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), "report", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_report_command_writes_each_format(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    recent = [QuestionRecord(utcnow() - timedelta(hours=h), "mention", "none", text="how do i bake bread")
              for h in (1, 2)]
    store = Store(f"sqlite:///{path}")
    store.add_questions(recent)
    store.close()
    text = run_report(path)
    assert text.returncode == 0, text.stderr
    assert '2x  "how do i bake bread"' in text.stdout and "licensing" in text.stdout
    out = tmp_path / "report.html"
    html = run_report(path, "--since", "2d", "--format", "html", "-o", str(out))
    assert html.returncode == 0 and "wrote" in html.stderr
    assert "how do i bake bread" in out.read_text()
    assert run_report(path, "--format", "csv").stdout.startswith("section,item,count,")
    bad = run_report(path, "--since", "yesterday")
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr


async def test_html_report_draws_its_chart_in_chromium_and_asks_for_nothing_outside_the_file(
        report: Report, tmp_path: Path, chromium: str) -> None:
    page = tmp_path / "report.html"
    page.write_text(as_html(report), encoding="utf-8")
    # What a person sees: the chart laid out with bars of real size, one per day and outcome.
    script = """(() => {
        const chart = document.getElementById('volume-chart');
        const box = chart.getBoundingClientRect();
        const bars = [...chart.querySelectorAll('rect.bar')].map(r => r.getBBox());
        return {width: box.width, height: box.height, bars: bars.length,
                drawn: bars.filter(b => b.width > 0 && b.height > 0).length,
                tables: document.querySelectorAll('table').length};
    })()"""
    result = await open_in_chromium(page, script, binary=chromium)
    assert result.value["width"] > 300 and result.value["height"] > 100
    assert result.value["bars"] == result.value["drawn"] == 7  # 3 answer + 2 suggest + 2 none
    assert result.value["tables"] == 4
    assert result.external_requests == [] and result.failed == [] and result.errors == []


FORMULAS = ["=cmd|'/C calc'!A0", "+1+1", "-2+3", "@SUM(1)", "\t=1+1", "\r=1+1"]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() -> None:
    # Anyone in Slack can put text in the report: none of it may reach a spreadsheet as a formula (OWASP's rule).
    asked = [q(text, "none") for text in FORMULAS] + [q("=1+2 again", "suggest", entry="=evil")]
    report = build_report(asked, [], NOW - DAY, NOW, entry_ids=["-entry"])
    rows = list(csv.reader(io.StringIO(as_csv(report), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    for text in [*FORMULAS, "=1+2 again", "=evil", "-entry"]:
        assert text not in cells
    assert "'=cmd|'/C calc'!A0" in cells and "'@SUM(1)" in cells and "'-entry" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def _distinct_questions(count: int, seed: int = 7) -> list[QuestionRecord]:
    import random
    import string

    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(3000)]
    return [q("can llama " + " ".join(rng.choices(vocabulary, k=rng.randint(3, 8))), "none") for _ in range(count)]


def test_grouping_many_distinct_questions_takes_about_linear_time() -> None:
    # Anyone can fill the store by DMing random text: 10,000 distinct questions took ~30 s when every wording was
    # compared with every group.
    import time

    started = time.perf_counter()
    groups = group_questions(_distinct_questions(10_000))
    assert time.perf_counter() - started < 8
    assert len(groups) == 10_000


def test_a_near_duplicate_is_still_found_among_many_groups_sharing_common_words() -> None:
    asked = [*_distinct_questions(2_000), q("can llama run on a raspberry pi zero", "none"),
             q("can llama run on raspberry pi zero?", "suggest")]
    [group] = [g for g in group_questions(asked) if "raspberry" in g.text]
    assert group.count == 2


def test_long_questions_are_clipped_in_every_output() -> None:
    long = "why " + "very " * 8_000 + "long"
    report = build_report([q(long, "none"), q(long + "!", "none")], [], NOW - DAY, NOW)
    assert len(report.unanswered[0].text) <= MAX_QUESTION_CHARS
    for output in (as_text(report), as_csv(report), as_html(report)):
        assert "very " * 100 not in output
        assert len(output) < 5_000


def test_only_the_most_recent_unanswered_questions_are_grouped_when_bounded() -> None:
    asked = [q(f"old question {i}", "none", days_ago=2) for i in range(5)] + [q("new question", "none")]
    report = build_report(asked, [], NOW - 7 * DAY, NOW, max_grouped=1)
    assert [g.text for g in report.unanswered] == ["new question"]
    assert (report.questions, report.not_grouped) == (6, 5)
    assert "5x  (older, not grouped)" in as_text(report)


# Reading commands read: a mistyped path, a foreign database or a read-only file must not be created, changed or
# refused. Only `serve` and `console` create a store.

def run_report_with(env: dict[str, str], *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "EMBEDDING_CACHE_DIR": "", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), "report", *args],
                          capture_output=True, text=True, cwd=ROOT, env={**base, **env}, timeout=120, **options)


def _one_line_failure(out: subprocess.CompletedProcess[str], says: str) -> None:
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("openllm-bot: ") and says in out.stderr, out.stderr


def test_report_on_a_missing_sqlite_store_fails_in_one_line_creating_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    mistyped = run_report_with({"HOME": str(home), "STORE_PATH": str(tmp_path / "typo" / "dir" / "store.sqlite3")})
    _one_line_failure(mistyped, "there is no store at")
    by_url = run_report_with({"HOME": str(home), "DATABASE_URL": f"sqlite:///{tmp_path}/nowhere/x.sqlite3"})
    _one_line_failure(by_url, "there is no store at")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no folder, no database, no key


def test_report_on_an_unrelated_sqlite_file_refuses_it_and_leaves_it_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "accounts.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO accounts (name) VALUES ('alice')")
    conn.close()
    before = path.read_bytes()
    out = run_report_with({"HOME": str(tmp_path / "home"), "STORE_PATH": str(path)})
    _one_line_failure(out, "is not an openllm-bot store")
    assert path.read_bytes() == before  # no tables added, still in its own journal mode (not WAL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.sqlite3", "home"]  # no -wal, -shm or .key


def test_report_reads_a_store_file_it_may_not_write(tmp_path: Path) -> None:
    import os
    import shutil

    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "store.sqlite3"
    store = Store(f"sqlite:///{path}")  # as the bot writes it: WAL
    store.add_questions([QuestionRecord(utcnow() - timedelta(hours=1), "mention", "none", text="bake bread")])
    store.close()
    path.chmod(0o444)
    folder.chmod(0o555)  # nor may a journal be created beside it
    before = path.read_bytes()
    prefix: list[str] = []
    if os.geteuid() == 0:  # root ignores mode bits: run the report without the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a read-only file cannot be made")
        prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    try:
        out = subprocess.run([*prefix, sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), "report"],
                             capture_output=True, text=True, cwd=ROOT, timeout=120,
                             env={"PATH": "/usr/bin:/bin", "EMBEDDING_CACHE_DIR": "", "HOME": str(tmp_path),
                                  "PYTHONDONTWRITEBYTECODE": "1", "STORE_PATH": str(path)})
        assert out.returncode == 0, out.stderr
        assert '1x  "bake bread"' in out.stdout
        assert path.read_bytes() == before
        assert [p.name for p in folder.iterdir()] == ["store.sqlite3"]
    finally:
        folder.chmod(0o755)


def test_report_on_a_postgresql_database_that_is_not_ours_refuses_it_and_creates_nothing(postgres_url: str) -> None:
    from sqlalchemy import create_engine, inspect

    env = {"HOME": "/nonexistent", "DATABASE_URL": postgres_url, "STORE_HASH_KEY": "0123456789abcdef0123"}
    _one_line_failure(run_report_with(env), "is not an openllm-bot store")
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
    missing = {**env, "DATABASE_URL": postgres_url.rsplit("/", 1)[0] + "/no_such_database"}
    _one_line_failure(run_report_with(missing), 'refused the connection: database "no_such_database" does not exist')


def test_report_reads_a_postgresql_store_the_bot_wrote(postgres_url: str) -> None:
    store = Store(postgres_url)
    store.add_questions([QuestionRecord(utcnow() - timedelta(hours=1), "dm", "none", text="bake bread")])
    store.close()
    out = run_report_with({"HOME": "/nonexistent", "DATABASE_URL": postgres_url,
                           "STORE_HASH_KEY": "0123456789abcdef0123"})
    assert out.returncode == 0, out.stderr
    assert '1x  "bake bread"' in out.stdout
