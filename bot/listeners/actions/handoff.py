""""Ask the team" on a reply that declined a question or was unsure of it (bot/handoff.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ...handoff import ASK_TEAM, read_value
from ..deps import Deps

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    """Nothing to register without HANDOFF_CHANNEL: no reply carries the button."""
    if deps.handoffs is None:
        return
    handoffs = deps.handoffs

    @app.action(ASK_TEAM)
    async def on_ask_team(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        asked = read_value(action.get("value"))
        if asked is None or not isinstance(body.get("message"), dict):  # only the bot's replies carry it
            log.warning("handoff: a click that names no question was ignored")
            return
        try:
            await handoffs.hand_off(client, body, asked)
        except Exception as exc:  # the store is down: nothing was posted, and the clicker is told
            log.error("handoff: %s: %s", exc.__class__.__name__, exc)
            await client.chat_postEphemeral(
                channel=body["channel"]["id"], user=body["user"]["id"], thread_ts=body["message"].get("thread_ts"),
                text="I couldn't hand this to the team just now; please try again in a while.")
