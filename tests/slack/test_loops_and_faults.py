"""No loops (bots, the bot itself and subtypes are never answered) and Slack API faults (retried with bounded
backoff; a reply that still fails is logged with its event id and counted)."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.fakeslack import FakeSlack

from .slackkit import LICENSING_Q, LLAMA_Q, Slack, until

BOT_MENTIONS = {
    "other bot": {"bot_id": "BOTHER", "user": "UOTHERBOT"},
    "bot message": {"subtype": "bot_message", "bot_id": "BOTHER"},
    "itself": {"user": "UBOT", "bot_id": "BBOT"},
    "edited": {"subtype": "message_changed"},
}


@pytest.mark.parametrize("extra", BOT_MENTIONS.values(), ids=BOT_MENTIONS.keys())
async def test_mentions_by_bots_itself_or_with_a_subtype_are_not_answered(slack: Slack, fake: FakeSlack,
                                                                          extra: dict) -> None:
    user = extra.pop("user", "UALICE")
    status, _ = await fake.send_event(fake.mention_payload(LICENSING_Q, user=user, channel="CBOT", **extra))
    assert status == 200
    await fake.mention(LLAMA_Q, channel="CHUMAN")
    await fake.wait_for("chat.postMessage")
    await fake.mention(LLAMA_Q, channel="CHUMAN")
    await fake.wait_for("chat.postMessage", 2)
    assert [c.args["channel"] for c in fake.calls_to("chat.postMessage")] == ["CHUMAN", "CHUMAN"]


async def test_rate_limits_are_retried_again_and_again_within_bounds(slack: Slack, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, headers={"Retry-After": "0"}, times=2)
    await fake.mention(LICENSING_Q)
    calls = await fake.wait_for("chat.postMessage", 3)
    assert len({str(c.args) for c in calls}) == 1
    assert len(fake.visible_messages()) == 1


async def test_a_reply_that_keeps_failing_is_logged_with_its_event_id_and_counted(
        slack: Slack, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    fake.fail("chat.postMessage", status=429, headers={"Retry-After": "0"}, times=100)
    caplog.set_level(logging.ERROR, logger="bot.app")
    payload = fake.mention_payload(LICENSING_Q)
    await fake.send_event(payload)
    await fake.wait_for("chat.postMessage", 3)  # the first try and two retries, then it gives up
    event_id = payload["event_id"]
    await until(lambda: slack.holder.counters.failed_replies == 1)
    assert any(event_id in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert len(fake.calls_to("chat.postMessage")) == 3  # bounded: no endless retrying
    async with aiohttp.ClientSession() as http, http.get(slack.url + "/healthz") as response:
        assert (await response.json())["failed_replies"] == 1


async def test_a_reply_refused_by_slack_is_logged_and_counted(slack: Slack, fake: FakeSlack,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    fake.fail("chat.postMessage", error="channel_not_found")
    caplog.set_level(logging.ERROR, logger="bot.app")
    payload = fake.mention_payload(LICENSING_Q)
    await fake.send_event(payload)
    await until(lambda: slack.holder.counters.failed_replies == 1)
    assert any(payload["event_id"] in r.getMessage() and "channel_not_found" in r.getMessage()
               for r in caplog.records)


