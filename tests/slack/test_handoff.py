"""Hand-off to people, through signed requests and the fake Slack, on SQLite and PostgreSQL: a reply that declines or
is unsure carries "Ask the team"; one click posts the question in HANDOFF_CHANNEL (found by its name) with a link back
to the asker's thread, pinging nobody, once per question however often it is clicked; the reply says where it went.
An answer in the team's thread is kept and passed on to the asker, one in the asker's thread is kept, and the admin
Home shows it beside the question with "New entry" pre-filled. Without HANDOFF_CHANNEL nothing changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

import pytest

from bot import blocks, handoff
from bot.adapter.aiohttp import EVENTS_PATH
from bot.channels import Channel, find_channels
from bot.config import ConfigError
from bot.fakeslack import FakeSlack, Message
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase

from .slackkit import (
    COMMAND,
    OFF_TOPIC_Q,
    SECRET,
    Slack,
    action_ids,
    all_text,
    assert_sendable,
    start_slack,
    until,
)

ADMIN = "UADMIN"
TEAM = "CTEAM"  # #llm-team in the fake Slack
EPOCH = datetime(2000, 1, 1)
HOSTILE_Q = "what's the weather in <!channel> berlin <@U0EVIL> &lt;!here&gt; <https://evil.test|click> =cmd()"


@pytest.fixture
async def slack(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb, recorder, admin_user_ids=frozenset({ADMIN}), handoff_channel="#llm-team")
    yield slack
    await slack.runner.cleanup()


@pytest.fixture
async def unsure(fake: FakeSlack, unsure_kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, unsure_kb, recorder, admin_user_ids=frozenset({ADMIN}), handoff_channel=TEAM)
    yield slack
    await slack.runner.cleanup()


async def declined(slack: Slack, question: str = OFF_TOPIC_Q, user: str = "UALICE") -> tuple[str, Message]:
    """`user` asks `question` in #general and the bot declines it: the mention's ts, and the reply."""
    before = len(slack.fake.calls_to("chat.postMessage"))
    mention_ts = await slack.fake.mention(question, user=user)
    await slack.reply(count=before + 1)
    reply = [m for m in slack.fake.visible_messages("CGENERAL") if m.thread_ts == mention_ts][-1]
    assert handoff.ASK_TEAM in action_ids(reply.blocks)
    return mention_ts, reply


def posted_for_team(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.visible_messages(TEAM) if not m.thread_ts]


async def hand_off(slack: Slack, reply: Message, user: str = "UALICE") -> Message:
    """Click "Ask the team" on `reply`: the question as posted for the team (once the reply says so)."""
    before = len(posted_for_team(slack.fake))
    await slack.fake.click(reply, handoff.ASK_TEAM, user=user)
    await until(lambda: len(posted_for_team(slack.fake)) == before + 1
                and handoff.ASK_TEAM not in action_ids(reply.blocks))
    return posted_for_team(slack.fake)[-1]


async def test_without_handoff_channel_nothing_changes(fake: FakeSlack, kb: KnowledgeBase, unsure_kb: KnowledgeBase,
                                                       recorder: Recorder) -> None:
    for knowledge in (kb, unsure_kb):
        slack = await start_slack(fake, knowledge, recorder)
        try:
            before = len(fake.calls_to("chat.postMessage"))
            await fake.mention(OFF_TOPIC_Q if knowledge is kb else "tell me about llama 3")
            reply = await slack.reply(count=before + 1)
            assert handoff.ASK_TEAM not in action_ids(reply["blocks"])
            assert "ask the team" not in all_text(reply["blocks"]).lower()
        finally:
            await slack.runner.cleanup()
    assert fake.calls_to("conversations.list") == []


