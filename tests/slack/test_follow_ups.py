"""Follow-ups: once the bot has answered in a thread, a reply there that asks something is answered without a
mention (with the thread's question when it refers back to it), and everything else people say there is left alone.
Every event goes through signed HTTP into the app and every reply to the fake Slack, over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import redis

from bot.config import Config, ConfigError
from bot.dedup import KEY_PREFIX
from bot.fakeslack import FakeSlack, Message
from bot.listeners.events.thread_replies import NOTHING_MORE, STOPPED
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase

from .slackkit import LICENSING_Q, OFF_TOPIC_Q, SECRET, Slack, all_text, start_slack, until

# Long enough to stand alone (not matched with the thread's question), and an alternate of the fixture FAQ.
ATTENTION_Q = "how does attention work in neural networks?"
MENTIONED = f"<@UBOT> {LICENSING_Q}"  # what answered_thread asks the bot
HTTP_ENV = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": SECRET}


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the matcher was asked, in order (every knowledge base's `ask`, which still answers)."""
    questions: list[str] = []
    ask = KnowledgeBase.ask

    def counted(self: KnowledgeBase, text: str, explain: bool = False):  # type: ignore[no-untyped-def]
        questions.append(text)
        return ask(self, text, explain)

    monkeypatch.setattr(KnowledgeBase, "ask", counted)
    return questions


@pytest.fixture
async def settled(fake: FakeSlack, kb: KnowledgeBase) -> AsyncIterator[Slack]:
    """Each event is handled before its request returns (as in the console), so that once a reply is sent, whether
    the bot said anything to it is known."""
    slack = await start_slack(fake, kb, process_before_response=True)
    yield slack
    await slack.runner.cleanup()


async def answered_thread(slack: Slack, question: str = LICENSING_Q, channel: str = "CGENERAL") -> tuple[str, str]:
    """Mention the bot with `question` in `channel`; the thread it answered in and its reply's ts."""
    before = len(slack.fake.calls_to("chat.postMessage"))
    thread_ts = await slack.fake.mention(question, channel=channel)
    await slack.fake.wait_for("chat.postMessage", before + 1)
    return thread_ts, bot_posts(slack.fake)[-1].ts


def bot_posts(fake: FakeSlack) -> list[Message]:
    """What the bot posted for everyone to see, in order."""
    return [m for m in fake.messages.values() if not m.ephemeral]


def web_api_calls(fake: FakeSlack) -> list[str]:
    """The Web API calls the app made, but the one auth.test Bolt makes to learn who it is."""
    return [c.method for c in fake.calls if c.method != "auth.test"]


# ---- answered


async def test_a_question_in_a_thread_the_bot_answered_in_is_answered_in_that_thread(slack: Slack, kb) -> None:
    thread_ts, _ = await answered_thread(slack)
    await slack.fake.thread_reply(ATTENTION_Q, thread_ts, user="UBOB")
    reply = await slack.reply(count=2)
    assert (reply["channel"], reply["thread_ts"]) == ("CGENERAL", thread_ts)
    assert kb.entry("attention").question in reply["text"]


async def test_a_short_follow_up_is_matched_together_with_the_threads_question(shipped_slack: Slack,
                                                                                shipped_kb: KnowledgeBase,
                                                                                asked: list[str]) -> None:
    thread_ts, _ = await answered_thread(shipped_slack, "what is fine-tuning?")
    await shipped_slack.fake.thread_reply("what about the hardware side?", thread_ts)
    reply = await shipped_slack.reply(count=2)
    together = "what is fine-tuning?\nwhat about the hardware side?"
    assert asked[-1] == together
    assert shipped_kb.ask(together).id == "resource-requirements"
    assert reply["thread_ts"] == thread_ts
    assert shipped_kb.entry("resource-requirements").question in reply["text"]


@pytest.fixture
async def shipped_settled(fake: FakeSlack, shipped_kb: KnowledgeBase) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, shipped_kb, process_before_response=True)
    yield slack
    await slack.runner.cleanup()


