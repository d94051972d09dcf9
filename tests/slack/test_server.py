"""The HTTP server itself: health, signature checks, Slack's URL check, retries, SLACK_API_URL."""

from __future__ import annotations

import json
import logging
import time

import aiohttp
import pytest
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


def _forgeries() -> dict[str, tuple[str, dict[str, str]]]:
    """Name -> (body, headers) of requests that must be refused; each would be answered if it were genuine."""
    body = json.dumps({"type": "event_callback", "team_id": "T0FAKE", "event_id": "EvFORGED", "event": {
        "type": "app_mention", "user": "UALICE", "text": f"<@UBOT> {LICENSING_Q}", "ts": "1.1", "channel": "C1"}})
    now = str(int(time.time()))
    stale, future = str(int(time.time()) - 6 * 60), str(int(time.time()) + 6 * 60)
    signed = SignatureVerifier(SECRET).generate_signature

    def headers(timestamp: str | None, signature: str | None) -> dict[str, str]:
        found = {"Content-Type": "application/json"}
        if timestamp is not None:
            found["X-Slack-Request-Timestamp"] = timestamp
        if signature is not None:
            found["X-Slack-Signature"] = signature
        return found

    tampered = body.replace("UALICE", "UMALLORY")
    return {
        "no headers": (body, headers(None, None)),
        "no signature": (body, headers(now, None)),
        "no timestamp": (body, headers(None, signed(timestamp=now, body=body))),
        "wrong secret": (body, headers(now, SignatureVerifier("0" * 32).generate_signature(timestamp=now, body=body))),
        "garbage signature": (body, headers(now, "v0=not-a-signature")),
        "stale timestamp": (body, headers(stale, signed(timestamp=stale, body=body))),
        "future timestamp": (body, headers(future, signed(timestamp=future, body=body))),
        "tampered body": (tampered, headers(now, signed(timestamp=now, body=body))),
        "signature of another timestamp": (body, headers(now, signed(timestamp=stale, body=body))),
    }


FORGERIES = _forgeries()


@pytest.mark.parametrize("name", FORGERIES)
async def test_forged_or_stale_requests_are_refused_with_401_and_do_nothing(slack: Slack, name: str) -> None:
    body, headers = _forgeries()[name]  # signed now: made at import, a "future" stamp ages into the window
    async with aiohttp.ClientSession() as http, http.post(slack.url + "/slack/events", data=body,
                                                           headers=headers) as response:
        assert response.status == 401
    assert slack.fake.calls == []  # not even auth.test: nothing past the signature check ran
    # The same app still answers a genuine request.
    await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


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


def _junk() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Name -> (raw body, headers) of requests that are not correctly signed and are not even well-formed."""
    now = str(int(time.time()))
    event = b'{"type": "event_callback", "event_id": "EvJUNK", "event": {"type": "app_mention"}}'

    def unsigned(content_type: str) -> dict[str, str]:
        return {"Content-Type": content_type}

    return {
        "timestamp that is not a number": (event, {"Content-Type": "application/json",
                                                   "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}),
        "timestamp with a sign": (event, {"Content-Type": "application/json",
                                          "X-Slack-Request-Timestamp": f"+{now}", "X-Slack-Signature": "v0=00"}),
        "signature that is not ascii": (event, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": now,
                                                "X-Slack-Signature": "v0=é"}),
        "null": (b"null", unsigned("application/json")),
        "a list": (b"[1]", unsigned("application/json")),
        "broken json": (b'{"type": "event_callback", ', unsigned("application/json")),
        "binary": (bytes(range(256)), unsigned("application/octet-stream")),
        "binary as json": (b"\xff\xfe{\x00", unsigned("application/json")),
        "broken payload form": (b"payload=%7B%22type%22%3A", unsigned("application/x-www-form-urlencoded")),
        "payload form of a list": (b"payload=%5B1%5D", unsigned("application/x-www-form-urlencoded")),
        "empty": (b"", unsigned("application/json")),
        "no content type": (b"\x00\x01", {}),
    }


JUNK = _junk()


@pytest.mark.parametrize("name", JUNK)
async def test_junk_that_is_not_signed_gets_401_and_is_not_a_failed_reply(
        slack: Slack, name: str, caplog: pytest.LogCaptureFixture) -> None:
    body, headers = JUNK[name]
    async with aiohttp.ClientSession() as http:
        async with http.post(slack.url + "/slack/events", data=body, headers=headers) as response:
            assert response.status == 401
        async with http.get(slack.url + "/healthz") as response:
            assert (await response.json())["failed_replies"] == 0
    assert slack.fake.calls == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
