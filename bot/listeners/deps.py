"""What every listener needs, in one object: the listeners of each Slack surface take it rather than a growing
list of arguments."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase

from ..admins import Admins
from ..answering import Handled, Question, answer, offer_handoff
from ..follow_ups import Vocabulary, shipped_vocabulary
from ..handoff import Handoffs
from ..metrics import reply_outcome, since_arrival
from ..ratelimit import RateLimit
from ..recorder import Recorder
from ..state import KnowledgeHolder
from ..store import QuestionRecord, utcnow
from ..thread_context import ThreadReader
from ..threads import Threads


@dataclass(frozen=True)
class Deps:
    """`holder.current` is read when a listener runs (a reload swaps it); `command` is the slash command's name.
    Questions and votes go to `recorder` when there is one, and `admins` then see the last 7 days in their App Home
    and teach from there (`is_admin`). With `threads`, replies in the threads the bot answered in are answered without
    a mention (None: follow-ups off), each counted against the person's rate `limit`."""

    holder: KnowledgeHolder
    command: str
    recorder: Recorder | None = None
    admins: Admins = field(default_factory=Admins)
    threads: Threads | None = None
    limit: RateLimit | None = None
    vocabulary: Vocabulary = field(default_factory=shipped_vocabulary)
    thread_reader: ThreadReader = field(default_factory=ThreadReader)  # what a thread says before a mention in it
    # What the modals this bot opens are signed with (bot/entry_views.py), from a secret every replica shares.
    modal_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # "Ask the team" on replies that decline or are unsure, and the answers people give (None: HANDOFF_CHANNEL unset).
    handoffs: Handoffs | None = None

    async def answer(self, question: Question, kb: KnowledgeBase | None = None) -> Handled:
        """The reply to `question` from `kb` (default: `holder.current`), matched off the event loop: in the matching
        processes while `serve` runs them."""
        return await answer(kb or self.holder.current, question, self.command, self.holder.matching)

    def with_handoff(self, question: Question, handled: Handled) -> Handled:
        """`handled`, with "Ask the team" when hand-offs are on and the reply declines or is unsure."""
        return offer_handoff(question, handled) if self.handoffs is not None else handled

    async def is_admin(self, client: AsyncWebClient, team: str | None, user: object) -> bool:
        """Whether `user` is an admin in the workspace `team` (ADMIN_USER_IDS, or a member of ADMIN_USERGROUP read
        with `client`). Checked on every request that needs it: a click is only a request, and anyone can forge one
        with another view's ids."""
        return await self.admins.check(client, team, user)

    def record(self, question: Question, handled: Handled) -> None:
        """Count the reply (/metrics), and keep the question and its outcome (not help, topics or an introduction).
        Called once the reply is on its way; the recorder only queues, so this never delays anything."""
        self.holder.metrics.replied(question.surface, reply_outcome(question.surface, handled.outcome),
                                    since_arrival(), handled.matching_seconds)
        if self.recorder is None or handled.outcome is None:
            return
        self.recorder.question(QuestionRecord(utcnow(), question.surface, handled.outcome, question.team,
                                              question.channel, entry_id=handled.entry_id, score=handled.score,
                                              text=handled.query), question.user)
