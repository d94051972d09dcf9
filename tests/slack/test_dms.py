"""Direct messages: answered in the DM; edits, deletions, other subtypes, bots and the bot itself ignored."""

from __future__ import annotations

import pytest

from .slackkit import LICENSING_Q, LLAMA_Q, Slack, button_values


async def test_dm_is_answered_in_the_dm(slack: Slack) -> None:
    await slack.fake.message(LICENSING_Q, user="UALICE", channel="DALICE")
    reply = await slack.reply()
    assert reply["channel"] == "DALICE"
    assert reply.get("thread_ts") is None
    assert button_values(reply["blocks"], "helpful") == ["licensing"]


IGNORED = {
    "edit": {"subtype": "message_changed", "user": None},
    "deletion": {"subtype": "message_deleted", "user": None},
    "channel join": {"subtype": "channel_join"},
    "other bot": {"subtype": "bot_message", "bot_id": "BOTHER", "user": None},
    "bot with a user id": {"bot_id": "BOTHER", "user": "UOTHERBOT"},
    "itself": {"user": "UBOT"},
    "channel message": {"channel_type": "channel", "channel": "CGENERAL"},
}


@pytest.mark.parametrize("extra", IGNORED.values(), ids=IGNORED.keys())
async def test_dm_listener_ignores_subtypes_bots_and_itself(slack: Slack, extra: dict) -> None:
    status, _ = await slack.fake.message(LICENSING_Q, **extra)
    assert status == 200  # acknowledged, so Slack does not retry it
    # Two real questions sent afterwards are answered; a reply to the ignored one would have come before
    # the second of them, as each is handled in the order it arrives.
    for count in (1, 2):
        await slack.fake.message(LLAMA_Q, user="UBOB", channel="DBOB")
        await slack.fake.wait_for("chat.postMessage", count)
    calls = slack.fake.calls_to("chat.postMessage")
    assert [c.args["channel"] for c in calls] == ["DBOB", "DBOB"]
