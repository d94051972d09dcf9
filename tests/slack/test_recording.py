"""Questions and Helpful / Not helpful votes reach the store; the store never holds up or stops a reply;
admins see the last 7 days in their App Home."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest
from stuck_store import StuckStore

from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.state import KnowledgeHolder
from bot.store import QuestionRecord, Store, user_hash
from knowledge import KnowledgeBase

from .slackkit import COMMAND, LICENSING_Q, LLAMA_Q, OFF_TOPIC_Q, Slack, all_text, start_slack, until
from .slackkit import STORE_KEY as KEY

EPOCH = datetime(2000, 1, 1)


@pytest.fixture
async def recorded(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb, recorder, admin_user_ids=frozenset({"UADMIN"}))
    yield slack
    await slack.runner.cleanup()


def stored_questions(recorder: Recorder) -> list[QuestionRecord]:
    assert recorder.flush()
    return recorder.store.questions_since(EPOCH)


async def test_each_surface_records_its_question_with_outcome_entry_and_hashed_user(
        recorded: Slack, recorder: Recorder) -> None:
    fake = recorded.fake
    await fake.mention(LICENSING_Q, user="UALICE", channel="CGENERAL")
    await recorded.reply()
    await fake.message(OFF_TOPIC_Q, user="UBOB", channel="DBOB")
    await recorded.reply(count=2)
    await fake.slash(COMMAND, LLAMA_Q, user="UALICE", channel="CRANDOM")
    await recorded.reply("response_url")
    await until(lambda: len(stored_questions(recorder)) == 3)
    mention, dm, slash = stored_questions(recorder)
    assert (mention.surface, mention.outcome, mention.entry_id, mention.channel, mention.team) == (
        "mention", "answer", "licensing", "CGENERAL", fake.team)
    assert mention.text == LICENSING_Q and mention.score is not None and mention.score > 0.5
    assert (dm.surface, dm.outcome, dm.entry_id, dm.channel) == ("dm", "none", None, "DBOB")
    assert (slash.surface, slash.outcome, slash.entry_id, slash.channel) == ("slash", "answer", "llama", "CRANDOM")
    assert mention.user_hash == slash.user_hash == user_hash(KEY, fake.team, "UALICE") != dm.user_hash
    assert "UALICE" not in repr(stored_questions(recorder))


async def test_help_topics_and_empty_mentions_are_not_questions(recorded: Slack, recorder: Recorder) -> None:
    await recorded.fake.slash(COMMAND, "help")
    await recorded.fake.slash(COMMAND, "topics")
    await recorded.fake.mention("")
    await recorded.fake.mention(LLAMA_Q)
    await recorded.reply("response_url", 2)
    await recorded.reply(count=2)
    await until(lambda: len(stored_questions(recorder)) == 1)
    assert [q.entry_id for q in stored_questions(recorder)] == ["llama"]


async def test_helpful_click_stores_the_vote_and_thanks_privately(recorded: Slack, recorder: Recorder) -> None:
    fake = recorded.fake
    await fake.mention(LICENSING_Q)
    await recorded.reply()
    answer = fake.visible_messages("CGENERAL")[0]
    await fake.click(answer, "helpful:licensing", user="UBOB")
    thanks = await recorded.reply("chat.postEphemeral")
    assert thanks["user"] == "UBOB" and "Thanks for the feedback" in thanks["text"]
    assert recorder.flush()
    [vote] = recorder.store.votes_since(EPOCH)
    assert (vote.entry_id, vote.helpful, vote.reply) == ("licensing", True, f"CGENERAL:{answer.ts}")
    assert vote.user_hash == user_hash(KEY, fake.team, "UBOB")


async def test_a_second_click_changes_the_vote_and_each_person_has_one(recorded: Slack, recorder: Recorder) -> None:
    fake = recorded.fake
    await fake.mention(LICENSING_Q)
    await recorded.reply()
    answer = fake.visible_messages("CGENERAL")[0]
    await fake.click(answer, "helpful:licensing", user="UBOB")
    await fake.click(answer, "not_helpful:licensing", user="UBOB")
    await fake.click(answer, "helpful:licensing", user="UCAROL")
    await recorded.reply("chat.postEphemeral", 3)
    assert recorder.flush()
    votes = {v.user_hash: v.helpful for v in recorder.store.votes_since(EPOCH)}
    assert votes == {user_hash(KEY, fake.team, "UBOB"): False, user_hash(KEY, fake.team, "UCAROL"): True}


async def test_vote_on_a_private_slash_reply_is_stored_and_thanked_through_the_response_url(
        recorded: Slack, recorder: Recorder) -> None:
    await recorded.fake.slash(COMMAND, LLAMA_Q)
    await recorded.reply("response_url")
    await recorded.fake.click(recorded.ephemeral(), "not_helpful:llama")
    thanks = await recorded.reply("response_url", 2)
    assert thanks["response_type"] == "ephemeral" and "Thanks" in thanks["text"]
    assert recorder.flush()
    [vote] = recorder.store.votes_since(EPOCH)
    assert (vote.entry_id, vote.helpful) == ("llama", False)


async def test_a_hung_database_does_not_hold_up_replies(fake: FakeSlack, kb: KnowledgeBase, tmp_path) -> None:
    store = StuckStore(f"sqlite:///{tmp_path / 'hung.sqlite3'}")
    recorder = Recorder(store, KEY)
    slack = await start_slack(fake, kb, recorder)
    try:
        for n in range(3):
            await fake.mention(LICENSING_Q)
            await slack.reply(count=n + 1)  # each answered while the first write is still hanging
        assert store.questions_since(EPOCH) == []
        store.release.set()
        await until(lambda: len(store.questions_since(EPOCH)) == 3)
    finally:
        store.release.set()
        await slack.runner.cleanup()
        recorder.close()


async def test_a_database_that_is_down_never_stops_an_answer_and_is_counted_on_healthz(
        fake: FakeSlack, kb: KnowledgeBase) -> None:
    # Nothing listens on port 1: every write fails.
    holder = KnowledgeHolder(kb)
    recorder = Recorder(Store("postgresql+psycopg://bot@127.0.0.1:1/openllm"), KEY,
                        on_failure=holder.counters.store_failed)
    slack = await start_slack(fake, kb, recorder, holder=holder)
    try:
        await fake.mention(LICENSING_Q)
        reply = await slack.reply()
        assert "read the licence" in all_text(reply["blocks"])
        await fake.click(fake.visible_messages("CGENERAL")[0], "helpful:licensing")
        await slack.reply("chat.postEphemeral")
        assert recorder.flush()
        async with aiohttp.ClientSession() as http, http.get(slack.url + "/healthz") as response:
            health = await response.json()
        assert response.status == 200 and health["store_failures"] == 2
    finally:
        await slack.runner.cleanup()
        recorder.close()


async def test_admin_home_shows_the_last_7_days_in_brief(recorded: Slack, recorder: Recorder) -> None:
    fake = recorded.fake
    for text in ("how do I bake sourdough bread", "how to bake sourdough bread?", OFF_TOPIC_Q, LICENSING_Q):
        await fake.mention(text)
    await recorded.reply(count=4)
    [answer] = [m for m in fake.visible_messages("CGENERAL") if "read the licence" in m.text]
    await fake.click(answer, "not_helpful:licensing", user="UBOB")
    await recorded.reply("chat.postEphemeral")
    await until(lambda: len(stored_questions(recorder)) == 4)
    await fake.open_home(user="UADMIN")
    view = (await recorded.reply("views.publish"))["view"]
    shown = all_text(view["blocks"])
    assert "Last 7 days" in shown
    assert "*4* questions, *25%* answered (0 with suggestions only, 3 declined); 0 👍 and 1 👎" in shown
    # The two wordings grouped, most asked first, each with what an admin can teach about it.
    assert "*2×* how do i bake sourdough bread  _(declined 2, suggested 0; also asked as 1 other wording(s))_" in shown
    assert "`licensing`: 1 👎, 0 👍" in shown
    assert len(view["blocks"]) <= 100


async def test_other_people_see_no_admin_summary(recorded: Slack) -> None:
    await recorded.fake.open_home(user="UALICE")
    view = (await recorded.reply("views.publish"))["view"]
    assert "Last 7 days" not in all_text(view["blocks"])
    assert "*What I know*" in all_text(view["blocks"])  # the Home everyone sees


async def test_admin_home_still_opens_when_the_store_cannot_be_read(fake: FakeSlack, kb: KnowledgeBase) -> None:
    recorder = Recorder(Store("postgresql+psycopg://bot@127.0.0.1:1/openllm"), KEY)
    slack = await start_slack(fake, kb, recorder, admin_user_ids=frozenset({"UADMIN"}))
    try:
        await fake.open_home(user="UADMIN")
        view = (await slack.reply("views.publish"))["view"]
        assert "could not be read" in all_text(view["blocks"]) and "*What I know*" in all_text(view["blocks"])
    finally:
        await slack.runner.cleanup()
        recorder.close()


async def test_admin_home_opens_quickly_however_many_distinct_questions_the_store_holds(
        recorded: Slack, recorder: Recorder) -> None:
    # Anyone can fill the store with random DMs: 20,000 distinct questions once kept the admin Home from appearing
    # for minutes. Grouping is near-linear and the Home groups only the most recent ones.
    import random
    import string
    import time

    from bot.store import utcnow

    rng = random.Random(3)
    words = ["".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(5000)]
    now = utcnow()
    records = [QuestionRecord(now, "dm", "none", text=" ".join(rng.choices(words, k=6))) for _ in range(20_000)]
    records.append(QuestionRecord(now, "dm", "none", text="why " + "very " * 5000 + "long"))
    recorder.store.add_questions(records)
    started = time.perf_counter()
    await recorded.fake.open_home(user="UADMIN")
    view = (await recorded.reply("views.publish"))["view"]
    assert time.perf_counter() - started < 8
    shown = all_text(view["blocks"])
    assert "*20001* questions" in shown
    assert "very " * 60 not in shown  # long questions are clipped
