"""Arbitrary raw requests to `POST /slack/events`, signed and unsigned: the answer is 401 to anything not correctly
signed, never a 5xx to anything, and nothing is counted as a failed reply."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.request import correctly_signed

from .slackkit import SECRET, Slack

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(["type", "event", "event_id", "team", "user", "channel",
                                                       "actions", "command", "payload", "authorizations",
                                                       "enterprise", "container", "view", "text", "x"]),
                                      children, max_size=5),
                    max_leaves=20)
SHAPED = st.fixed_dictionaries({"type": st.sampled_from(["event_callback", "block_actions", "url_verification",
                                                         "view_submission", "app_rate_limited", "x"])},
                               optional={"event": JSON, "event_id": JSON, "team_id": JSON, "actions": JSON,
                                         "user": JSON, "channel": JSON, "container": JSON, "challenge": JSON})
JSON_TEXT = st.one_of(JSON, SHAPED).map(json.dumps)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_TEXT.map(str.encode),
    JSON_TEXT.map(lambda text: text[: len(text) // 2].encode()),  # cut short
    st.one_of(JSON_TEXT, st.text(max_size=40)).map(lambda text: ("payload=" + quote(text)).encode()),
    st.dictionaries(st.sampled_from(["command", "text", "user_id", "channel_id", "response_url", "trigger_id"]),
                    st.text(max_size=20), max_size=6).map(lambda form: "&".join(
                        f"{quote(k)}={quote(v)}" for k, v in form.items()).encode()),
)
CONTENT_TYPES = st.sampled_from([None, "application/json", "application/x-www-form-urlencoded", "text/plain",
                                 "application/octet-stream", "application/json; charset=utf-8", "multipart/form-data"])
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
# How the request is signed: correctly, or one of the ways a forger (or junk) gets it wrong.
SIGNING = st.sampled_from(["correct", "none", "no timestamp", "stale", "wrong secret", "junk"])


def _headers(body: bytes, content_type: str | None, signing: str, junk: str) -> dict[str, str]:
    import hashlib
    import hmac

    now = int(time.time())
    timestamp = str(now - 600 if signing == "stale" else now)
    secret = "0" * 32 if signing == "wrong secret" else SECRET
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": content_type} if content_type else {}
    if signing == "junk":
        headers.update({"X-Slack-Request-Timestamp": junk, "X-Slack-Signature": junk})
    elif signing != "none":
        headers["X-Slack-Signature"] = signature
        if signing != "no timestamp":
            headers["X-Slack-Request-Timestamp"] = timestamp
    return headers


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=BODIES, content_type=CONTENT_TYPES, signing=SIGNING, junk=HEADER_TEXT)
async def test_any_raw_request_gets_401_or_is_handled_never_a_5xx_nor_a_failed_reply(
        slack: Slack, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str | None, signing: str,
        junk: str) -> None:
    headers = _headers(body, content_type, signing, junk)
    signed = signing == "correct"
    assert correctly_signed(SECRET, body, headers.get("X-Slack-Request-Timestamp"),
                            headers.get("X-Slack-Signature")) is signed
    async with aiohttp.ClientSession(headers={"Content-Type": ""}) as http:
        async with http.post(slack.url + "/slack/events", data=body, headers=headers) as response:
            if signed:  # only Slack can sign: junk from it is refused (400) or left unhandled (404), never a 5xx
                assert response.status < 500
            else:
                assert response.status == 401
        async with http.get(slack.url + "/healthz") as response:
            assert (await response.json())["failed_replies"] == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
