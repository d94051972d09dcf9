"""`@openllm …` in a channel: answered in a thread (the mention's own, or a new one under it)."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ...answering import Question, answer
from ...follow_ups import classify
from ..deps import Deps
from .thread_replies import say_stopped, thread_question


def from_a_person(event: dict, context: dict) -> bool:
    """Bots (itself included) never get an answer: no loops between bots; nor do edits, deletions or joins."""
    return not (event.get("subtype") or event.get("bot_id") or not event.get("user")
                or event.get("user") == context.get("bot_user_id"))


def without_mention(text: str, bot_user_id: str) -> str:
    """A mention's text without the bot's own mention (`<@UBOT>` or `<@UBOT|name>`)."""
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text).strip() if bot_user_id else text.strip()


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_mention")
    async def on_mention(event: dict, body: dict, context: dict, client: AsyncWebClient) -> None:
        if not from_a_person(event, context):
            return
        channel, bot_user, threads = event["channel"], context.get("bot_user_id") or "", deps.threads
        thread_ts = event.get("thread_ts") or event["ts"]
        text = without_mention(event.get("text", ""), bot_user)
        if threads is not None and event.get("thread_ts") and classify(text, bot_user, None, deps.vocabulary
                                                                        ).kind == "stop":
            # "@openllm stop" in a thread: stopped, whether followed until now or not (so that answering a mention
            # there later does not start following it).
            await threads.stop(channel, thread_ts)
            await say_stopped(client, channel, thread_ts, event["user"])
            return
        question = Question(event.get("text", ""), "mention", event.get("user"), channel, body.get("team_id"))
        handled = await answer(deps.holder.current, question, deps.command)
        try:
            posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **handled.reply.as_kwargs())
        finally:
            deps.record(question, handled)
        if threads is not None:
            # Help, topics or an introduction leave no question for a follow-up to go on from.
            await threads.answered(channel, thread_ts, thread_question(text) if handled.outcome else "",
                                   posted["ts"], handled.entry_id)