async def test_ask_the_team_posts_the_question_once_with_a_link_back_and_pings_nobody(
        slack: Slack, store: Store) -> None:
    mention_ts, reply = await declined(slack, HOSTILE_Q)
    assert_sendable({"text": reply.text, "blocks": reply.blocks})
    posted = await hand_off(slack, reply)
    assert_sendable({"text": posted.text, "blocks": posted.blocks})
    shown = all_text(posted.blocks)
    # What Alice wrote, as words: no reference left to ping anyone, nothing turned into a link.
    assert "@channel berlin @U0EVIL &lt;!here&gt; click (https://evil.test) =cmd()" in shown
    assert "<!" not in shown and "<@" not in shown and "<https://evil" not in shown
    assert posted.blocks[0]["text"]["verbatim"] is True and "I declined it" in shown
    # A link back to her thread, as Slack builds it.
    [link] = slack.fake.calls_to("chat.getPermalink")
    assert (link.args["channel"], link.args["message_ts"]) == ("CGENERAL", reply.ts)
    assert f"<https://fake.slack.test/archives/CGENERAL/p{reply.ts.replace('.', '')}?thread_ts={mention_ts}" in shown
    # The reply now says where the question went, for everyone in the thread, and has no button left.
    await until(lambda: handoff.ASK_TEAM not in action_ids(reply.blocks))
    assert "Asked the team in <#CTEAM>; answers come here." in all_text(reply.blocks)
    # The channel was found by its name once, and the hand-off is in the store.
    assert len(slack.fake.calls_to("conversations.list")) == 1
    [record] = store.handoffs_since(EPOCH)
    assert (record.channel, record.thread_ts, record.outcome, record.posted_channel, record.posted_ts) == (
        "CGENERAL", mention_ts, "none", TEAM, posted.ts)
    assert record.team_id == slack.fake.team and "UALICE" not in repr(record)


async def test_a_second_click_or_a_replay_says_it_was_asked_already(slack: Slack, store: Store) -> None:
    _, reply = await declined(slack)
    original = replace(reply)  # the reply as it was, button and all
    posted = await hand_off(slack, reply)
    for user in ("UALICE", "UBOB"):
        await slack.fake.click(original, handoff.ASK_TEAM, user=user)
    notes = await slack.fake.wait_for("chat.postEphemeral", 2)
    for note, user in zip(notes, ("UALICE", "UBOB"), strict=True):
        assert note.args["user"] == user and "asked already, in <#CTEAM>" in note.args["text"]
        assert f"p{posted.ts.replace('.', '')}" in note.args["text"]
    assert len(posted_for_team(slack.fake)) == 1 and len(store.handoffs_since(EPOCH)) == 1


async def test_clicks_at_the_same_moment_post_it_once(slack: Slack, store: Store) -> None:
    _, reply = await declined(slack)
    await asyncio.gather(*(slack.fake.click(reply, handoff.ASK_TEAM, user=u) for u in ("UALICE", "UBOB", "UCAROL")))
    # The two told "asked already" may hear it before the one that won has posted (it first asks for a permalink)
    # and recorded it.
    await until(lambda: len(slack.fake.calls_to("chat.postEphemeral")) == 2 and bool(posted_for_team(slack.fake))
                and bool(store.handoffs_since(EPOCH)))
    assert len(posted_for_team(slack.fake)) == 1 and len(store.handoffs_since(EPOCH)) == 1


async def test_an_answer_in_the_team_thread_is_kept_and_passed_on_to_the_asker(slack: Slack, store: Store) -> None:
    mention_ts, reply = await declined(slack)
    posted = await hand_off(slack, reply)
    answer = "Berlin: 12 °C and rain, says <https://weather.test|the forecast>. <!here> <@UALICE>"
    reply_ts = await slack.fake.thread_reply(answer, posted.ts, user="UTEAMMATE", channel=TEAM)
    passed = await until_posted(slack, "CGENERAL", mention_ts, "The team answered")
    assert_sendable({"text": passed.text, "blocks": passed.blocks})
    assert "Berlin: 12 °C and rain, says the forecast (https://weather.test). @here @UALICE" in all_text(passed.blocks)
    assert "From <#CTEAM>." in all_text(passed.blocks)
    [record] = store.handoffs_since(EPOCH)
    [kept] = record.answers
    assert (kept.place, kept.channel, kept.ts) == ("team", TEAM, reply_ts)
    # Slack sending the same message again passes nothing on twice.
    event = slack.fake.sent[reply_ts]
    await slack.fake.send_event(slack.fake._event(event), retry=1)
    await asyncio.sleep(0.2)
    assert len([m for m in slack.fake.visible_messages("CGENERAL") if "The team answered" in m.text]) == 1
    assert len(store.handoffs_since(EPOCH)[0].answers) == 1


