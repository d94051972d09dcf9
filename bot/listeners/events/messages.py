"""Message events: DMs are answered; in channels, only replies in the threads the bot follows may be."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ...answering import Question, answer
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
        elif deps.threads is not None and is_thread_reply(event):
            await on_thread_reply(deps, deps.threads, event, body, context, client)

    async def on_dm(event: dict, body: dict, client: AsyncWebClient) -> None:
        question = Question(event.get("text", ""), "dm", event["user"], event["channel"], body.get("team_id"))
        handled = await answer(deps.holder.current, question, deps.command)
        try:
            await client.chat_postMessage(channel=event["channel"], thread_ts=event.get("thread_ts"),
                                          **handled.reply.as_kwargs())
        finally:
            deps.record(question, handled)