async def test_a_reply_that_only_points_back_at_the_answer_above_is_told_there_is_nothing_more(
        shipped_settled: Slack, shipped_kb) -> None:
    thread_ts, _ = await answered_thread(shipped_settled, "what are the falcon models?")
    await shipped_settled.fake.thread_reply("who created these?", thread_ts)
    # With the thread's question it is about Falcon, whose answer (naming its makers) is right above; alone it
    # would have been taken for a question about LLaMA.
    assert shipped_kb.ask("what are the falcon models?\nwho created these?").id == "falcon"
    assert shipped_kb.ask("who created these?").id == "llama"
    posts = bot_posts(shipped_settled.fake)
    assert len(posts) == 2 and posts[-1].thread_ts == thread_ts
    assert posts[-1].text.startswith(NOTHING_MORE)
    assert shipped_kb.entry("falcon").question not in posts[-1].text  # not the answer above again


async def test_a_follow_up_asking_whether_the_answer_applies_to_another_model_says_so_and_offers_it(
        shipped_settled: Slack, shipped_kb) -> None:
    thread_ts, _ = await answered_thread(shipped_settled, "can we use llama 2 in a commercial product?")
    await shipped_settled.fake.thread_reply("does that apply to mistral too?", thread_ts)
    reply = bot_posts(shipped_settled.fake)[-1]
    assert reply.thread_ts == thread_ts and reply.text.startswith(NOTHING_MORE)
    assert shipped_kb.entry("mistral").question in reply.text  # offered, not asserted to apply
    assert "mistral" in [value for _, value in reply_buttons(reply)]


async def test_a_follow_up_asking_for_what_the_documents_do_not_hold_is_told_so(shipped_settled: Slack) -> None:
    thread_ts, _ = await answered_thread(shipped_settled, "what is llama?")
    await shipped_settled.fake.thread_reply("how many parameters does it have?", thread_ts)
    reply = bot_posts(shipped_settled.fake)[-1]
    assert reply.thread_ts == thread_ts and "don't give that figure" in reply.text


async def test_after_saying_there_is_nothing_more_the_thread_is_still_about_its_question(
        shipped_settled: Slack, asked: list[str]) -> None:
    question = "can we use llama 2 in a commercial product?"
    thread_ts, _ = await answered_thread(shipped_settled, question)
    await shipped_settled.fake.thread_reply("does that apply to mistral too?", thread_ts)
    await shipped_settled.fake.thread_reply("and is it the same for falcon?", thread_ts)
    assert asked[-1] == f"{question}\nand is it the same for falcon?"


async def test_a_follow_up_that_names_nothing_is_offered_nothing_beside_nothing_more(shipped_settled: Slack) -> None:
    thread_ts, _ = await answered_thread(shipped_settled, "what is hugging face?")
    await shipped_settled.fake.thread_reply("is it free?", thread_ts)
    reply = bot_posts(shipped_settled.fake)[-1]
    assert reply.thread_ts == thread_ts and reply.text == NOTHING_MORE
    assert reply_buttons(reply) == []  # its own best guesses would be noise


def reply_buttons(message: Message) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


async def test_a_short_reply_naming_a_topic_of_its_own_is_answered_about_that_topic(shipped_settled: Slack,
                                                                                    shipped_kb) -> None:
    question = "what are the challenges of open source llms?"
    thread_ts, _ = await answered_thread(shipped_settled, question)
    await shipped_settled.fake.thread_reply("what about the hardware side?", thread_ts)
    # The thread's longer question would bring its own entry back.
    assert shipped_kb.ask(f"{question}\nwhat about the hardware side?").id == "challenges"
    posts = bot_posts(shipped_settled.fake)
    assert len(posts) == 2 and posts[-1].thread_ts == thread_ts
    assert shipped_kb.entry("resource-requirements").question in posts[-1].text


