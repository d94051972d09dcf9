"""Buttons that answer: a "did you mean" guess (replaces the question), a related question (a new message beside
it) and "Share in channel" (the private answer posted for everyone)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import Entry, KnowledgeBase

from ... import blocks
from ...answering import How, reply_to_click
from ...blocks import Reply
from ...store import CLICK, QuestionRecord, utcnow
from ...workspaces import team_of
from ..deps import Deps

# chat.postMessage errors that mean the bot may not post there, though the user's response_url may.
_CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


def gone_reply() -> Reply:
    text = "That answer is no longer in my FAQ; please ask again."
    return Reply(text, [blocks.section(text, "gone")])


def register(app: AsyncApp, deps: Deps) -> None:
    async def clicked_entry(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any
                            ) -> tuple[KnowledgeBase, Entry] | None:
        """Ack the click and find the entry its button names; if the FAQ no longer has it, say so privately."""
        await ack()
        kb = deps.holder.current
        entry = kb.entry(action.get("value", ""))
        if entry is None:
            await reply_to_click(body, client, respond, gone_reply(), "private")
            return None
        return kb, entry

    async def answer_click(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any,
                           how: How) -> None:
        if not (found := await clicked_entry(ack, body, action, client, respond)):
            return
        kb, entry = found
        shareable = bool(body.get("container", {}).get("is_ephemeral"))
        await reply_to_click(body, client, respond, blocks.entry_reply(kb, entry, shareable=shareable), how)
        if deps.recorder is not None:  # an answer given: the report counts it for its entry, apart from questions
            team, channel = team_of(body), body["channel"]["id"]
            deps.recorder.question(QuestionRecord(utcnow(), CLICK, "answer", team, channel, entry_id=entry.id),
                                   body["user"]["id"])

    @app.action(re.compile(rf"^{blocks.SUGGEST}:"))
    async def on_suggestion(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await answer_click(ack, body, action, client, respond, "replace")

    @app.action(re.compile(rf"^{blocks.RELATED}:"))
    async def on_related(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await answer_click(ack, body, action, client, respond, "new")

    @app.action(re.compile(rf"^{blocks.SHARE}:"))
    async def on_share(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        if not (found := await clicked_entry(ack, body, action, client, respond)):
            return
        kb, entry = found
        reply = blocks.entry_reply(kb, entry, shared_by=blocks.user_mention(body["user"]["id"]))
        try:
            await client.chat_postMessage(channel=body["channel"]["id"], **reply.as_kwargs())
        except SlackApiError as exc:
            if exc.response.get("error") not in _CANNOT_POST:
                raise
            # A private channel or DM the bot is not in: the command's response_url can still post there.
            await respond(response_type="in_channel", replace_original=False, **reply.as_kwargs())
        await respond(delete_original=True)
