"""@mentions in channels: always answered in a thread, never in the channel's main flow."""

from __future__ import annotations

from .slackkit import LICENSING_Q, OFF_TOPIC_Q, Slack, action_ids, all_text, button_values


async def test_mention_replies_in_a_new_thread_under_the_mention(slack: Slack) -> None:
    ts = await slack.fake.mention(LICENSING_Q, channel="CGENERAL")
    reply = await slack.reply()
    assert reply["channel"] == "CGENERAL"
    assert reply["thread_ts"] == ts


async def test_mention_in_thread_replies_in_same_thread(slack: Slack) -> None:
    await slack.fake.mention(LICENSING_Q, thread_ts="1690000000.000001")
    reply = await slack.reply()
    assert reply["thread_ts"] == "1690000000.000001"


async def test_mention_answer_has_text_sources_related_and_feedback_buttons(slack: Slack, kb) -> None:
    await slack.fake.mention(LICENSING_Q)
    reply = await slack.reply()
    blocks = reply["blocks"]
    entry = kb.entry("licensing")
    assert blocks[0]["type"] == "section" and entry.question in blocks[0]["text"]["text"]
    assert "read the licence" in all_text(blocks)
    sources = next(b for b in blocks if b.get("block_id") == "sources")
    assert sources["type"] == "context"
    assert "<https://futuretechblog.space/open-source-large-language-model#:~:text=" in all_text([sources])
    assert button_values(blocks, "related") == list(entry.related)
    assert action_ids(blocks)[-2:] == ["helpful:licensing", "not_helpful:licensing"]
    assert "share:licensing" not in action_ids(blocks)  # only ephemeral slash replies are shared
    assert entry.question in reply["text"]


async def test_bare_mention_gets_an_introduction_with_how_to_ask_and_example_topics(slack: Slack) -> None:
    await slack.fake.mention("")
    reply = await slack.reply()
    shown = all_text(reply["blocks"])
    assert "How to ask" in shown
    assert "/openllm topics" in shown
    assert "`licensing`" in shown
    assert reply["text"]


async def test_out_of_scope_mention_says_so_and_points_to_topics(slack: Slack) -> None:
    await slack.fake.mention(OFF_TOPIC_Q)
    reply = await slack.reply()
    assert "outside what my documents cover" in reply["text"]
    assert "/openllm topics" in all_text(reply["blocks"])
    assert action_ids(reply["blocks"]) == []  # no invented answer, nothing to pick


async def test_pings_typed_by_a_user_never_reach_the_reply(slack: Slack) -> None:
    for question in (f"<!channel> <!here> <@U0EVIL> {LICENSING_Q}", f"<!everyone> {OFF_TOPIC_Q}", "<!here>"):
        await slack.fake.mention(question)
    replies = await slack.fake.wait_for("chat.postMessage", 3)
    for call in replies:
        shown = all_text(call.args["blocks"]) + call.args["text"]
        for ping in ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>"):
            assert ping not in shown


async def test_mention_asking_for_topics_lists_them(slack: Slack) -> None:
    await slack.fake.mention("topics")
    reply = await slack.reply()
    assert "attention" in button_values(reply["blocks"], "related")  # each question is a button that answers it
