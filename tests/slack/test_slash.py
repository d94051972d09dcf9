"""The slash command: ephemeral answers with Share in channel, `topics`, `help` and the empty command."""

from __future__ import annotations

import pytest

from bot.fakeslack import FakeSlack

from .slackkit import COMMAND, LICENSING_Q, Slack, action_ids, all_text, start_slack


async def test_slash_question_answers_ephemerally_with_share_button(slack: Slack) -> None:
    status, _ = await slack.fake.slash(COMMAND, LICENSING_Q)
    assert status == 200
    reply = await slack.reply("response_url")
    assert reply["response_type"] == "ephemeral"
    assert "share:licensing" in action_ids(reply["blocks"])
    assert "read the licence" in all_text(reply["blocks"])
    assert slack.fake.calls_to("chat.postMessage") == []  # nothing public until shared


async def test_slash_topics_lists_every_topic_with_its_questions(slack: Slack, kb) -> None:
    await slack.fake.slash(COMMAND, "topics")
    reply = await slack.reply("response_url")
    assert reply["response_type"] == "ephemeral"
    shown = all_text(reply["blocks"])
    assert "*Topics*: `attention`, `licence`, `licensing`, `llama`, `meta`" in shown
    for entry in kb.knowledge.entries:
        assert f"• {entry.question}" in shown


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
