"""The one answering path every Slack surface shares: a question to its reply (`handle_question`), off the event
loop (`answer`), and a reply where a button was clicked (`reply_to_click`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase
from knowledge.matching.analysis import STOPWORDS
from knowledge.matching.normalize import clip_question, normalize, words_without_filler
from knowledge.result import MatchResult, Status

from . import blocks, handoff
from .blocks import Reply
from .state import KnowledgeHolder
from .store import Surface
from .workers import Processes, WorkersGone

log = logging.getLogger(__name__)


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
    result: MatchResult | None = None  # what the matcher made of it, when it was a question for the FAQ
    matching_seconds: float | None = None  # how long `answer` took on its matching thread (for /metrics)


# With only stop words besides, these words ask for help with the bot ("help me", "I need help", "can
# you help me"), not about a topic: "help the community" or "help with fine-tuning" go to the matcher.
HELP_WORDS = frozenset({"help", "need", "assist", "assistance", "usage", "instructions"})


def _asks_for_help(meaningful: list[str]) -> bool:
    content = {w for w in meaningful if w not in STOPWORDS}
    return bool(content & {"help", "assist", "assistance"}) and content <= HELP_WORDS


def handle_question(kb: KnowledgeBase, question: Question, command: str) -> Handled:
    """The one path from a question to its reply, for every surface."""
    text = normalize(clip_question(question.text))  # read as the matcher reads it: its first 4,000 characters
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
                   best if result.status != "none" else None, result.score, result.query, result)


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


@contextlib.asynccontextmanager
async def matching_in_processes(holder: KnowledgeHolder, count: int) -> AsyncIterator[None]:
    """Within: `holder`'s questions are matched in `count` worker processes (`holder.matching`), forked now with its
    knowledge bases and again with any it gets later (none: on the matching threads, as without it); stopped at the
    end, once what was sent to them is answered."""
    if count < 1:
        yield
        return
    processes = Processes(count, lambda: holder.knowledge_bases().values())
    try:
        processes.start()
    except OSError as exc:  # tried again at the first question, else matched on threads
        log.warning("matching processes could not be forked at start-up: %s", exc.strerror or exc)
    holder.matching = processes
    try:
        yield
    finally:
        holder.matching = None
        await processes.stop()


async def answer(kb: KnowledgeBase, question: Question, command: str, processes: Processes | None = None) -> Handled:
    """`handle_question` off the event loop, saying how long it took there (`matching_seconds`): in one of
    `processes` when given (on a matching thread if they cannot be forked or keep dying), else on a matching
    thread."""
    if processes is not None:
        try:
            return await processes.run(kb, _timed, question, command)
        except WorkersGone as exc:  # logged by `processes` once, not at every question of a burst
            log.debug("%s: this question is matched on a thread of the bot's own", exc)
    return await asyncio.get_running_loop().run_in_executor(_matching, _timed, kb, question, command)


def _timed(kb: KnowledgeBase, question: Question, command: str) -> Handled:
    started = time.perf_counter()
    handled = handle_question(kb, question, command)
    return replace(handled, matching_seconds=time.perf_counter() - started)


def offer_handoff(question: Question, handled: Handled) -> Handled:
    """`handled` with "Ask the team" (bot/handoff.py) when it declines the question or is unsure of it, on a surface
    whose reply stays in the conversation (not the slash command's private one)."""
    if handled.outcome not in ("none", "suggest") or question.surface not in handoff.SURFACES:
        return handled
    asked = handoff.Asked(handoff.plain(question.text), handled.outcome, question.user)
    if not asked.question:
        return handled
    return replace(handled, reply=handoff.with_button(handled.reply, asked))


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
        # In the clicked message's thread, or a new thread under it: never at the channel's top level (a shared
        # answer's Related buttons would otherwise post in the channel for everyone at each click).
        await client.chat_postMessage(channel=channel, thread_ts=message.get("thread_ts") or message["ts"],
                                      **reply.as_kwargs())
    else:
        await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], thread_ts=message.get("thread_ts"),
                                        **reply.as_kwargs())
