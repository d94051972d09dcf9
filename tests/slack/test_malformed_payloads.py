"""Correctly signed payloads that lack what the bot needs to act on them (a click without its user, a command without
its response_url, a mention without its channel...): refused before Bolt sees them, 400 over HTTP, acknowledged and
dropped with a warning in Socket Mode. Nothing is answered, recorded or counted as a failed reply, and nothing is
logged as an error: only Slack can sign, so such a payload is a bug or an experiment, not a reply that failed."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.app import create_app
from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.serve import socket_handler
from bot.state import KnowledgeHolder
from bot.store import Store
from knowledge import KnowledgeBase

from .slackkit import COMMAND, LICENSING_Q, SECRET, STORE_KEY, Slack, make_config, start_slack, until

Payload = dict[str, Any]


def _event(event: Payload) -> Payload:
    return {"token": "verification-token", "team_id": "T0FAKE", "api_app_id": "A0FAKE", "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": "T0FAKE", "user_id": "UBOT", "is_bot": True}]}


def mention() -> Payload:
    return _event({"type": "app_mention", "user": "UALICE", "text": f"<@UBOT> {LICENSING_Q}", "ts": "1.000001",
                   "channel": "CGENERAL", "event_ts": "1.000001"})


def direct_message() -> Payload:
    return _event({"type": "message", "channel": "DALICE", "channel_type": "im", "user": "UALICE",
                   "text": LICENSING_Q, "ts": "2.000001", "event_ts": "2.000001"})


def thread_reply() -> Payload:
    return _event({"type": "message", "channel": "CGENERAL", "channel_type": "channel", "user": "UALICE",
                   "text": LICENSING_Q, "ts": "3.000002", "thread_ts": "3.000001", "event_ts": "3.000002"})


def reaction() -> Payload:
    return _event({"type": "reaction_added", "user": "UALICE", "reaction": "shushing_face", "item_user": "UBOT",
                   "item": {"type": "message", "channel": "CGENERAL", "ts": "3.000001"}, "event_ts": "4.000001"})


def home_opened() -> Payload:
    return _event({"type": "app_home_opened", "user": "UALICE", "channel": "DALICE", "tab": "home",
                   "event_ts": "5.000001"})


def slash_command() -> Payload:
    return {"token": "verification-token", "team_id": "T0FAKE", "team_domain": "fake", "channel_id": "CGENERAL",
            "channel_name": "general", "user_id": "UALICE", "user_name": "ualice", "command": COMMAND,
            "text": LICENSING_Q, "api_app_id": "A0FAKE", "response_url": "http://127.0.0.1:9/response/x",
            "trigger_id": "trigger-x"}


def click(ephemeral: bool = False) -> Payload:
    """A click on the Related button of an answer in a channel (Slack sends no copy of an ephemeral message)."""
    payload: Payload = {
        "type": "block_actions", "api_app_id": "A0FAKE", "token": "verification-token",
        "user": {"id": "UALICE", "username": "ualice", "team_id": "T0FAKE"},
        "team": {"id": "T0FAKE", "domain": "fake"}, "channel": {"id": "CGENERAL", "name": "general"},
        "container": {"type": "message", "message_ts": "6.000001", "channel_id": "CGENERAL",
                      "is_ephemeral": ephemeral},
        "trigger_id": "trigger-y", "response_url": "http://127.0.0.1:9/response/y",
        "actions": [{"type": "button", "action_id": "related:llama", "block_id": "b1",
                     "text": {"type": "plain_text", "text": "LLaMA"}, "value": "llama", "action_ts": "6.000002"}],
    }
    if not ephemeral:
        payload["message"] = {"type": "message", "ts": "6.000001", "text": "an answer", "blocks": [],
                              "user": "UBOT", "bot_id": "BBOT"}
    return payload


def home_click() -> Payload:
    """A click on a button of the (admin) App Home, Undo: from a view, without a channel or message."""
    return {"type": "block_actions", "api_app_id": "A0FAKE", "token": "verification-token",
            "user": {"id": "UALICE", "username": "ualice", "team_id": "T0FAKE"},
            "team": {"id": "T0FAKE", "domain": "fake"}, "container": {"type": "view", "view_id": "V0HOME"},
            "trigger_id": "trigger-z", "view": {"id": "V0HOME", "type": "home", "blocks": []},
            "actions": [{"type": "button", "action_id": "teach_undo:1", "block_id": "teach:1", "value": "1",
                         "action_ts": "7.000001"}]}


def _without(path: str) -> Callable[[Payload], None]:
    """Delete the field at the dotted `path` (`actions.0.action_id`)."""

    def change(payload: Payload) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[last]

    return change


def _set(path: str, value: Any) -> Callable[[Payload], None]:
    def change(payload: Payload) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _both(*changes: Callable[[Payload], None]) -> Callable[[Payload], None]:
    def change(payload: Payload) -> None:
        for one in changes:
            one(payload)

    return change


# Name -> (how Slack would deliver it, the genuine payload, what is wrong with it).
MALFORMED: dict[str, tuple[str, Callable[[], Payload], Callable[[Payload], None]]] = {
    "a click without user": ("interactive", click, _without("user")),
    "a click with user as a string": ("interactive", click, _set("user", "UALICE")),
    "a click whose user has no id": ("interactive", click, _without("user.id")),
    "a click without channel": ("interactive", click, _without("channel")),
    "a click without the message ts": ("interactive", click,
                                       _both(_without("message.ts"), _without("container.message_ts"))),
    "a click without actions": ("interactive", click, _set("actions", [])),
    "a click whose action has no action_id": ("interactive", click, _without("actions.0.action_id")),
    "an ephemeral click without response_url": ("interactive", lambda: click(ephemeral=True),
                                                _without("response_url")),
    "a Home click without user": ("interactive", home_click, _without("user")),
    "a slash command without response_url": ("slash_commands", slash_command, _without("response_url")),
    "a slash command without user_id": ("slash_commands", slash_command, _without("user_id")),
    "a mention without channel": ("events_api", mention, _without("event.channel")),
    "a mention without ts": ("events_api", mention, _without("event.ts")),
    "a DM without channel": ("events_api", direct_message, _without("event.channel")),
    "a thread reply without channel": ("events_api", thread_reply, _without("event.channel")),
    "a reaction whose item has no channel": ("events_api", reaction, _without("event.item.channel")),
    "a reaction whose item has no ts": ("events_api", reaction, _without("event.item.ts")),
    "a Home open without user": ("events_api", home_opened, _without("event.user")),
}


def malformed(name: str) -> tuple[str, Payload]:
    kind, genuine, change = MALFORMED[name]
    payload = copy.deepcopy(genuine())
    change(payload)
    return kind, payload


def encoded(kind: str, payload: Payload) -> tuple[str, str]:
    """The body and content type Slack sends `payload` with over HTTP."""
    if kind == "events_api":
        return json.dumps(payload), "application/json"
    if kind == "slash_commands":
        return urlencode(payload), "application/x-www-form-urlencoded"
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


async def post_signed(url: str, kind: str, payload: Payload) -> int:
    """POST `payload` to `url` as Slack would, correctly signed; the status."""
    body, content_type = encoded(kind, payload)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": signature or ""}
    async with aiohttp.ClientSession() as http, http.post(url + "/slack/events", data=body.encode(),
                                                          headers=headers) as response:
        return response.status


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.fixture
async def recorded(fake: FakeSlack, kb: KnowledgeBase, tmp_path: Path
                   ) -> AsyncIterator[tuple[Slack, Recorder, Store]]:
    """The app over HTTP, recording questions in a SQLite store of its own."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    recorder = Recorder(store, STORE_KEY)
    slack = await start_slack(fake, kb, recorder=recorder)
    yield slack, recorder, store
    await slack.runner.cleanup()
    recorder.close()
    store.close()


