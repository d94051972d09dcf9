"""Helpful / Not helpful on an answer: one vote per person per reply. The voter sees their vote as it stands, in a
note only they see, with a button that changes it (the note is then updated in place). A 👎 also opens a short form
(`bot.feedback`) whose reason is kept beside the vote."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ... import blocks, feedback
from ...answering import How, reply_to_click
from ...store import user_hash
from ...workspaces import team_of
from ..deps import Deps

log = logging.getLogger(__name__)


def reply_key(body: dict[str, Any]) -> str:
    """Which reply a click was on: its channel and message time stamp (one vote per person per reply)."""
    container = body.get("container", {})
    channel = container.get("channel_id") or body.get("channel", {}).get("id", "")
    ts = container.get("message_ts") or body.get("message", {}).get("ts", "")
    return f"{channel}:{ts}"


def changed_vote(action: dict[str, Any]) -> tuple[str, str] | None:
    """(reply, entry id) that the note's button changes the vote on; None when its value does not name them."""
    try:
        found = json.loads(str(action.get("value") or ""))
    except ValueError:
        return None
    if not (isinstance(found, dict) and feedback.valid_reply(found.get("reply"))
            and feedback.valid_entry_id(found.get("entry"))):
        return None
    return found["reply"], found["entry"]


def register(app: AsyncApp, deps: Deps) -> None:
    async def ask_why(client: AsyncWebClient, body: dict[str, Any], voted: feedback.Voted) -> bool:
        """Open the form that says why (with the click's trigger, valid for 3 seconds: first); whether it opened."""
        if deps.recorder is None:  # nowhere to keep it
            return False
        entry = deps.holder.current.entry(voted.entry_id)
        view = feedback.form(deps.recorder.hash_key, voted, entry.question if entry else None)
        try:
            await client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
        except SlackApiError as exc:
            log.warning("feedback: the form for a reason could not be opened: %s", exc.response.get("error"))
            return False
        return True

    async def vote(body: dict[str, Any], client: AsyncWebClient, respond: Any, reply: str, entry_id: str,
                   helpful: bool, how: How) -> None:
        user, team = body["user"]["id"], team_of(body)
        asked_why = not helpful and await ask_why(client, body, feedback.Voted(reply, entry_id, user, team))
        if deps.recorder is not None:
            deps.recorder.vote(reply, team, user, entry_id, helpful=helpful)
        await reply_to_click(body, client, respond, blocks.vote_note(helpful, reply, entry_id, asked_why), how)

    @app.action(re.compile(rf"^(?:{blocks.HELPFUL}|{blocks.NOT_HELPFUL}):"))
    async def on_feedback(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await ack()
        entry_id = str(action.get("value") or "")
        if not feedback.valid_entry_id(entry_id):
            return
        await vote(body, client, respond, reply_key(body), entry_id,
                   action["action_id"].startswith(f"{blocks.HELPFUL}:"), "private")

    @app.action(re.compile(rf"^{blocks.REVOTE}:(?:{blocks.HELPFUL}|{blocks.NOT_HELPFUL})$"))
    async def on_change(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await ack()
        if (found := changed_vote(action)) is None:
            log.warning("feedback: a vote change that names no reply was ignored")
            return
        reply, entry_id = found
        await vote(body, client, respond, reply, entry_id, action["action_id"].endswith(f":{blocks.HELPFUL}"),
                   "replace")

    @app.view(feedback.CALLBACK_ID)
    async def on_reason(ack: Any, body: dict) -> None:
        if deps.recorder is None:
            await ack()
            return
        recorder = deps.recorder
        found = feedback.submitted(recorder.hash_key, body)
        if isinstance(found, feedback.Refused):
            log.warning("feedback: a reason was refused: %s", found.why)
            await ack(response_action="errors", errors={found.block: found.why})
            return
        await ack()  # the form closes; keeping the reason is the bot's business
        if found.reason is None and found.text is None:
            return
        voted = found.voted
        who = user_hash(recorder.hash_key, voted.team, voted.user)
        try:
            kept = await recorder.read(lambda store: store.add_vote_reason(voted.reply, who, found.reason, found.text))
        except Exception as exc:  # the store is down or refused it: the vote stands, without its reason
            log.error("feedback: a reason could not be kept: %s: %s", exc.__class__.__name__, exc)
            return
        if not kept:
            log.info("feedback: a reason was not kept: the vote it explains is no longer a 👎")
