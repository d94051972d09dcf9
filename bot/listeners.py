"""Bolt listeners: mentions, DMs, follow-ups in threads, the slash command, buttons and App Home, all answering
through `handle_question` and the renderers in `blocks`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import Entry, KnowledgeBase
from knowledge.matching.analysis import STOPWORDS
from knowledge.matching.normalize import normalize, words_without_filler
from knowledge.result import Status

from . import blocks
from .blocks import Reply
from .follow_ups import classify, points_back, shipped_vocabulary
from .ratelimit import RateLimit
from .recorder import Recorder
from .state import KnowledgeHolder
from .store import QuestionRecord, Surface, utcnow
from .teaching import publish_admin_home
from .threads import Thread, Threads

log = logging.getLogger(__name__)

# chat.postMessage errors that mean the bot may not post there, though the user's response_url may.
_CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
# Where a reply in a thread may be a follow-up: public and private channels, group DMs (a DM is always answered).
FOLLOWED_CHANNEL_TYPES = frozenset({"channel", "group", "mpim"})
SHUSH = "shushing_face"  # 🤫 on one of the bot's replies stops its follow-ups in that thread
# What a thread remembers as its last question, at most (the latest lines kept): a follow-up with context is matched
# together with it, and the thread's question grows by one line with each such follow-up.
MAX_THREAD_QUESTION = 1000
STOPPED = "OK, I'll stay out of this thread: I won't answer replies here any more. Mention me if you need me."


@dataclass(frozen=True)
class Question:
    """A question as asked: where from and by whom, for the reply and (later) for the record."""

    text: str
    surface: Surface
    user: str | None = None
    channel: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Handled:
    """The reply to a question, and what was matched when it was a question for the FAQ (not `help`,
    `topics` or an empty mention)."""

    reply: Reply
    outcome: Status | None = None
    entry_id: str | None = None
    score: float | None = None
    query: str = ""


# With only stop words besides, these words ask for help with the bot ("help me", "I need help", "can
# you help me"), not about a topic: "help the community" or "help with fine-tuning" go to the matcher.
HELP_WORDS = frozenset({"help", "need", "assist", "assistance", "usage", "instructions"})


def _asks_for_help(meaningful: list[str]) -> bool:
    content = {w for w in meaningful if w not in STOPWORDS}
    return bool(content & {"help", "assist", "assistance"}) and content <= HELP_WORDS


def handle_question(kb: KnowledgeBase, question: Question, command: str) -> Handled:
    """The one path from a question to its reply, for every surface."""
    text = normalize(question.text)
    meaningful = words_without_filler(text)
    if not meaningful:
        if question.surface == "slash":
            return Handled(blocks.usage_reply(kb, command))
        return Handled(blocks.intro_reply(kb, command))
    if text in ("help", "?") or _asks_for_help(meaningful):
        return Handled(blocks.usage_reply(kb, command))
    if text in ("topics", "topic", "list topics"):
        return Handled(blocks.topics_reply(kb, command))
    shareable = question.surface == "slash"
    result = kb.ask(question.text)
    best = result.id or (result.candidates[0].id if result.candidates else None)
    if result.status != "answer" and kb.in_other_language(question.text):
        return Handled(blocks.english_only_reply(command), "none", None, result.score, result.query)
    return Handled(blocks.result_reply(kb, result, command, shareable=shareable), result.status,
                   best if result.status != "none" else None, result.score, result.query)


# Matching costs a few milliseconds of CPU (most of it the embedding model, which releases the GIL):
# it runs on these threads, one per core, so that the event loop keeps acknowledging a burst of
# events while earlier questions are matched. One pool for the process, whatever the number of apps.
def _yield_to_the_event_loop() -> None:
    """Matching threads run at a lower priority than the event loop, so that acknowledging an event (within
    Slack's 3 s, and fast for the user) never waits behind matching another (Linux: nice is per thread)."""
    with contextlib.suppress(OSError):  # not permitted: the same priority, as before
        os.nice(5)


_matching = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="matching",
                               initializer=_yield_to_the_event_loop)