async def test_a_short_off_topic_reply_is_not_dragged_into_the_threads_topic(shipped_settled: Slack,
                                                                             shipped_kb) -> None:
    thread_ts, _ = await answered_thread(shipped_settled, "can we use llama commercially?")
    await shipped_settled.fake.thread_reply("anyone up for lunch?", thread_ts)
    assert shipped_kb.ask("can we use llama commercially?\nanyone up for lunch?").status == "answer"
    assert len(bot_posts(shipped_settled.fake)) == 1


async def test_the_next_short_follow_up_goes_on_from_the_last_question(settled: Slack, asked: list[str]) -> None:
    thread_ts, _ = await answered_thread(settled)
    await settled.fake.thread_reply(ATTENTION_Q, thread_ts)
    reply = "and how is that used in llama?"
    await settled.fake.thread_reply(reply, thread_ts)
    assert asked[1:] == [ATTENTION_Q, reply, f"{ATTENTION_Q}\n{reply}"]  # alone first, then with the last question


async def test_the_same_question_again_in_a_thread_gets_no_second_copy_of_the_answer(settled: Slack) -> None:
    thread_ts, _ = await answered_thread(settled)
    await settled.fake.thread_reply(ATTENTION_Q, thread_ts, user="UBOB")
    await settled.fake.thread_reply(ATTENTION_Q, thread_ts, user="UCAROL")
    assert len(bot_posts(settled.fake)) == 2


async def test_an_unsure_follow_up_offers_its_suggestions_in_the_thread(fake: FakeSlack, unsure_kb) -> None:
    slack = await start_slack(fake, unsure_kb)
    try:
        thread_ts, _ = await answered_thread(slack)
        await fake.thread_reply(ATTENTION_Q, thread_ts)
        reply = await slack.reply(count=2)
        assert reply["thread_ts"] == thread_ts
        assert "attention" in [e["value"] for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]]
    finally:
        await slack.runner.cleanup()


async def test_follow_ups_in_private_channels_and_group_dms_are_answered(settled: Slack) -> None:
    for channel, channel_type in (("GPRIVATE", "group"), ("GMPIM", "mpim")):
        thread_ts, _ = await answered_thread(settled, channel=channel)
        await settled.fake.thread_reply(ATTENTION_Q, thread_ts, channel=channel, channel_type=channel_type)
        assert (bot_posts(settled.fake)[-1].channel, bot_posts(settled.fake)[-1].thread_ts) == (channel, thread_ts)
    assert len(bot_posts(settled.fake)) == 4


