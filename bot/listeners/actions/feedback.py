"""Helpful / Not helpful on an answer: one vote per person per reply, thanked privately."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ... import blocks
from ...answering import reply_to_click
from ..deps import Deps


def reply_key(body: dict[str, Any]) -> str:
    """Which reply a click was on: its channel and message time stamp (one vote per person per reply)."""
    container = body.get("container", {})
    channel = container.get("channel_id") or body.get("channel", {}).get("id", "")
    ts = container.get("message_ts") or body.get("message", {}).get("ts", "")
    return f"{channel}:{ts}"


def team_id(body: dict[str, Any]) -> str | None:
    return (body.get("team") or {}).get("id") or body.get("user", {}).get("team_id")


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(re.compile(rf"^(?:{blocks.HELPFUL}|{blocks.NOT_HELPFUL}):"))
    async def on_feedback(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await ack()
        if deps.recorder is not None and (entry_id := action.get("value")):
            deps.recorder.vote(reply_key(body), team_id(body), body["user"]["id"], entry_id,
                               helpful=action["action_id"].startswith(f"{blocks.HELPFUL}:"))
        await reply_to_click(body, client, respond, blocks.feedback_reply(), "private")
