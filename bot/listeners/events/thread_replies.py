"""Follow-ups: a reply in a thread the bot answered in is answered there without a mention, "stop" (or 🤫)
keeps it out, and what a thread remembers of its last question."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase
from knowledge.matching.normalize import clip_question, normalize, words_without_filler

from ... import blocks
from ...answering import Handled, Question
from ...follow_ups import classify, points_back
from ...threads import Thread, Threads
from ..deps import Deps

log = logging.getLogger(__name__)

# Where a reply in a thread may be a follow-up: public and private channels, group DMs (a DM is always answered).
FOLLOWED_CHANNEL_TYPES = frozenset({"channel", "group", "mpim"})
# What a thread remembers as its last question, at most (the latest lines kept): a follow-up with context is matched
# together with it, and the thread's question grows by one line with each such follow-up.
MAX_THREAD_QUESTION = 1000
STOPPED = "OK, I'll stay out of this thread: I won't answer replies here any more. Mention me if you need me."


def thread_question(question: str) -> str:
    """What a thread remembers as its last question: at most MAX_THREAD_QUESTION characters, the latest lines kept
    (a long message cut to its start)."""
    lines = question.strip().splitlines()
    while len(lines) > 1 and sum(len(line) + 1 for line in lines) > MAX_THREAD_QUESTION:
        lines.pop(0)
    return "\n".join(lines)[:MAX_THREAD_QUESTION]


def is_thread_reply(event: dict[str, Any]) -> bool:
    """A reply in a channel thread (not its parent, not a DM): what may be a follow-up."""
    return (event.get("channel_type") in FOLLOWED_CHANNEL_TYPES
            and event.get("thread_ts") not in (None, event.get("ts")))


async def say_stopped(client: AsyncWebClient, channel: str, thread_ts: str, user: str) -> None:
    # Only to whoever asked: they know it worked, and the others in the thread are not interrupted again.
    await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=STOPPED,
                                    blocks=[blocks.section(STOPPED, "stopped")])


async def on_thread_reply(deps: Deps, threads: Threads, event: dict, body: dict, context: dict,
                          client: AsyncWebClient) -> None:
    """A reply in a channel thread: answered when the bot follows the thread and the reply asks something."""
    text, bot_user = event.get("text", ""), context.get("bot_user_id") or ""
    # Most replies are people talking to each other (or mention the bot: the mention listener answers those). That is
    # told from the text alone, in microseconds and without a round trip to Redis, before looking the thread up.
    kind = classify(text, bot_user, None, deps.vocabulary).kind
    if kind == "ignore":
        return
    channel, thread_ts, user, team = event["channel"], event["thread_ts"], event["user"], body.get("team_id")
    thread = await threads.following(channel, thread_ts)
    if thread is None:
        return
    if kind == "stop":
        await threads.stop(channel, thread_ts)
        await say_stopped(client, channel, thread_ts, user)
        return
    # Counted like a mention, but never told to slow down: the thread is people's conversation.
    if deps.limit is not None and not deps.limit.allow(f"{team or ''}:{user}")[0]:
        log.info("rate limit: a follow-up over the limit was not answered")
        return
    found = await follow_up_answer(deps, thread, text, bot_user, Question(text, "thread", user, channel, team))
    if found is None:
        return
    question, handled = found
    handled = deps.with_handoff(question, handled)
    try:
        posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **handled.reply.as_kwargs())
    finally:
        deps.record(question, handled)
    if handled.entry_id is None:  # "nothing more than my answer above": the thread is still about that answer
        await threads.answered(channel, thread_ts, thread.last_question, posted["ts"], thread.last_entry)
    else:
        await threads.answered(channel, thread_ts, thread_question(question.text), posted["ts"], handled.entry_id)


async def follow_up_answer(deps: Deps, thread: Thread, text: str, bot_user: str, alone: Question
                           ) -> tuple[Question, Handled] | None:
    """What a question in a followed thread is matched as (`alone`, or with the thread's last question) and
    the reply to it; None when the bot had better say nothing.

    A question that points back at the bot's answer ("does that apply to mistral too?", "is it free?") gets a reply
    either way: an entry it has not given there yet, what the documents do not say ("My documents don't name…"), or
    "nothing more than my answer above" with the entries they do cover nearby. A question that does not point back
    gets a reply only when the documents cover it (no "I don't know" in the middle of people's conversation: the
    reply may have been meant for them), never for help or topics, and never the entry just given above it."""
    kb = deps.holder.current
    follow_up = classify(text, bot_user, thread.last_question, deps.vocabulary)
    question, handled = alone, await deps.answer(alone, kb)
    alone_handled = handled
    pointing = follow_up.with_context and points_back(text, deps.vocabulary)
    if follow_up.with_context and (handled.outcome != "none" or pointing):
        # The reply is matched with the thread's question too. Being the longer, that question tends to outweigh
        # it and bring back the thread's entry; a reply that names a topic of its own ("what about the hardware
        # side?") is then taken on its own, one that only points back ("who made them?") is about that entry,
        # already given. A reply declined on its own ("is it raining there?") stays declined: the thread's question
        # must not drag it into an answer, only tell what the documents do not say ("how many parameters does it
        # have?" after an answer about Llama).
        together = Question(follow_up.text, "thread", alone.user, alone.channel, alone.team)
        with_thread = await deps.answer(together, kb)
        declined = handled.outcome == "none"
        if (with_thread.result is not None and with_thread.result.unsaid) if declined else (
                with_thread.entry_id != thread.last_entry or pointing):
            question, handled = together, with_thread
    if handled.outcome is None:
        return None
    if handled.outcome != "none" and handled.entry_id != thread.last_entry:
        return question, handled
    if not pointing:
        return None  # short, but about something of its own ("what's the weather in berlin?")
    if handled.result is not None and handled.result.unsaid:
        return question, handled  # "My documents don't name who…": what the answer above does not hold
    return question, Handled(nothing_more_reply(kb, offered(kb, text, alone_handled, thread.last_entry)), "none", None,
                             handled.score, handled.query, handled.result)


NOTHING_MORE = "My documents don't say more about that than my answer above."


def offered(kb: KnowledgeBase, text: str, alone: Handled, given: str | None, limit: int = 3) -> list[str]:
    """What to offer beside "nothing more" for a follow-up `text`: the entries it names by one of their one-word
    tags ("does that apply to falcon too?"), and the entry it was answered with on its own; never the one the thread
    was given. A reply naming nothing ("who makes them?") is offered nothing: its own best guesses are noise."""
    words = set(words_without_filler(normalize(clip_question(text))))
    ids = [e.id for e in kb.faq.entries if words & {t for t in e.tags if " " not in t}]
    if alone.outcome == "answer" and alone.entry_id:
        ids.append(alone.entry_id)
    return list(dict.fromkeys(i for i in ids if i != given))[:limit]


def nothing_more_reply(kb: KnowledgeBase, entry_ids: list[str]) -> blocks.Reply:
    """An honest reply to a follow-up about the answer above that the documents say nothing more about."""
    if entry_ids:
        return blocks.suggestions_reply(kb, entry_ids, f"{NOTHING_MORE} They also cover:")
    return blocks.Reply(NOTHING_MORE, [blocks.section(NOTHING_MORE, "nothing_more")])
