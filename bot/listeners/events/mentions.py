"""`@openllm …` in a channel: answered in a thread (the mention's own, or a new one under it). A mention in a thread
whose own words are not enough is read with what the thread says before it."""

from __future__ import annotations

import re
from dataclasses import replace

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ... import blocks
from ...answering import Handled, Question
from ...follow_ups import classify, needs_the_thread
from ..deps import Deps
from .thread_replies import say_stopped, thread_question


def from_a_person(event: dict, context: dict) -> bool:
    """Bots (itself included) never get an answer: no loops between bots; nor do edits, deletions or joins."""
    return not (event.get("subtype") or event.get("bot_id") or not event.get("user")
                or event.get("user") == context.get("bot_user_id"))


def without_mention(text: str, bot_user_id: str) -> str:
    """A mention's text without the bot's own mention (`<@UBOT>` or `<@UBOT|name>`)."""
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text).strip() if bot_user_id else text.strip()


async def with_thread(deps: Deps, client: AsyncWebClient, event: dict, text: str,
                      question: Question, alone: Handled) -> Handled:
    """The reply to a mention in a thread: `alone` (its own words matched) unless those are not enough and what the
    thread says makes an answer of it.

    Not enough: it is not answered on its own, and either gets suggestions or points back at the thread ("so what
    should we watch out for?", "and them?"); a mention declined on its own ("what's the weather?") stays declined.
    The asker's words are matched with the thread's parent, with the latest message before it, and with both: the
    asker's own words are in each, and nothing longer than those two messages is read. What is recorded is the
    asker's words only."""
    if alone.outcome in (None, "answer") or not event.get("thread_ts"):
        return alone
    if alone.outcome == "none" and not needs_the_thread(text, deps.vocabulary):
        return alone
    found = await deps.thread_reader.context(client, event["channel"], event["thread_ts"], event["ts"])
    if found is None:
        return alone
    latest = found.latest[-1] if found.latest else ""
    readings = dict.fromkeys(r for r in (found.parent, latest, f"{found.parent}\n{latest}".strip()) if r)
    kb, best = deps.holder.current, alone
    for reading in readings:
        together = replace(question, text=f"{reading}\n{text}")
        handled = await deps.answer(together, kb)
        if handled.outcome == "answer" and (best is alone or (handled.score or 0) > (best.score or 0)):
            best = handled
    if best is alone or best.entry_id is None or (entry := kb.entry(best.entry_id)) is None:
        return alone
    return replace(best, reply=blocks.understood_in_thread(best.reply, entry.question), query=alone.query)


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
        handled = await with_thread(deps, client, event, text, question,
                                    await deps.answer(question))
        handled = deps.with_handoff(question, handled)  # "Ask the team" on a decline or a guess
        try:
            posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **handled.reply.as_kwargs())
        finally:
            deps.record(question, handled)
        if threads is not None:
            # Help, topics or an introduction leave no question for a follow-up to go on from.
            await threads.answered(channel, thread_ts, thread_question(text) if handled.outcome else "",
                                   posted["ts"], handled.entry_id)
