"""The HTTP server itself: health, signature checks, Slack's URL check, retries, SLACK_API_URL."""

from __future__ import annotations

import json
import time

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.fakeslack import FakeSlack

from .slackkit import LICENSING_Q, SECRET, Slack


async def test_healthz_is_200_when_the_knowledge_is_loaded(slack: Slack) -> None:
    async with aiohttp.ClientSession() as http, http.get(slack.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["entries"] == 3


async def test_healthz_is_503_without_knowledge(slack: Slack) -> None:
    slack.holder.current = None  # type: ignore[assignment]
    async with aiohttp.ClientSession() as http, http.get(slack.url + "/healthz") as response:
        assert response.status == 503


async def _post(slack: Slack, body: str, signature: str, timestamp: str) -> int:
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": signature}
    async with aiohttp.ClientSession() as http, http.post(slack.url + "/slack/events", data=body,
                                                           headers=headers) as response:
        return response.status


async def test_requests_without_a_valid_signature_are_refused(slack: Slack) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T0FAKE", "event": {
        "type": "app_mention", "user": "UALICE", "text": f"<@UBOT> {LICENSING_Q}", "ts": "1.1", "channel": "C1"}})
    now = str(int(time.time()))
    wrong = SignatureVerifier("0" * 32).generate_signature(timestamp=now, body=body)
    stale = str(int(time.time()) - 3600)
    assert await _post(slack, body, wrong, now) == 401
    assert await _post(slack, body, SignatureVerifier(SECRET).generate_signature(timestamp=stale, body=body),
                       stale) == 401
    assert slack.fake.calls_to("chat.postMessage") == []


async def test_url_verification_is_answered_with_the_challenge(slack: Slack) -> None:
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "c-123"})
    now = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": now,
               "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=now, body=body)}
    async with aiohttp.ClientSession() as http, http.post(slack.url + "/slack/events", data=body,
                                                           headers=headers) as response:
        assert response.status == 200
        assert "c-123" in await response.text()


async def test_rate_limited_reply_is_retried_after_retry_after(slack: Slack) -> None:
    slack.fake.fail("chat.postMessage", status=429, headers={"Retry-After": "0"})
    await slack.fake.mention(LICENSING_Q)
    calls = await slack.fake.wait_for("chat.postMessage", 2)
    assert calls[0].args == calls[1].args
    assert slack.fake.visible_messages()  # the retry got through


async def test_server_error_reply_is_retried(slack: Slack) -> None:
    slack.fake.fail("chat.postMessage", status=500)
    await slack.fake.mention(LICENSING_Q)
    await slack.fake.wait_for("chat.postMessage", 2)
    assert slack.fake.visible_messages()


async def test_every_web_api_call_goes_to_slack_api_url_with_the_bot_token(slack: Slack, fake: FakeSlack) -> None:
    await fake.mention(LICENSING_Q)
    await slack.reply()
    assert {c.method for c in fake.calls} >= {"auth.test", "chat.postMessage"}
    assert {c.token for c in fake.calls} == {"xoxb-test"}
