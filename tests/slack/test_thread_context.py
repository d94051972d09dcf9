"""A mention in a thread reads the thread when its own words are not enough: the parent and the latest message
(conversations.replies, through the fake Slack over real HTTP), and says what it took the question to be about."""

from __future__ import annotations

import asyncio

from bot.fakeslack import FakeSlack
from bot.thread_context import KEPT, MAX_CHARS, context_of
from knowledge import KnowledgeBase

from .slackkit import all_text, start_slack

# The tests use the shipped FAQ (shipped_kb): the fixture FAQ has too few entries for a thread to be read against.
VAGUE = "so what should we watch out for?"


async def _thread_about_licences(fake: FakeSlack) -> str:
    await fake.message("we're picking a downloadable model for the support product, and legal is asking questions",
                       user="UANNA", channel="CGENERAL", channel_type="channel")
    parent = max(fake.sent, key=float)
    await fake.thread_reply("the licence terms differ a lot between models, some forbid commercial use",
                            parent, user="UBEN")
    return parent


async def test_a_vague_mention_in_a_thread_is_answered_from_what_the_thread_is_about(
        fake: FakeSlack, shipped_kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, shipped_kb)
    try:
        parent = await _thread_about_licences(fake)
        await fake.mention(VAGUE, user="UCARA", thread_ts=parent)
        reply = await slack.reply()
        assert reply["thread_ts"] == parent
        assert reply["text"].startswith("Reading the thread, I took this to be about: _Can we use")
        assert "read the licence" in all_text(reply["blocks"])
        (read,) = fake.calls_to("conversations.replies")
        assert read.args["channel"] == "CGENERAL" and read.args["ts"] == parent
    finally:
        await slack.runner.cleanup()


async def test_a_mention_clear_on_its_own_or_declined_on_its_own_does_not_read_the_thread(
        fake: FakeSlack, shipped_kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, shipped_kb)
    try:
        parent = await _thread_about_licences(fake)
        await fake.mention("what are the licence terms for open models", thread_ts=parent)
        answered = await slack.reply()
        assert "Reading the thread" not in answered["text"]
        await fake.mention("what's the weather in berlin tomorrow?", thread_ts=parent)
        declined = await slack.reply(count=2)
        assert "outside what my documents cover" in declined["text"]
        assert fake.calls_to("conversations.replies") == []
    finally:
        await slack.runner.cleanup()


async def test_without_permission_to_read_the_thread_the_mention_is_answered_on_its_own(
        fake: FakeSlack, shipped_kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, shipped_kb)
    try:
        parent = await _thread_about_licences(fake)
        fake.fail("conversations.replies", "missing_scope")
        await fake.mention(VAGUE, thread_ts=parent)
        reply = await slack.reply()
        assert "Reading the thread" not in reply["text"]
        assert slack.holder.counters.failed_replies == 0
    finally:
        await slack.runner.cleanup()


async def test_a_burst_of_mentions_in_one_thread_reads_it_once(fake: FakeSlack, shipped_kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, shipped_kb)
    try:
        parent = await _thread_about_licences(fake)
        await asyncio.gather(*(fake.mention(VAGUE, user=user, thread_ts=parent) for user in ("UCARA", "UDAN", "UEVE")))
        await fake.wait_for("chat.postMessage", 3)
        await asyncio.sleep(0.1)
        assert len(fake.calls_to("conversations.replies")) == 1
    finally:
        await slack.runner.cleanup()


def test_the_context_keeps_people_s_latest_messages_before_the_mention_each_clipped() -> None:
    messages = [{"ts": "1.0", "user": "UA", "text": "parent " + "x" * 2000}]
    messages += [{"ts": f"{2 + i}.0", "user": "UB", "text": f"reply {i}"} for i in range(KEPT + 5)]
    messages += [{"ts": "100.0", "user": "UBOT", "bot_id": "B1", "text": "the bot's own answer"},
                 {"ts": "101.0", "user": "UC", "text": "the mention itself"},
                 {"ts": "102.0", "user": "UD", "text": "after the mention"}]
    found = context_of(messages, "1.0", before="101.0")
    assert found.parent.startswith("parent") and len(found.parent) == MAX_CHARS
    assert found.latest == tuple(f"reply {i}" for i in range(5, KEPT + 5))
    assert context_of([{"ts": "1.0", "bot_id": "B1", "text": "posted by a bot"}], "1.0", "2.0").parent == ""
