"""A per-user limit on questions (RATE_LIMIT_PER_MINUTE): someone sending hundreds of messages a minute gets one
polite "slow down"; what is over the limit is neither answered nor recorded, and other people are not affected."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.fakeslack import FakeSlack
from bot.ratelimit import SLOW_DOWN, RateLimit
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase

from .slackkit import COMMAND, LICENSING_Q, start_slack, until

LIMIT = 5


async def test_a_flood_of_dms_gets_one_slow_down_and_is_neither_answered_nor_recorded(
        fake: FakeSlack, kb: KnowledgeBase, tmp_path) -> None:
    recorder = Recorder(Store(f"sqlite:///{tmp_path / 'store.sqlite3'}"), b"k" * 16)
    slack = await start_slack(fake, kb, recorder, rate_limit=LIMIT)
    try:
        await asyncio.gather(*(fake.message(f"{LICENSING_Q} {i}", user="UFLOOD") for i in range(200)))
        await fake.message(LICENSING_Q, user="UCALM", channel="DCALM")
        await until(lambda: len(fake.calls_to("chat.postMessage")) >= LIMIT + 2)
        await asyncio.sleep(0.3)  # nothing more is coming
        posted = [c.args for c in fake.calls_to("chat.postMessage")]
        to_flood = [a for a in posted if a["channel"] == "DALICE"]
        assert len(to_flood) == LIMIT + 1
        assert [a["text"] for a in to_flood].count(SLOW_DOWN) == 1
        assert [a["channel"] for a in posted].count("DCALM") == 1  # someone else is answered as usual
        assert recorder.flush()
        assert len(recorder.store.questions_since(datetime(2000, 1, 1))) == LIMIT + 1
        assert slack.holder.counters.failed_replies == 0
    finally:
        await slack.runner.cleanup()
        recorder.close()


async def test_the_slash_command_over_the_limit_is_told_privately_once(fake: FakeSlack, kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, kb, rate_limit=2)
    try:
        bodies = [await fake.slash(COMMAND, LICENSING_Q) for _ in range(5)]
        assert sum(SLOW_DOWN in body for _, body in bodies) == 1
        assert len(fake.calls_to("response_url")) == 2
    finally:
        await slack.runner.cleanup()


def test_the_limit_is_per_minute_and_resets_the_notice() -> None:
    now = [0.0]
    limit = RateLimit(2, clock=lambda: now[0])
    assert [limit.allow("a") for _ in range(4)] == [(True, False), (True, False), (False, True), (False, False)]
    assert limit.allow("b") == (True, False)
    now[0] = 61.0
    assert limit.allow("a") == (True, False)
    assert [limit.allow("a") for _ in range(2)] == [(True, False), (False, True)]
    assert RateLimit(0).allow("a") == (True, False)


async def test_clicks_that_answer_count_against_the_limit_and_the_first_over_it_is_told_privately(
        fake: FakeSlack, kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, kb, rate_limit=LIMIT)
    try:
        await fake.mention(LICENSING_Q, user="UALICE")
        await slack.reply()
        answer = fake.visible_messages("CGENERAL")[0]
        for _ in range(30):  # one by one, as a person (or a script) clicks
            await fake.click(answer, "related:llama", user="UALICE")
        await asyncio.sleep(0.3)  # nothing more is coming
        answered = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "CGENERAL"]
        assert len(answered) == LIMIT  # the mention and LIMIT - 1 clicks
        told = [c.args for c in fake.calls_to("response_url") if c.args.get("text") == SLOW_DOWN]
        assert len(told) == 1 and told[0]["response_type"] == "ephemeral"
        await fake.click(answer, "helpful:licensing", user="UALICE")  # a vote answers nothing: never limited
        await fake.wait_for("chat.postEphemeral")
        assert slack.holder.counters.failed_replies == 0
    finally:
        await slack.runner.cleanup()