async def until_posted(slack: Slack, channel: str, thread_ts: str | None, holding: str) -> Message:
    def found() -> list[Message]:
        return [m for m in slack.fake.visible_messages(channel) if m.thread_ts == thread_ts and holding in m.text]

    await until(lambda: bool(found()))
    return found()[-1]


async def test_an_answer_in_the_askers_thread_is_kept_but_not_the_askers_own_words(slack: Slack,
                                                                                  store: Store) -> None:
    mention_ts, reply = await declined(slack)
    await hand_off(slack, reply)
    await slack.fake.thread_reply("it rained all day, sorry", mention_ts, user="UALICE")  # the asker
    await slack.fake.thread_reply("<@UBOT> and tomorrow?", mention_ts, user="UBOB")  # a question to the bot
    await slack.fake.thread_reply("Bring an umbrella: 12 °C and rain", mention_ts, user="UBOB")
    await until(lambda: bool(store.handoffs_since(EPOCH)[0].answers))
    await asyncio.sleep(0.2)
    [kept] = store.handoffs_since(EPOCH)[0].answers
    assert (kept.place, kept.text) == ("thread", "Bring an umbrella: 12 °C and rain")
    assert not [m for m in slack.fake.visible_messages() if "The team answered" in m.text]  # nothing passed on


async def test_the_admin_home_shows_the_answer_beside_the_question_with_new_entry(slack: Slack, store: Store) -> None:
    _, reply = await declined(slack)
    posted = await hand_off(slack, reply)
    long_answer = "Rain. " + "Really quite a lot of rain, “all day” \\ long. " * 120  # ~5,500 characters
    await slack.fake.thread_reply(long_answer, posted.ts, user="UTEAMMATE", channel=TEAM)
    await until(lambda: bool(store.handoffs_since(EPOCH)[0].answers))
    await slack.fake.open_home(user=ADMIN)
    home = (await slack.reply("views.publish"))["view"]
    [block] = [b for b in home["blocks"] if b.get("block_id", "").startswith("handoff-") and "accessory" in b]
    assert f"*Q:* {OFF_TOPIC_Q}" in block["text"]["text"] and "*A:* Rain. Really" in block["text"]["text"]
    button = block["accessory"]
    assert button["action_id"] == blocks.ENTRY_NEW and len(button["value"]) <= blocks.MAX_BUTTON_VALUE
    draft = json.loads(button["value"])
    assert draft["question"] == OFF_TOPIC_Q and draft["answer"].startswith("Rain. Really quite")
    assert draft["answer"].endswith("…") and long_answer.startswith(draft["answer"][:-1])
    # Whoever is not an admin sees none of it.
    await slack.fake.open_home(user="UBOB")
    theirs = (await slack.reply("views.publish", 2))["view"]
    assert "Answers from the team" not in all_text(theirs["blocks"]) and "Rain." not in all_text(theirs["blocks"])


