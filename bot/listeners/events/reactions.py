"""🤫 on one of the bot's replies stops its follow-ups in that thread."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from ..deps import Deps

log = logging.getLogger(__name__)

SHUSH = "shushing_face"


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("reaction_added")
    async def on_reaction(event: dict, context: dict) -> None:
        # Slack sends every reaction in the channels the bot is in: anything but 🤫 on a message of the bot's is
        # dropped at once. No message in reply: a 🤫 asks for quiet.
        item = event.get("item") or {}
        if (deps.threads is None or str(event.get("reaction", "")).split("::")[0] != SHUSH
                or item.get("type") != "message"
                or event.get("item_user", context.get("bot_user_id")) != context.get("bot_user_id")):
            return
        if await deps.threads.stop_by_reply(item["channel"], item["ts"]):
            log.info("follow-ups stopped in a thread by a %s reaction", SHUSH)
