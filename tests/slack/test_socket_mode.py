"""Socket Mode through a loopback WebSocket speaking Slack's protocol: hello, envelopes, acks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import create_app
from bot.fakeslack import FakeSlack
from bot.serve import socket_handler
from bot.state import KnowledgeHolder

from .slackkit import COMMAND, LICENSING_Q, all_text, make_config


@pytest.fixture
async def socket_fake(fake: FakeSlack, kb) -> AsyncIterator[FakeSlack]:
    config = make_config(fake, signing_secret=None)
    handler = socket_handler(create_app(config, KnowledgeHolder(kb)), config)
    await handler.connect_async()
    yield fake
    await handler.close_async()


async def test_socket_mode_opens_the_connection_with_the_app_token(socket_fake: FakeSlack) -> None:
    opened = await socket_fake.wait_for("apps.connections.open")
    assert opened[0].token == "xapp-test"


async def test_socket_mode_acks_the_envelope_then_replies_in_thread(socket_fake: FakeSlack) -> None:
    ts = await socket_fake.mention(LICENSING_Q)
    assert [a["envelope_id"] for a in socket_fake.acks] == [e["envelope_id"] for e in socket_fake.envelopes]
    assert socket_fake.envelopes[0]["type"] == "events_api"
    reply = (await socket_fake.wait_for("chat.postMessage"))[0].args
    assert reply["thread_ts"] == ts
    assert "read the licence" in all_text(reply["blocks"])


async def test_socket_mode_slash_command_is_acked_and_answered_ephemerally(socket_fake: FakeSlack) -> None:
    await socket_fake.slash(COMMAND, LICENSING_Q)
    reply = (await socket_fake.wait_for("response_url"))[0].args
    assert reply["response_type"] == "ephemeral"
    assert [a["envelope_id"] for a in socket_fake.acks] == [socket_fake.envelopes[0]["envelope_id"]]


async def test_socket_mode_button_click_is_acked_and_handled(socket_fake: FakeSlack) -> None:
    await socket_fake.mention(LICENSING_Q)
    await socket_fake.wait_for("chat.postMessage")
    await socket_fake.click(socket_fake.visible_messages()[0], "related:llama")
    related = (await socket_fake.wait_for("chat.postMessage", 2))[1].args
    assert "Meta's family of models" in all_text(related["blocks"])
    assert [a["envelope_id"] for a in socket_fake.acks] == [e["envelope_id"] for e in socket_fake.envelopes]
    assert [e["type"] for e in socket_fake.envelopes] == ["events_api", "interactive"]