async def test_a_guess_in_a_dm_is_handed_off_and_the_answer_comes_back_to_the_dm(unsure: Slack, store: Store) -> None:
    fake = unsure.fake
    await fake.message("tell me about llama 3", user="UALICE", channel="DALICE")
    await unsure.reply()
    [reply] = fake.visible_messages("DALICE")
    assert "did you mean" in reply.text.lower() and handoff.ASK_TEAM in action_ids(reply.blocks)
    posted = await hand_off(unsure, reply)
    assert "I wasn't sure" in all_text(posted.blocks) and "direct message" in all_text(posted.blocks)
    assert fake.calls_to("chat.getPermalink") == []  # a DM is no place to send the team
    assert len(fake.calls_to("conversations.list")) == 0  # given by its id
    await fake.thread_reply("Llama 3 is Meta's, released in 2024.", posted.ts, user="UTEAMMATE", channel=TEAM)
    passed = await until_posted(unsure, "DALICE", None, "The team answered")
    assert "Llama 3 is Meta's, released in 2024." in all_text(passed.blocks)


async def test_a_slash_commands_private_reply_has_no_button(slack: Slack) -> None:
    await slack.fake.slash(COMMAND, OFF_TOPIC_Q)
    reply = await slack.reply("response_url")
    assert handoff.ASK_TEAM not in action_ids(reply["blocks"])


async def test_a_failed_post_is_not_kept_and_the_next_click_posts_it(slack: Slack, store: Store) -> None:
    _, reply = await declined(slack)
    slack.fake.fail("chat.postMessage", "not_in_channel")
    await slack.fake.click(reply, handoff.ASK_TEAM)
    note = (await slack.fake.wait_for("chat.postEphemeral"))[0]
    assert "couldn't reach the team" in note.args["text"]
    assert store.handoffs_since(EPOCH) == [] and handoff.ASK_TEAM in action_ids(reply.blocks)
    await hand_off(slack, reply)
    assert len(store.handoffs_since(EPOCH)) == 1


async def test_a_click_that_names_no_question_posts_nothing(slack: Slack, store: Store, recorder: Recorder) -> None:
    _, reply = await declined(slack)
    element = next(e for _, e in reply.buttons() if e["action_id"] == handoff.ASK_TEAM)
    for value in ("not json", json.dumps({"q": "", "o": "none"}), json.dumps({"q": "x", "o": "answer"}),
                  json.dumps(["x"]), json.dumps({"q": "x", "o": "none", "u": 5})):
        element["value"] = value
        await slack.fake.click(reply, handoff.ASK_TEAM)
    assert recorder.flush()
    assert posted_for_team(slack.fake) == [] and store.handoffs_since(EPOCH) == []


async def test_another_replica_catches_the_answer_through_the_store(fake: FakeSlack, kb: KnowledgeBase,
                                                                    recorder: Recorder, store: Store,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "INDEX_SECONDS", 0.0)
    first = await start_slack(fake, kb, recorder, handoff_channel=TEAM)
    second = await start_slack(fake, kb, Recorder(Store(store.url), recorder.hash_key), handoff_channel=TEAM)
    try:
        fake.send_over_http(first.url + EVENTS_PATH, SECRET)
        mention_ts, reply = await declined(first)
        posted = await hand_off(first, reply)
        fake.send_over_http(second.url + EVENTS_PATH, SECRET)  # the next events go to the other replica
        await fake.thread_reply("Sunny, 20 °C.", posted.ts, user="UTEAMMATE", channel=TEAM)
        await until_posted(second, "CGENERAL", mention_ts, "The team answered")
    finally:
        await first.runner.cleanup()
        await second.runner.cleanup()


