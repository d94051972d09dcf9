"""The slash command: ephemeral answers with Share in channel, `topics`, `help` and the empty command."""

from __future__ import annotations

import pytest

from bot.fakeslack import FakeSlack

from .slackkit import COMMAND, LICENSING_Q, Slack, action_ids, all_text, button_values, start_slack
from .test_blocks import themed


async def test_slash_question_answers_ephemerally_with_share_button(slack: Slack) -> None:
    status, _ = await slack.fake.slash(COMMAND, LICENSING_Q)
    assert status == 200
    reply = await slack.reply("response_url")
    assert reply["response_type"] == "ephemeral"
    assert "share:licensing" in action_ids(reply["blocks"])
    assert "read the licence" in all_text(reply["blocks"])
    assert slack.fake.calls_to("chat.postMessage") == []  # nothing public until shared


async def test_slash_topics_shows_each_theme_with_its_questions_as_buttons(fake: FakeSlack, kb) -> None:
    slack = await start_slack(fake, themed(kb, {"licensing": "faq/open-licences.yaml", "llama": "faq/models.yaml",
                                                "attention": "faq/models.yaml"}))
    try:
        await fake.slash(COMMAND, "topics")
        reply = await slack.reply("response_url")
    finally:
        await slack.runner.cleanup()
    assert reply["response_type"] == "ephemeral"
    shown = [(b["type"], b["text"]["text"] if b["type"] == "header" else button_values([b], "related"))
             for b in reply["blocks"] if b["type"] in ("header", "actions")]
    assert shown == [("header", "Open licences"), ("actions", ["licensing"]),
                     ("header", "Models"), ("actions", ["llama", "attention"])]
    assert "What is the attention mechanism?" in all_text(reply["blocks"])
    assert "*Models*\n• What are Meta's LLaMA models?\n• What is the attention mechanism?" in reply["text"]


async def test_clicking_a_question_in_topics_answers_it_privately_and_keeps_the_list(slack: Slack) -> None:
    await slack.fake.slash(COMMAND, "topics", user="UALICE")
    await slack.reply("response_url")
    topics = slack.ephemeral()
    await slack.fake.click(topics, "related:attention", user="UALICE")
    answer = await slack.reply("response_url", 2)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "weigh the parts of its input" in all_text(answer["blocks"])
    assert "share:attention" in action_ids(answer["blocks"])  # private, so it can be shared
    assert "related:attention" in action_ids(topics.blocks)  # the list stays, for the next question
    assert slack.fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("text", ["help", "", "   "])
async def test_slash_help_or_empty_shows_usage(slack: Slack, text: str) -> None:
    await slack.fake.slash(COMMAND, text)
    reply = await slack.reply("response_url")
    assert reply["response_type"] == "ephemeral"
    shown = all_text(reply["blocks"])
    assert "How to ask" in shown and f"{COMMAND} topics" in shown


async def test_share_posts_the_answer_publicly_attributed_and_removes_the_ephemeral(slack: Slack) -> None:
    await slack.fake.slash(COMMAND, LICENSING_Q, user="UALICE", channel="CGENERAL")
    await slack.reply("response_url")
    await slack.fake.click(slack.ephemeral(), "share:licensing", user="UALICE")
    shared = await slack.reply("chat.postMessage")
    assert shared["channel"] == "CGENERAL"
    assert "Shared by <@UALICE>" in all_text(shared["blocks"])
    assert shared["text"].startswith("Shared by <@UALICE>")
    assert "read the licence" in all_text(shared["blocks"])
    assert "share:licensing" not in action_ids(shared["blocks"])
    assert (await slack.reply("response_url", 2))["delete_original"] is True
    assert [m for m in slack.fake.visible_messages() if m.ephemeral] == []


async def test_share_where_the_bot_is_not_a_member_posts_through_the_response_url(slack: Slack) -> None:
    slack.fake.fail("chat.postMessage", "not_in_channel")
    await slack.fake.slash(COMMAND, LICENSING_Q, user="UALICE", channel="GPRIVATE")
    await slack.reply("response_url")
    await slack.fake.click(slack.ephemeral(), "share:licensing", user="UALICE")
    public = await slack.reply("response_url", 2)
    assert public["response_type"] == "in_channel"
    assert "Shared by <@UALICE>" in all_text(public["blocks"])
    assert (await slack.reply("response_url", 3))["delete_original"] is True


async def test_command_name_is_configurable(fake: FakeSlack, kb) -> None:
    slack = await start_slack(fake, kb, command="/askllm")
    try:
        await fake.slash("/askllm", "help")
        assert "/askllm topics" in all_text((await slack.reply("response_url"))["blocks"])
    finally:
        await slack.runner.cleanup()
