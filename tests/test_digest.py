"""The weekly digest: when it is due (day, hour, time zone, summer time), what it says about a week in a store (answer
rate and its trend, top unanswered groups, 👎 with reasons, what was taught, hand-offs), escaped, within Slack's
limits; and the week's row in the store that lets one replica only claim it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from repo_paths import FIXTURE_FAQ

from bot.config import ConfigError, DigestSettings, Settings
from bot.digest import Schedule, answer_rate_text, as_text, build_digest, digest_reply
from bot.store import QuestionRecord, Store, VoteRecord, as_utc
from knowledge import KnowledgeBase

MONDAY_9 = Schedule(0, 9, UTC)
END = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday
HOSTILE = "who made <!channel> llama? <@U0EVIL> =cmd()"


def test_a_digest_is_due_at_its_hour_on_its_day_and_covers_the_week_before() -> None:
    assert MONDAY_9.due(END) == END
    assert MONDAY_9.due(END - timedelta(seconds=1)) == END - timedelta(days=7)
    assert MONDAY_9.due(END + timedelta(days=6, hours=23)) == END
    assert MONDAY_9.start(END) == END - timedelta(days=7)
    assert MONDAY_9.key(END) == "2026-12-07" and MONDAY_9.key(END, "T1") == "2026-12-07:T1"
    # The week that holds a date: a Monday is the digest due that day, a Tuesday the next Monday's.
    assert MONDAY_9.week_of(date(2026, 12, 7)) == END
    assert MONDAY_9.week_of(date(2026, 12, 8)) == END + timedelta(days=7)
    assert MONDAY_9.week_of(date(2026, 12, 6)) == END
    friday = Schedule(4, 17, UTC)
    assert friday.due(END) == datetime(2026, 12, 4, 17, tzinfo=UTC)


def test_in_a_time_zone_it_is_due_by_the_local_clock_across_summer_time() -> None:
    berlin = Schedule(6, 8, ZoneInfo("Europe/Berlin"))  # Sundays at 08:00 in Berlin
    # Summer time ends on Sunday 2026-10-25: the week to it is an hour longer, and both ends are 08:00 local.
    end = berlin.due(datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert end.astimezone(UTC) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert berlin.start(end).astimezone(UTC) == datetime(2026, 10, 18, 6, 0, tzinfo=UTC)
    assert berlin.due(datetime(2026, 10, 25, 6, 59, tzinfo=UTC)) == berlin.start(end)


@pytest.fixture
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ)


def seed(store: Store) -> None:
    week, before = END - timedelta(days=3), END - timedelta(days=10)
    asked = [
        *(QuestionRecord(week, "mention", "answer", entry_id="licensing", text="licence terms") for _ in range(3)),
        QuestionRecord(week, "dm", "none", text=HOSTILE), QuestionRecord(week, "dm", "none", text=HOSTILE),
        QuestionRecord(week, "mention", "suggest", entry_id="llama", text="who owns the weights"),
        QuestionRecord(week, "click", "answer", entry_id="llama"),
        QuestionRecord(before, "mention", "answer", entry_id="licensing", text="licence"),
        QuestionRecord(before, "mention", "none", text="weather"),
        QuestionRecord(END + timedelta(hours=1), "mention", "none", text="after the week"),
    ]
    store.add_questions([QuestionRecord(**{**vars(q), "asked_at": as_utc(q.asked_at)}) for q in asked])
    store.add_vote(VoteRecord("C1:1", "bob", "licensing", False, as_utc(week)))
    store.add_vote_reason("C1:1", "bob", "outdated", "The 2024 licence <!here> changed", as_utc(week))
    store.add_taught("who owns the weights", "llama", None, "UADMIN", at=as_utc(week))


def test_the_digest_says_the_weeks_answer_rate_and_trend_top_unanswered_reasons_and_teaching(
        store_url: str, kb: KnowledgeBase) -> None:
    store = Store(store_url)
    try:
        seed(store)
        digest = build_digest(store, MONDAY_9, END, [e.id for e in kb.knowledge.entries])
    finally:
        store.close()
    assert (digest.week.questions, digest.before.questions, digest.week.clicked) == (6, 2, 1)
    assert answer_rate_text(digest) == ("*6* questions, *50%* answered (1 with suggestions only, 2 declined); the same "
                                        "as 50% of 2 the week before. 1 more answer given by a click on a button.")
    reply = digest_reply(kb, digest)
    shown = "\n".join(b["text"]["text"] for b in reply.blocks if b["type"] in ("header", "section"))
    assert "FAQ digest: Mon 30 Nov to Mon 07 Dec 2026, 09:00 UTC" in shown
    assert "• *2×* “who made &lt;!channel&gt; llama? &lt;@U0EVIL&gt; =cmd()” (declined 2, suggested 0)" in shown
    assert "(declined 0, suggested 1; taught since)" in shown  # the question taught that week
    assert "• `licensing`: 1 👎, 0 👍 · outdated 1 · “The 2024 licence &lt;!here&gt; changed”" in shown
    assert "“who owns the weights” → *What are Meta's LLaMA models?*" in shown
    assert "after the week" not in shown
    for ping in ("<!", "<@"):
        assert ping not in shown and ping not in reply.text
    assert len(reply.blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in reply.blocks if "text" in b)
    text = as_text(reply)
    assert text.startswith("FAQ digest: Mon 30 Nov") and "who made <!channel> llama?" in text  # a terminal: as typed


def test_the_trend_says_which_way_and_how_far(kb: KnowledgeBase, tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        week, before = as_utc(END - timedelta(days=1)), as_utc(END - timedelta(days=8))
        store.add_questions([QuestionRecord(week, "dm", "answer", entry_id="llama", text="a"),
                             QuestionRecord(before, "dm", "none", text="b"),
                             QuestionRecord(before, "dm", "answer", entry_id="llama", text="c")])
        digest = build_digest(store, MONDAY_9, END, [])
    finally:
        store.close()
    assert "*100%* answered (0 with suggestions only, 0 declined); ▲ 50 points from 50% of 2 the week before" in (
        answer_rate_text(digest))


def test_a_digest_is_claimed_once_and_again_only_when_asked(store_url: str) -> None:
    store = Store(store_url)
    try:
        start = as_utc(END - timedelta(days=7))
        assert store.claim_digest("2026-12-07", start, as_utc(END), "host:1") is True
        assert store.claim_digest("2026-12-07", start, as_utc(END), "host:2") is False
        store.finish_digest("2026-12-07", "posted", "CDIGEST", "1.2")
        record = store.digest_record("2026-12-07")
        assert record is not None and (record.status, record.claimed_by, record.ts) == ("posted", "host:1", "1.2")
        assert store.claim_digest("2026-12-07", start, as_utc(END), "operator", again=True) is True
        record = store.digest_record("2026-12-07")
        assert record is not None and (record.status, record.claimed_by, record.ts) == ("claimed", "operator", None)
        assert store.digest_record("2026-12-14") is None
    finally:
        store.close()


@pytest.mark.parametrize(("env", "line"), [
    ({"DIGEST_DAY": "someday"}, "DIGEST_DAY='someday' is not a day of the week"),
    ({"DIGEST_HOUR": "24"}, "DIGEST_HOUR='24' is not an hour from 0 to 23"),
    ({"DIGEST_HOUR": "9.5"}, "DIGEST_HOUR='9.5' is not an hour from 0 to 23"),
    ({"DIGEST_TIMEZONE": "Mars/Olympus"}, "DIGEST_TIMEZONE='Mars/Olympus' is not a time zone"),
    ({"DIGEST_TIMEZONE": "../../etc/passwd"}, "DIGEST_TIMEZONE='../../etc/passwd' is not a time zone"),
    ({"DIGEST_CHANNEL": "#Has Spaces"}, "DIGEST_CHANNEL='#Has Spaces' is not a channel"),
    ({"HANDOFF_CHANNEL": "<#C123|x>"}, "HANDOFF_CHANNEL='<#C123|x>' is not a channel"),
    ({"DIGEST_CHANNEL": "#faq", "STORE_ENABLED": "false"}, "DIGEST_CHANNEL is set and STORE_ENABLED=false"),
    ({"HANDOFF_CHANNEL": "C0TEAM", "STORE_ENABLED": "false"}, "HANDOFF_CHANNEL is set and STORE_ENABLED=false"),
])
def test_each_mistake_in_the_digest_and_handoff_settings_is_one_line(env: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"STORE_PATH": "s.sqlite3", **env})
    assert [found for found in refused.value.lines if found.startswith(line)], refused.value.lines


def test_every_mistake_is_said_in_one_run_and_good_settings_are_read() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"DIGEST_DAY": "x", "DIGEST_HOUR": "-1", "DIGEST_TIMEZONE": "Nowhere",
                           "HANDOFF_CHANNEL": "a b", "DIGEST_CHANNEL": "@me"})
    assert len(refused.value.lines) == 5
    read = Settings.from_env({"DIGEST_CHANNEL": "#faq-digest", "DIGEST_DAY": "Fri", "DIGEST_HOUR": "17",
                              "DIGEST_TIMEZONE": "Europe/Berlin"}).digest
    assert read == DigestSettings("#faq-digest", 4, 17, "Europe/Berlin")
    assert Settings.from_env({"DIGEST_CHANNEL": "C0DIGEST"}).digest == DigestSettings("C0DIGEST")
    slack = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "HANDOFF_CHANNEL": "llm-team"},
                              mode="socket").slack
    assert slack is not None and slack.handoff_channel == "#llm-team"
