"""Buttons: suggestions answer in place, Related answers beside, feedback is acknowledged privately."""

from __future__ import annotations

import pytest

from .slackkit import COMMAND, LICENSING_Q, LLAMA_Q, Slack, action_ids, all_text, button_values


async def test_unsure_question_offers_up_to_three_suggestions(unsure_slack: Slack) -> None:
    await unsure_slack.fake.mention("llama licensing attention")
    reply = await unsure_slack.reply()
    assert reply["text"].startswith("I'm not sure I understood; did you mean...")
    choices = button_values(reply["blocks"], "suggest")
    assert 1 <= len(choices) <= 3
    assert set(choices) <= {"licensing", "llama", "attention"}
    assert all(len(a) <= 255 for a in action_ids(reply["blocks"]))


async def test_suggestion_click_updates_the_message_in_its_thread(unsure_slack: Slack) -> None:
    fake = unsure_slack.fake
    mention_ts = await fake.mention(LICENSING_Q)
    posted = await unsure_slack.reply()
    assert "licensing" in button_values(posted["blocks"], "suggest")
    message = fake.visible_messages("CGENERAL")[0]
    await fake.click(message, "suggest:licensing")
    update = await unsure_slack.reply("chat.update")
    assert update["channel"] == "CGENERAL" and update["ts"] == message.ts
    assert "read the licence" in all_text(update["blocks"])
    assert message.thread_ts == mention_ts
    assert len(fake.calls_to("chat.postMessage")) == 1  # answered in place, not as a new message


async def test_suggestion_click_in_a_slash_reply_replaces_the_ephemeral(unsure_slack: Slack) -> None:
    fake = unsure_slack.fake
    await fake.slash(COMMAND, LICENSING_Q)
    await unsure_slack.reply("response_url")
    await fake.click(unsure_slack.ephemeral(), "suggest:licensing")
    replaced = await unsure_slack.reply("response_url", 2)
    assert replaced["replace_original"] is True
    assert "read the licence" in all_text(replaced["blocks"])
    assert "share:licensing" in action_ids(replaced["blocks"])  # still private, so still shareable
    assert fake.calls_to("chat.update") == []


async def test_related_click_answers_that_entry_in_the_same_thread(slack: Slack) -> None:
    mention_ts = await slack.fake.mention(LICENSING_Q)
    answer = await slack.reply()
    await slack.fake.click(slack.fake.visible_messages()[0], "related:llama")
    related = await slack.reply(count=2)
    assert related["thread_ts"] == mention_ts == answer["thread_ts"]
    assert "Meta's family of models" in all_text(related["blocks"])


async def test_related_click_in_a_slash_reply_answers_privately_with_share(slack: Slack) -> None:
    await slack.fake.slash(COMMAND, LICENSING_Q)
    await slack.reply("response_url")
    await slack.fake.click(slack.ephemeral(), "related:llama")
    related = await slack.reply("response_url", 2)
    assert related["response_type"] == "ephemeral" and related["replace_original"] is False
    assert "share:llama" in action_ids(related["blocks"])


@pytest.mark.parametrize("vote", ["helpful", "not_helpful"])
async def test_feedback_click_is_acknowledged_privately_in_the_thread(slack: Slack, vote: str) -> None:
    mention_ts = await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    await slack.fake.click(slack.fake.visible_messages()[0], f"{vote}:licensing", user="UBOB")
    thanks = await slack.reply("chat.postEphemeral")
    assert thanks["user"] == "UBOB" and thanks["thread_ts"] == mention_ts
    assert "Thanks for the feedback" in thanks["text"]


async def test_feedback_click_in_a_slash_reply_is_acknowledged_through_the_response_url(slack: Slack) -> None:
    await slack.fake.slash(COMMAND, LLAMA_Q)
    await slack.reply("response_url")
    await slack.fake.click(slack.ephemeral(), "helpful:llama")
    thanks = await slack.reply("response_url", 2)
    assert thanks["response_type"] == "ephemeral" and "Thanks for the feedback" in thanks["text"]


async def test_click_on_an_entry_no_longer_in_the_faq_says_so(slack: Slack) -> None:
    await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    message = slack.fake.visible_messages()[0]
    next(e for _, e in message.buttons() if e["action_id"] == "related:llama")["value"] = "removed-entry"
    await slack.fake.click(message, "related:llama")
    note = await slack.reply("chat.postEphemeral")
    assert "no longer in my FAQ" in note["text"]


async def test_related_click_on_a_shared_answer_answers_in_its_thread_not_in_the_channel(slack: Slack) -> None:
    await slack.fake.slash(COMMAND, LICENSING_Q, user="UALICE", channel="CGENERAL")
    await slack.reply("response_url")
    await slack.fake.click(slack.ephemeral(), "share:licensing", user="UALICE")
    await slack.reply("chat.postMessage")
    shared = next(m for m in slack.fake.visible_messages("CGENERAL") if not m.ephemeral)
    assert shared.thread_ts is None  # the shared answer itself is in the channel, for everyone
    await slack.fake.click(shared, "related:llama", user="UBOB")
    related = await slack.reply("chat.postMessage", 2)
    assert related["thread_ts"] == shared.ts
    assert "Meta's family of models" in all_text(related["blocks"])