@pytest.mark.parametrize("name", MALFORMED)
async def test_a_signed_payload_without_what_the_bot_needs_gets_400_and_nothing_else(
        recorded: tuple[Slack, Recorder, Store], name: str, caplog: pytest.LogCaptureFixture) -> None:
    slack, recorder, store = recorded
    assert await post_signed(slack.url, *malformed(name)) == 400
    assert slack.fake.calls == []  # not even auth.test: Bolt never saw it
    assert any("lacks" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # Genuine questions after it are answered and recorded, and they are the only ones recorded.
    await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    await slack.fake.slash(COMMAND, LICENSING_Q)
    await slack.reply("response_url")

    def surfaces() -> list[str]:
        assert recorder.flush()
        return [q.surface for q in store.questions_since(datetime(2000, 1, 1, tzinfo=UTC))]

    await until(lambda: len(surfaces()) >= 2)  # recorded once answered
    assert surfaces() == ["mention", "slash"]
    assert slack.holder.counters.failed_replies == 0
    assert errors(caplog) == []


@pytest.mark.parametrize("kind,make", [("events_api", mention), ("events_api", direct_message),
                                       ("events_api", home_opened), ("slash_commands", slash_command),
                                       ("interactive", home_click)])
async def test_the_genuine_payloads_those_are_made_from_are_accepted(
        recorded: tuple[Slack, Recorder, Store], kind: str, make: Callable[[], Payload],
        caplog: pytest.LogCaptureFixture) -> None:
    slack, _, _ = recorded
    assert await post_signed(slack.url, kind, make()) == 200
    await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    assert errors(caplog) == []


@pytest.fixture
async def socket_fake(fake: FakeSlack, kb: KnowledgeBase) -> AsyncIterator[FakeSlack]:
    config = make_config(fake, signing_secret=None)
    handler = socket_handler(create_app(config, KnowledgeHolder(kb)), config)
    await handler.connect_async()
    await fake.wait_for("apps.connections.open")
    yield fake
    await handler.close_async()


@pytest.mark.parametrize("name", MALFORMED)
async def test_in_socket_mode_such_an_envelope_is_acknowledged_and_dropped_with_a_warning(
        socket_fake: FakeSlack, name: str, caplog: pytest.LogCaptureFixture) -> None:
    kind, payload = malformed(name)
    ack = await socket_fake.send_envelope(kind, payload)
    assert ack["envelope_id"] == socket_fake.envelopes[-1]["envelope_id"]
    assert [c.method for c in socket_fake.calls] == ["apps.connections.open"]
    assert any("lacks" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # The connection still works, and nothing went wrong meanwhile.
    await socket_fake.mention(LICENSING_Q)
    await socket_fake.wait_for("chat.postMessage")
    assert [c.method for c in socket_fake.calls] == ["apps.connections.open", "auth.test", "chat.postMessage"]
    assert errors(caplog) == []


ODD_ENVELOPES: dict[str, tuple[str, Any]] = {
    "a payload that is a list": ("events_api", [1, 2]),
    "a payload that is a number": ("interactive", 5),
    "a payload of the wrong types": ("events_api", {**mention(), "event": "not an object"}),
}


@pytest.mark.parametrize("name", ODD_ENVELOPES)
async def test_in_socket_mode_an_envelope_that_is_not_a_slack_payload_is_acknowledged_and_dropped(
        socket_fake: FakeSlack, name: str, caplog: pytest.LogCaptureFixture) -> None:
    kind, payload = ODD_ENVELOPES[name]
    ack = await socket_fake.send_envelope(kind, payload)
    assert ack["envelope_id"] == socket_fake.envelopes[-1]["envelope_id"]
    assert [c.method for c in socket_fake.calls] == ["apps.connections.open"]
    await socket_fake.mention(LICENSING_Q)
    await socket_fake.wait_for("chat.postMessage")
    assert errors(caplog) == []
