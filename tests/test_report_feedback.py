"""The report on what people said of the answers: the reasons given with 👎, answers posted by clicks counted apart
from questions, and unanswered questions an admin has taught since marked as such."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from bot.report import build_report, reason_counts
from bot.report_formats import as_csv, as_html, as_text
from bot.store import QuestionRecord, TaughtRecord, VoteReason, VoteRecord

NOW = datetime(2026, 11, 20, 12, 0)
DAY = timedelta(days=1)
SINCE = NOW - 7 * DAY


def q(text: str | None, outcome: str, surface: str = "mention", entry: str | None = None) -> QuestionRecord:
    return QuestionRecord(NOW - DAY, surface, outcome, "T1", "C1", "h", entry, 0.5, text)  # type: ignore[arg-type]


def reason(user: str, why: str | None, text: str | None = None, entry: str = "licensing") -> VoteReason:
    return VoteReason("C1:1", user, entry, why, text, NOW - DAY)


VOTES = [VoteRecord("C1:1", u, "licensing", False, NOW - DAY) for u in ("a", "b", "c")]


def test_reasons_are_counted_per_entry_and_what_people_wrote_is_listed() -> None:
    given = [reason("a", "wrong", "old"), reason("b", "wrong"), reason("c", None, "=HYPERLINK(\"http://evil\")")]
    report = build_report([q("licence", "answer", entry="licensing")], VOTES, SINCE, NOW, reasons=given)
    assert reason_counts(report.reasons_for("licensing")) == [("wrong answer", 2)]
    text = as_text(report)
    assert "Why answers were not helpful (👎 with a reason):\n  licensing: wrong answer 2\n" in text
    assert '    "old"' in text
    rows = [r for r in csv.DictReader(io.StringIO(as_csv(report))) if r["section"] == "reason"]
    assert [r["detail"] for r in rows] == ["wrong answer: old", "wrong answer", "'=HYPERLINK(\"http://evil\")"]
    assert "<h2>Why answers were not helpful</h2>" in as_html(report)


def test_a_reason_outside_the_period_or_for_an_entry_without_a_thumbs_down_in_it_is_left_out() -> None:
    given = [reason("a", "outdated"), VoteReason("C1:1", "z", "licensing", "wrong", None, NOW - 30 * DAY),
             reason("a", "missing", entry="llama")]
    report = build_report([], VOTES, SINCE, NOW, reasons=given)
    assert [(r.entry_id, r.reason) for r in report.reasons] == [("licensing", "outdated")]
    assert "Why answers were not helpful" not in as_text(build_report([], VOTES, SINCE, NOW))


def test_clicks_are_answers_for_their_entry_not_questions() -> None:
    records = [q("licence terms", "answer", entry="licensing"), q("weather", "none"),
               q(None, "answer", "click", "llama"), q(None, "answer", "click", "llama")]
    report = build_report(records, [], SINCE, NOW, entry_ids=["licensing", "llama"])
    assert (report.questions, report.answer_rate, report.clicked) == (2, 0.5, 2)
    assert report.surfaces == {"mention": 2, "dm": 0, "slash": 0, "thread": 0}
    assert sum(d.total for d in report.days) == 2 and report.text_not_kept == 0
    uses = {e.id: (e.answered, e.clicked) for e in report.entries}
    assert uses == {"licensing": (1, 0), "llama": (2, 2)}
    [llama] = [r for r in csv.DictReader(io.StringIO(as_csv(report))) if r["item"] == "llama"]
    assert llama["detail"] == "2 by clicks"


def test_unanswered_questions_taught_since_are_marked_whenever_they_were_taught() -> None:
    taught = [TaughtRecord(1, "Can I run  Llama on my phone", "hardware", None, "UADMIN", NOW - 40 * DAY),
              TaughtRecord(2, "what is the weather", None, None, "UADMIN", NOW, NOW, "UADMIN")]  # undone
    records = [q("can i run llama on my phone", "none"), q("can i run llama on my phone", "none"),
               q("can I run llama on my phone?", "none"), q("what is the weather", "none")]
    report = build_report(records, [], SINCE, NOW, taught=taught)
    marked = {g.text: g.taught for g in report.unanswered}
    assert marked == {"can i run llama on my phone": True, "what is the weather": False}
    assert report.taught == 0  # neither was taught within the period
    assert '"can i run llama on my phone"  (declined 3, suggested 0; taught since)' in as_text(report)
    assert "(taught since)" in as_html(report) and "(taught since)" in as_csv(report)