async def test_a_channel_is_found_by_its_name_across_pages_and_refused_in_one_line(fake: FakeSlack) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    fake.channels = [{"id": f"C{n:06d}", "name": f"chan-{n}", "is_member": n % 2 == 0} for n in range(450)]
    far = Channel("HANDOFF_CHANNEL", "#chan-448", member=True)
    await find_channels(client, far, None)
    assert far.known == "C000448" and len(fake.calls_to("conversations.list")) == 3
    await far.id(client)
    assert len(fake.calls_to("conversations.list")) == 3  # looked up once
    with pytest.raises(ConfigError) as refused:
        await find_channels(client, Channel("HANDOFF_CHANNEL", "#chan-7", member=True),
                            Channel("DIGEST_CHANNEL", "#nowhere"), Channel("DIGEST_CHANNEL", "#chan-9"))
    assert refused.value.lines == (
        "HANDOFF_CHANNEL=#chan-7: the bot is not in that channel, and must be to read the replies there: /invite "
        "@openllm in #chan-7",
        "DIGEST_CHANNEL=#nowhere: the bot sees no channel of that name (a private channel must invite the bot first): "
        "check the name, or give the channel's id")
    fake.fail("conversations.list", "missing_scope")
    with pytest.raises(ConfigError, match="needs the channels:read and groups:read scopes"):
        await Channel("HANDOFF_CHANNEL", "#chan-2").id(client)


def test_slack_text_becomes_plain_words_that_ping_nobody() -> None:
    said = ("<@UBOT> <@UBOT|openllm>, is <@U1|bob> right about <#C1|general>? <!here> <!subteam^S1|@keepers> "
            "<!date^1392734382^{date}|Feb 18> <https://a.test/x?y=1&amp;z=2|docs> <mailto:a@b.test> &lt;!channel&gt;")
    words = handoff.plain(said)
    assert words == ("is @bob right about #general? @here @keepers Feb 18 docs (https://a.test/x?y=1&z=2) "
                     "mailto:a@b.test <!channel>")
    assert "<" not in blocks.escape(words)
    assert handoff.read_value(handoff.button_value(handoff.Asked("é\"\\" * 2000, "none", "U1"))) is not None
    assert len(handoff.button_value(handoff.Asked("é\"\\" * 2000, "none", "U1"))) <= blocks.MAX_BUTTON_VALUE


async def test_new_entry_beside_an_answer_opens_the_entry_form_filled_in_for_an_admin_only(slack: Slack,
                                                                                           store: Store) -> None:
    _, reply = await declined(slack)
    posted = await hand_off(slack, reply)
    await slack.fake.thread_reply("Sunny, 20 °C, no rain.", posted.ts, user="UTEAMMATE", channel=TEAM)
    await until(lambda: bool(store.handoffs_since(EPOCH)[0].answers))
    await slack.fake.open_home(user=ADMIN)
    home = (await slack.reply("views.publish"))["view"]
    [block] = [b for b in home["blocks"] if b.get("block_id", "").startswith("handoff-") and "accessory" in b]
    beside = {"type": "home", "blocks": [block]}  # the button beside the answer (the Home has another "New entry")
    await slack.fake.act_in_view(beside, blocks.ENTRY_NEW, user="UBOB")  # not an admin
    await asyncio.sleep(0.2)
    assert slack.fake.calls_to("views.open") == []
    await slack.fake.act_in_view(beside, blocks.ENTRY_NEW, user=ADMIN)
    form = json.dumps((await slack.fake.wait_for("views.open"))[0].args["view"])
    assert json.dumps(OFF_TOPIC_Q)[1:-1] in form and "Sunny, 20 \\u00b0C, no rain." in form


async def test_a_store_that_never_answers_holds_up_a_thread_reply_once_and_briefly(tmp_path, monkeypatch) -> None:
    from stuck_store import StuckStore

    monkeypatch.setattr(handoff, "INDEX_SECONDS", 0.0)
    store = StuckStore(f"sqlite:///{tmp_path / 'stuck.sqlite3'}", wait=30.0, hang=("handoff_threads",))
    recorder = Recorder(store, b"stuck-key-0123456789")
    watched = handoff.Handoffs(Channel("HANDOFF_CHANNEL", TEAM), recorder)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert not await watched.watching("CGENERAL", "1.0")
        assert loop.time() - started < handoff.FIRST_READ_SECONDS + 1  # the first look waits, briefly
        started = loop.time()
        for _ in range(20):
            assert not await watched.watching("CGENERAL", "1.0")
        assert loop.time() - started < 0.5  # the others never do
    finally:
        store.release.set()
        recorder.close()
