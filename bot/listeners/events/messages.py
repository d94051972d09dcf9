"""Message events: DMs are answered; in channels, only replies in the threads the bot follows may be."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ...answering import Question
from ..deps import Deps
from .mentions import from_a_person
from .thread_replies import is_thread_reply, on_thread_reply


def register(app: AsyncApp, deps: Deps) -> None:
    # Every message event comes here, so that Slack gets an ack even for the ones ignored. In channels that is every
    # message of every channel the bot is in: all but replies in the threads it follows are dropped at once, without
    # the matcher or a call to Slack, and nothing of them is kept.
    @app.event("message")
    async def on_message(event: dict, body: dict, context: dict, client: AsyncWebClient) -> None:
        if not from_a_person(event, context):
            return
        if event.get("channel_type") == "im":
            await on_dm(event, body, client)
            return
        if deps.handoffs is not None and is_thread_reply(event) and await deps.handoffs.watching(
                event["channel"], event["thread_ts"]):
            # An answer to a question handed to the team (in the team's thread, or the asker's: which may also be a
            # thread the bot follows, so it goes on below).
            await deps.handoffs.answered(client, event, body.get("team_id"), context.get("bot_user_id") or "")
        if deps.threads is not None and is_thread_reply(event):
            await on_thread_reply(deps, deps.threads, event, body, context, client)

    async def on_dm(event: dict, body: dict, client: AsyncWebClient) -> None:
        question = Question(event.get("text", ""), "dm", event["user"], event["channel"], body.get("team_id"))
        handled = deps.with_handoff(question, await deps.answer(question))
        try:
            await client.chat_postMessage(channel=event["channel"], thread_ts=event.get("thread_ts"),
                                          **handled.reply.as_kwargs())
        finally:
            deps.record(question, handled)