async def test_an_answered_follow_up_is_recorded_as_a_thread_question_and_a_declined_one_is_not(
        fake: FakeSlack, kb, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    recorder = Recorder(store, b"test-key-0123456789abcdef")
    slack = await start_slack(fake, kb, recorder, process_before_response=True)
    try:
        thread_ts, _ = await answered_thread(slack)
        await fake.thread_reply(ATTENTION_Q, thread_ts, user="UBOB")
        await fake.thread_reply(OFF_TOPIC_Q + "?", thread_ts, user="UBOB")
        assert recorder.flush()
        recorded = [(q.surface, q.outcome, q.entry_id) for q in store.questions_since(datetime(2000, 1, 1))]
        assert recorded == [("mention", "answer", "licensing"), ("thread", "answer", "attention")]
    finally:
        await slack.runner.cleanup()
        recorder.close()


# ---- left alone


async def test_a_follow_up_the_documents_do_not_cover_gets_no_reply(settled: Slack, asked: list[str]) -> None:
    thread_ts, _ = await answered_thread(settled)
    await settled.fake.thread_reply(OFF_TOPIC_Q + "?", thread_ts)
    assert asked[-1] == OFF_TOPIC_Q + "?"  # matched, and declined: no "I don't know" in people's conversation
    assert len(bot_posts(settled.fake)) == 1


@pytest.mark.parametrize("chat", ["thanks!", "+1", "ok cool", ":tada:", "we went with Mistral in the end"])
async def test_chit_chat_and_statements_in_a_followed_thread_get_nothing(settled: Slack, asked: list[str],
                                                                         chat: str) -> None:
    thread_ts, _ = await answered_thread(settled)
    await settled.fake.thread_reply(chat, thread_ts)
    assert asked == [MENTIONED]  # the matcher never saw it
    assert web_api_calls(settled.fake) == ["chat.postMessage"]  # the answer to the mention, and nothing since


async def test_a_reply_addressed_to_someone_else_gets_nothing(settled: Slack, asked: list[str]) -> None:
    thread_ts, _ = await answered_thread(settled)
    for reply in (f"<@UBOB> {ATTENTION_Q}", f"{ATTENTION_Q} <@W0CAROL|carol>", f"<!here> {ATTENTION_Q}"):
        await settled.fake.thread_reply(reply, thread_ts)
    assert asked == [MENTIONED]
    assert len(bot_posts(settled.fake)) == 1


async def test_a_reply_in_a_thread_the_bot_never_answered_in_gets_nothing(settled: Slack, asked: list[str]) -> None:
    thread_ts, _ = await answered_thread(settled, channel="CGENERAL")
    await settled.fake.thread_reply(ATTENTION_Q, "1690000000.000001")  # someone else's thread
    await settled.fake.thread_reply(ATTENTION_Q, thread_ts, channel="CRANDOM")  # the same ts in another channel
    await settled.fake.message(ATTENTION_Q, channel="CGENERAL", channel_type="channel")  # not in a thread
    assert asked == [MENTIONED]
    assert web_api_calls(settled.fake) == ["chat.postMessage"]


async def test_edits_and_messages_from_bots_get_nothing(settled: Slack, asked: list[str]) -> None:
    fake = settled.fake
    thread_ts, _ = await answered_thread(settled)
    said = await fake.thread_reply("thanks!", thread_ts)
    await fake.edit(said, ATTENTION_Q)  # now a question, but an edit
    await fake.message(ATTENTION_Q, user=None, channel="CGENERAL", channel_type="channel", thread_ts=thread_ts,
                       subtype="bot_message", bot_id="B0OTHER")
    await fake.message(ATTENTION_Q, user="U0OTHERBOT", channel="CGENERAL", channel_type="channel",
                       thread_ts=thread_ts, bot_id="B0OTHER")  # an app posting as its bot user
    await fake.message(ATTENTION_Q, user=fake.bot_user, channel="CGENERAL", channel_type="channel",
                       thread_ts=thread_ts, bot_id=fake.bot_id)  # its own message, as Slack echoes it
    await fake.message(ATTENTION_Q, channel="CGENERAL", channel_type="channel", thread_ts=thread_ts,
                       subtype="thread_broadcast")
    assert asked == [MENTIONED]
    assert web_api_calls(fake) == ["chat.postMessage"]
    await fake.thread_reply(ATTENTION_Q, thread_ts)  # the same words, as a reply: answered
    assert len(bot_posts(fake)) == 2


async def test_a_follow_up_that_also_mentions_the_bot_gets_one_reply(settled: Slack) -> None:
    thread_ts, _ = await answered_thread(settled)
    await settled.fake.thread_reply(f"<@{settled.fake.bot_user}> {ATTENTION_Q}", thread_ts)
    posts = bot_posts(settled.fake)
    assert len(posts) == 2 and posts[-1].thread_ts == thread_ts
    assert "attention" in all_text(posts[-1].blocks).lower()


async def test_a_follow_up_that_mentions_the_bot_is_answered_once_when_slack_acks_first(slack: Slack) -> None:
    thread_ts, _ = await answered_thread(slack)
    await slack.fake.thread_reply(f"<@{slack.fake.bot_user}> {ATTENTION_Q}", thread_ts)
    await slack.reply(count=2)
    # A later follow-up is answered next, and nothing else came in between or since.
    await slack.fake.thread_reply("can we sell a product built on an open model?", thread_ts)
    await slack.reply(count=3)
    assert [c.args["thread_ts"] for c in slack.fake.calls_to("chat.postMessage")] == [thread_ts] * 3
    answered = [m.text for m in bot_posts(slack.fake)[1:]]
    assert "What is the attention mechanism?" in answered[0] and "Can we use open LLMs commercially?" in answered[1]


# ---- stopped


async def test_stop_in_a_thread_stops_its_follow_ups_and_says_so_only_to_whoever_asked(settled: Slack,
                                                                                       asked: list[str]) -> None:
    fake = settled.fake
    thread_ts, _ = await answered_thread(settled)
    await fake.thread_reply("stop", thread_ts, user="UBOB")
    note = settled.ephemeral()
    assert (note.user, note.thread_ts, note.text) == ("UBOB", thread_ts, STOPPED)
    await fake.thread_reply(ATTENTION_Q, thread_ts)
    assert asked == [MENTIONED]
    assert len(bot_posts(fake)) == 1
    # A mention there is still answered, and does not start the follow-ups again.
    await fake.thread_reply(f"<@{fake.bot_user}> {ATTENTION_Q}", thread_ts)
    await fake.thread_reply("and why is that?", thread_ts)
    assert len(bot_posts(fake)) == 2


async def test_mentioning_the_bot_to_say_stop_stops_the_thread_once(settled: Slack, asked: list[str]) -> None:
    fake = settled.fake
    thread_ts, _ = await answered_thread(settled)
    await fake.thread_reply(f"<@{fake.bot_user}> please stop replying here", thread_ts, user="UBOB")
    assert [(m.user, m.text) for m in fake.messages.values() if m.ephemeral] == [("UBOB", STOPPED)]
    await fake.thread_reply(ATTENTION_Q, thread_ts)
    assert asked == [MENTIONED]  # "stop" was never matched as a question
    assert len(bot_posts(fake)) == 1


async def test_a_shushing_reaction_on_the_bots_reply_stops_the_thread(settled: Slack) -> None:
    fake = settled.fake
    thread_ts, reply_ts = await answered_thread(settled)
    await fake.react(reply_ts, "thumbsup")
    await fake.react(thread_ts, "shushing_face")  # on the question, not the bot's reply
    await fake.thread_reply(ATTENTION_Q, thread_ts)
    assert len(bot_posts(fake)) == 2  # still followed
    await fake.react(bot_posts(fake)[-1].ts, "shushing_face")  # on its latest reply
    await fake.thread_reply("can we sell a product built on an open model?", thread_ts)
    assert len(bot_posts(fake)) == 2
    assert not [m for m in fake.messages.values() if m.ephemeral]  # 🤫 asks for quiet: no note


async def test_with_follow_ups_off_only_mentions_are_answered_in_threads(fake: FakeSlack, kb,
                                                                        asked: list[str]) -> None:
    slack = await start_slack(fake, kb, process_before_response=True, follow_ups=False)
    try:
        thread_ts, _ = await answered_thread(slack)
        await fake.thread_reply(ATTENTION_Q, thread_ts)
        await fake.thread_reply("stop", thread_ts)
        assert asked == [MENTIONED]
        assert web_api_calls(fake) == ["chat.postMessage"]
        await fake.thread_reply(f"<@{fake.bot_user}> {ATTENTION_Q}", thread_ts)
        assert len(bot_posts(fake)) == 2
    finally:
        await slack.runner.cleanup()


async def test_follow_ups_count_against_the_persons_rate_limit_without_a_slow_down_note(fake: FakeSlack,
                                                                                       kb) -> None:
    slack = await start_slack(fake, kb, process_before_response=True, rate_limit=2)
    try:
        thread_ts, _ = await answered_thread(slack)  # UALICE's first question
        await fake.thread_reply(ATTENTION_Q, thread_ts)  # her second
        await fake.thread_reply("can we sell a product built on an open model?", thread_ts)  # one too many
        assert len(bot_posts(fake)) == 2
        await fake.thread_reply("can we sell a product built on an open model?", thread_ts, user="UBOB")
        assert len(bot_posts(fake)) == 3
        assert web_api_calls(fake) == ["chat.postMessage"] * 3
    finally:
        await slack.runner.cleanup()


# ---- several replicas


@pytest.fixture
async def two_replicas(fake: FakeSlack, kb, redis_url: str) -> AsyncIterator[tuple[Slack, Slack]]:
    first = await start_slack(fake, kb, redis_url=redis_url, process_before_response=True)
    second = await start_slack(fake, kb, redis_url=redis_url, process_before_response=True)
    yield first, second
    await first.runner.cleanup()
    await second.runner.cleanup()


def to(replica: Slack) -> None:
    """The load balancer sends the next events to `replica`."""
    replica.fake.send_over_http(replica.url + "/slack/events", SECRET)


async def test_replicas_sharing_redis_follow_the_same_threads(two_replicas: tuple[Slack, Slack],
                                                               fake: FakeSlack) -> None:
    first, second = two_replicas
    to(first)
    thread_ts, reply_ts = await answered_thread(first)
    to(second)
    await fake.thread_reply(ATTENTION_Q, thread_ts)
    follow_up = bot_posts(fake)[1:]
    assert len(follow_up) == 1 and follow_up[0].thread_ts == thread_ts
    assert "What is the attention mechanism?" in follow_up[0].text
    to(first)
    await fake.react(reply_ts, "shushing_face")  # on the first replica's reply, through the first replica
    to(second)
    await fake.thread_reply("can we sell a product built on an open model?", thread_ts)
    assert len(bot_posts(fake)) == 2


async def test_channel_chatter_leaves_no_trace_in_redis(two_replicas: tuple[Slack, Slack], fake: FakeSlack,
                                                        redis_url: str) -> None:
    first, _ = two_replicas
    to(first)
    thread_ts, reply_ts = await answered_thread(first)
    client = redis.Redis.from_url(redis_url)
    try:
        before = set(client.keys("*"))
        await fake.message("morning all", channel="CGENERAL", channel_type="channel")
        await fake.react(reply_ts, "thumbsup")
        said = await fake.thread_reply("thanks!", thread_ts)
        await fake.edit(said, "thanks a lot!")
        await fake.thread_reply("what about the hardware side?", thread_ts)  # a question: remembered, answered once

        def events() -> set[bytes]:
            return {k for k in set(client.keys("*")) - before if k.startswith(KEY_PREFIX.encode())}

        await until(lambda: bool(events()))  # the question's, handled after the chatter sent before it
        assert len(events()) == 1
    finally:
        client.close()


# ---- settings


def test_follow_ups_are_on_for_a_day_unless_set_otherwise() -> None:
    config = Config.from_env("http", HTTP_ENV)
    assert (config.follow_ups, config.follow_up_hours) == (True, 24.0)
    config = Config.from_env("http", {**HTTP_ENV, "FOLLOW_UPS": "false", "FOLLOW_UP_HOURS": "0.5"})
    assert (config.follow_ups, config.follow_up_hours) == (False, 0.5)


@pytest.mark.parametrize("hours", ["0", "-3", "a day", "nan", "inf", "721"])
def test_follow_up_hours_that_are_not_a_sensible_number_are_refused(hours: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env("http", {**HTTP_ENV, "FOLLOW_UP_HOURS": hours})
    assert str(caught.value).startswith(f"FOLLOW_UP_HOURS={hours!r} is not a number of hours")
    assert "set it to e.g. 24" in str(caught.value)


def test_follow_ups_must_be_true_or_false() -> None:
    with pytest.raises(ConfigError, match="FOLLOW_UPS='sometimes' is not true or false"):
        Config.from_env("http", {**HTTP_ENV, "FOLLOW_UPS": "sometimes"})