async def answer(kb: KnowledgeBase, question: Question, command: str) -> Handled:
    """`handle_question` off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_matching, handle_question, kb, question, command)


How = Literal["replace", "new", "private"]


async def reply_to_click(body: dict[str, Any], client: AsyncWebClient, respond: Any, reply: Reply, how: How) -> None:
    """Reply where a button was clicked: `replace` its message, post a `new` one beside it (same thread),
    or a `private` one only the clicker sees. Ephemeral messages can only be reached via `response_url`."""
    container = body.get("container", {})
    if container.get("is_ephemeral"):
        if how == "replace":
            await respond(replace_original=True, **reply.as_kwargs())
        else:
            await respond(response_type="ephemeral", replace_original=False, **reply.as_kwargs())
        return
    channel = body["channel"]["id"]
    message = body.get("message", {})
    if how == "replace":
        await client.chat_update(channel=channel, ts=message["ts"], **reply.as_kwargs())
    elif how == "new":
        await client.chat_postMessage(channel=channel, thread_ts=message.get("thread_ts"), **reply.as_kwargs())
    else:
        await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], thread_ts=message.get("thread_ts"),
                                        **reply.as_kwargs())


def _gone() -> Reply:
    text = "That answer is no longer in my FAQ; please ask again."
    return Reply(text, [blocks.section(text, "gone")])


def _without_mention(text: str, bot_user_id: str) -> str:
    """A mention's text without the bot's own mention (`<@UBOT>` or `<@UBOT|name>`)."""
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text).strip() if bot_user_id else text.strip()


def _thread_question(question: str) -> str:
    """What a thread remembers as its last question: at most MAX_THREAD_QUESTION characters, the latest lines kept
    (a long message cut to its start)."""
    lines = question.strip().splitlines()
    while len(lines) > 1 and sum(len(line) + 1 for line in lines) > MAX_THREAD_QUESTION:
        lines.pop(0)
    return "\n".join(lines)[:MAX_THREAD_QUESTION]


def register(app: AsyncApp, holder: KnowledgeHolder, slash: str, recorder: Recorder | None = None,
             admins: frozenset[str] = frozenset(), threads: Threads | None = None, limit: RateLimit | None = None
             ) -> None:
    """Attach every listener to `app` (`slash`: the command's name); each reads `holder.current` when it runs.
    Questions and votes go to `recorder` when there is one; `admins` see its last 7 days in their App Home.
    With `threads`, replies in the threads the bot answered in are answered without a mention (follow-ups; None:
    off), each counted against the person's rate `limit`, which the middleware keeps for the other questions."""
    vocabulary = shipped_vocabulary()

    def record(question: Question, handled: Handled) -> None:
        # Called once the reply is on its way; the recorder only queues, so this never delays anything.
        if recorder is None or handled.outcome is None:
            return
        recorder.question(QuestionRecord(utcnow(), question.surface, handled.outcome, question.team, question.channel,
                                         entry_id=handled.entry_id, score=handled.score, text=handled.query),
                          question.user)

    @app.event("app_mention")
    async def on_mention(event: dict, body: dict, context: dict, client: AsyncWebClient) -> None:
        if (event.get("subtype") or event.get("bot_id") or not event.get("user")
                or event.get("user") == context.get("bot_user_id")):
            return  # bots (itself included) never get an answer: no loops between bots
        channel, bot_user = event["channel"], context.get("bot_user_id") or ""
        # Always in a thread: the mention's own, or a new one under it.
        thread_ts = event.get("thread_ts") or event["ts"]
        text = _without_mention(event.get("text", ""), bot_user)
        if threads is not None and event.get("thread_ts") and classify(text, bot_user, None, vocabulary).kind == "stop":
            # "@openllm stop" in a thread: stopped, whether followed until now or not (so that answering a mention
            # there later does not start following it).
            await threads.stop(channel, thread_ts)
            await say_stopped(client, channel, thread_ts, event["user"])
            return
        question = Question(event.get("text", ""), "mention", event.get("user"), channel, body.get("team_id"))
        handled = await answer(holder.current, question, slash)
        try:
            posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **handled.reply.as_kwargs())
        finally:
            record(question, handled)
        if threads is not None:
            # Help, topics or an introduction leave no question for a follow-up to go on from.
            await threads.answered(channel, thread_ts, _thread_question(text) if handled.outcome else "",
                                   posted["ts"], handled.entry_id)

    # Every message event comes here, so that Slack gets an ack even for the ones ignored. In channels that is every
    # message of every channel the bot is in: all but replies in the threads it follows are dropped at once, without
    # the matcher or a call to Slack, and nothing of them is kept.
    @app.event("message")
    async def on_message(event: dict, body: dict, context: dict, client: AsyncWebClient) -> None:
        if (event.get("subtype") or event.get("bot_id") or not event.get("user")
                or event.get("user") == context.get("bot_user_id")):
            return  # edits, deletions, joins, bots (itself included): never answered
        if event.get("channel_type") == "im":
            await on_dm(event, body, client)
        elif (threads is not None and event.get("channel_type") in FOLLOWED_CHANNEL_TYPES
              and event.get("thread_ts") not in (None, event.get("ts"))):
            await on_thread_reply(threads, event, body, context, client)

    async def on_dm(event: dict, body: dict, client: AsyncWebClient) -> None:
        question = Question(event.get("text", ""), "dm", event["user"], event["channel"], body.get("team_id"))
        handled = await answer(holder.current, question, slash)
        try:
            await client.chat_postMessage(channel=event["channel"], thread_ts=event.get("thread_ts"),
                                          **handled.reply.as_kwargs())
        finally:
            record(question, handled)

    async def on_thread_reply(threads: Threads, event: dict, body: dict, context: dict, client: AsyncWebClient
                              ) -> None:
        """A reply in a channel thread: answered when the bot follows the thread and the reply asks something."""
        text, bot_user = event.get("text", ""), context.get("bot_user_id") or ""
        # Most replies are people talking to each other (or mention the bot: on_mention answers those). That is
        # told from the text alone, in microseconds and without a round trip to Redis, before looking the thread up.
        kind = classify(text, bot_user, None, vocabulary).kind
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
        if limit is not None and not limit.allow(f"{team or ''}:{user}")[0]:
            log.info("rate limit: a follow-up over the limit was not answered")
            return
        found = await follow_up_answer(thread, text, bot_user, Question(text, "thread", user, channel, team))
        if found is None:
            return
        question, handled = found
        try:
            posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **handled.reply.as_kwargs())
        finally:
            record(question, handled)
        await threads.answered(channel, thread_ts, _thread_question(question.text), posted["ts"], handled.entry_id)

    async def follow_up_answer(thread: Thread, text: str, bot_user: str, alone: Question
                               ) -> tuple[Question, Handled] | None:
        """What a question in a followed thread is matched as (`alone`, or with the thread's last question) and
        the reply to it; None when the bot had better say nothing.

        Nothing is said, and nothing recorded, when the documents do not cover it (no "I don't know" in the middle of
        people's conversation: the reply may have been meant for them), for help or topics, and when the reply would
        give the entry the bot gave last in the thread, which is right above it."""
        kb = holder.current
        follow_up = classify(text, bot_user, thread.last_question, vocabulary)
        question, handled = alone, await answer(kb, alone, slash)
        if follow_up.with_context and handled.outcome != "none":
            # A declined reply ("what's the weather in berlin?") stays declined: the thread's question must not drag
            # it into an answer. Otherwise the reply is matched with the thread's question. Being the longer, that
            # question tends to outweigh it and bring back the thread's entry; a reply that names a topic of its own
            # ("what about the hardware side?") is then taken on its own, one that only points back ("who made
            # them?") is about that entry, already given.
            together = Question(follow_up.text, "thread", alone.user, alone.channel, alone.team)
            with_thread = await answer(kb, together, slash)
            if with_thread.entry_id != thread.last_entry or points_back(text, vocabulary):
                question, handled = together, with_thread
        if handled.outcome not in ("answer", "suggest") or handled.entry_id == thread.last_entry:
            return None
        return question, handled

    async def say_stopped(client: AsyncWebClient, channel: str, thread_ts: str, user: str) -> None:
        # Only to whoever asked: they know it worked, and the others in the thread are not interrupted again.
        await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=STOPPED,
                                        blocks=[blocks.section(STOPPED, "stopped")])

    @app.event("reaction_added")
    async def on_reaction(event: dict, context: dict) -> None:
        # Slack sends every reaction in the channels the bot is in: anything but 🤫 on a message of the bot's is
        # dropped at once. No message in reply: a 🤫 asks for quiet.
        item = event.get("item") or {}
        if (threads is None or str(event.get("reaction", "")).split("::")[0] != SHUSH or item.get("type") != "message"
                or event.get("item_user", context.get("bot_user_id")) != context.get("bot_user_id")):
            return
        if await threads.stop_by_reply(item["channel"], item["ts"]):
            log.info("follow-ups stopped in a thread by a %s reaction", SHUSH)

    @app.command(slash)
    async def on_command(ack: Any, command: dict, respond: Any) -> None:
        await ack()
        question = Question(command.get("text", ""), "slash", command.get("user_id"), command.get("channel_id"),
                            command.get("team_id"))
        handled = await answer(holder.current, question, slash)
        try:
            await respond(response_type="ephemeral", **handled.reply.as_kwargs())
        finally:
            record(question, handled)

    async def clicked_entry(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any
                            ) -> tuple[KnowledgeBase, Entry] | None:
        """Ack the click and find the entry its button names; if the FAQ no longer has it, say so privately."""
        await ack()
        kb = holder.current
        entry = kb.entry(action.get("value", ""))
        if entry is None:
            await reply_to_click(body, client, respond, _gone(), "private")
            return None
        return kb, entry

    async def answer_click(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any,
                           how: How) -> None:
        if not (found := await clicked_entry(ack, body, action, client, respond)):
            return
        kb, entry = found
        shareable = bool(body.get("container", {}).get("is_ephemeral"))
        await reply_to_click(body, client, respond, blocks.entry_reply(kb, entry, shareable=shareable), how)

    @app.action(re.compile(rf"^{blocks.SUGGEST}:"))
    async def on_suggestion(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await answer_click(ack, body, action, client, respond, "replace")

    @app.action(re.compile(rf"^{blocks.RELATED}:"))
    async def on_related(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await answer_click(ack, body, action, client, respond, "new")

    @app.action(re.compile(rf"^(?:{blocks.HELPFUL}|{blocks.NOT_HELPFUL}):"))
    async def on_feedback(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await ack()
        if recorder is not None and (entry_id := action.get("value")):
            recorder.vote(reply_key(body), team_id(body), body["user"]["id"], entry_id,
                          helpful=action["action_id"].startswith(f"{blocks.HELPFUL}:"))
        await reply_to_click(body, client, respond, blocks.feedback_reply(), "private")

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

    @app.event("app_home_opened")
    async def on_home(event: dict, client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        if recorder is not None and event.get("user") in admins:
            # Admins also see the last 7 days, and teach the bot from there.
            await publish_admin_home(client, holder, recorder, slash, event["user"])
            return
        await client.views_publish(user_id=event["user"], view=blocks.home_view(holder.current, slash))


def reply_key(body: dict[str, Any]) -> str:
    """Which reply a click was on: its channel and message time stamp (one vote per person per reply)."""
    container = body.get("container", {})
    channel = container.get("channel_id") or body.get("channel", {}).get("id", "")
    ts = container.get("message_ts") or body.get("message", {}).get("ts", "")
    return f"{channel}:{ts}"


def team_id(body: dict[str, Any]) -> str | None:
    return (body.get("team") or {}).get("id") or body.get("user", {}).get("team_id")
