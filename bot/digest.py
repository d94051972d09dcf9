"""The weekly digest: the report's summary of the week before (answer rate and its trend, the unanswered questions
asked most, 👎 with their reasons, what was taught, what was handed to the team), posted in DIGEST_CHANNEL once a
week at DIGEST_DAY and DIGEST_HOUR in DIGEST_TIMEZONE.

Exactly once per week across replicas: each replica checks every minute whether a digest is due, and the one whose
insert of the week's row into the store wins (`Store.claim_digest`) posts it. A week with no questions gets no
digest (its row says so). A replica that stops after claiming and before posting leaves the row claimed: that week's
digest is then not posted at all (rather than twice), which the other replicas log, naming the command that posts it
by hand. A digest due while no replica ran is posted when one starts, up to CATCH_UP after it was due."""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase

from . import blocks
from .blocks import Block, Reply
from .channels import Channel
from .config import DAYS, DigestSettings
from .recorder import Recorder
from .report import Report, report_from_store
from .state import KnowledgeHolder
from .store import DigestRecord, Store, TaughtRecord, as_utc

log = logging.getLogger(__name__)

CATCH_UP = timedelta(hours=24)  # a digest due longer ago than this is not posted late (it would be stale)
STUCK = timedelta(minutes=15)  # a claim not finished after this long: its replica stopped while posting
CHECK_SECONDS = 60.0
TOP_UNANSWERED = 5
TOP_DISLIKED = 5
TAUGHT_SHOWN = 5
# The digest groups at most this many of the week's most recent unanswered questions (as the admin Home does).
MAX_GROUPED = 2000
Outcome = Literal["posted", "empty", "taken", "failed", "not due"]


def time_zone(name: str) -> tzinfo:
    if name == "UTC":
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@dataclass(frozen=True)
class Schedule:
    """When digests are due: each `day` (0 is Monday) at `hour` in `zone`. Each digest is about the 7 days before the
    moment it is due."""

    day: int = 0
    hour: int = 9
    zone: tzinfo = UTC

    @classmethod
    def from_settings(cls, settings: DigestSettings) -> Schedule:
        return cls(settings.day, settings.hour, time_zone(settings.timezone))

    def at(self, day: date) -> datetime:
        return datetime.combine(day, time(self.hour), self.zone)

    def due(self, now: datetime) -> datetime:
        """The latest moment a digest was due, at or before `now` (aware)."""
        local = now.astimezone(self.zone)
        moment = self.at(local.date() - timedelta(days=(local.weekday() - self.day) % 7))
        return moment if moment <= now else self.at(moment.date() - timedelta(days=7))

    def start(self, end: datetime) -> datetime:
        """When the week of the digest due at `end` began: the same time a week before, by the local clock."""
        return self.at(end.astimezone(self.zone).date() - timedelta(days=7))

    def week_of(self, day: date) -> datetime:
        """When the digest about the week that holds the start of `day` (local) is due."""
        return self.at(self.due(datetime.combine(day, time(0), self.zone)).date() + timedelta(days=7))

    def key(self, end: datetime, team: str | None = None) -> str:
        """The digest's key in the store: the day it is due (and the workspace, when there are several)."""
        return end.astimezone(self.zone).date().isoformat() + (f":{team}" if team else "")

    def describe(self) -> str:
        return f"{DAYS[self.day].capitalize()}s at {self.hour:02d}:00 {self.zone}"


@dataclass(frozen=True)
class Digest:
    """A week in brief: `week` and `before` (the week before it) as the report says them, what was taught in the
    week, and how many questions were handed to the team and answered."""

    key: str
    start: datetime  # aware, in the schedule's zone
    end: datetime
    week: Report
    before: Report
    taught: tuple[TaughtRecord, ...] = ()
    handed_off: int = 0
    handoffs_answered: int = 0


def build_digest(store: Store, schedule: Schedule, end: datetime, entry_ids: list[str],
                 team: str | None = None) -> Digest:
    """The digest due at `end`, from what `store` holds."""
    start = schedule.start(end)
    since, until = as_utc(start), as_utc(end) - timedelta(microseconds=1)
    week = report_from_store(store, since, until, entry_ids, max_grouped=MAX_GROUPED, team=team)
    earlier = as_utc(schedule.start(start))
    before = report_from_store(store, earlier, since - timedelta(microseconds=1), entry_ids, max_grouped=0, team=team)
    taught = tuple(t for t in store.taught(team=team) if since <= t.taught_at <= until and not t.undone)
    handoffs = [h for h in store.handoffs_since(since) if h.asked_at <= until and (team is None or h.team_id == team)]
    return Digest(schedule.key(end, team), start, end, week, before, taught, len(handoffs),
                  sum(1 for h in handoffs if h.answers))


def _points(now: float, then: float) -> str:
    change = round(100 * now) - round(100 * then)
    if change == 0:
        return "the same as"
    return f"{'▲' if change > 0 else '▼'} {abs(change)} point{'s' if abs(change) != 1 else ''} from"


def answer_rate_text(digest: Digest) -> str:
    """The week's questions and answer rate, and how it moved from the week before."""
    week, before = digest.week, digest.before
    o = week.outcomes
    text = (f"*{week.questions}* question{'s' if week.questions != 1 else ''}, *{100 * week.answer_rate:.0f}%* "
            f"answered ({o['suggest']} with suggestions only, {o['none']} declined)")
    if before.questions:
        text += (f"; {_points(week.answer_rate, before.answer_rate)} {100 * before.answer_rate:.0f}% of "
                 f"{before.questions} the week before")
    else:
        text += "; no questions the week before"
    if week.clicked:
        text += f". {week.clicked} more answer{'s' if week.clicked != 1 else ''} given by a click on a button"
    return text + "."


def _period(digest: Digest) -> str:
    start, end = digest.start, digest.end
    return f"{start:%a %d %b} to {end:%a %d %b %Y}, {end:%H:%M} {end.tzname()}"


def digest_reply(kb: KnowledgeBase, digest: Digest, command: str = "/openllm") -> Reply:
    """The digest as a Slack message: what people asked is escaped and shown verbatim (nothing in it can ping)."""
    week = digest.week
    parts: list[Block] = [blocks.header(f"FAQ digest: {_period(digest)}", "digest-header"),
                          blocks.section(answer_rate_text(digest), "digest-rate")]
    unanswered = [f"• *{g.count}×* “{blocks.escape(g.text)}” (declined {g.declined}, suggested {g.suggested}"
                  f"{'; taught since' if g.taught else ''})" for g in week.unanswered[:TOP_UNANSWERED]]
    if week.text_not_kept and not unanswered:
        unanswered.append(f"• {week.text_not_kept} recorded without their text (`STORE_QUESTION_TEXT=false`)")
    parts.append(blocks.section("*Asked most and not answered*\n" + ("\n".join(unanswered) or "None: every "
                                "question was answered."), "digest-unanswered", verbatim=True))
    disliked = [f"• `{blocks.escape(e.id)}`: {e.unhelpful} 👎, {e.helpful} 👍{blocks.why_not_helpful(week, e.id)}"
                for e in week.least_helpful(TOP_DISLIKED)]
    parts.append(blocks.section("*Not helpful*\n" + ("\n".join(disliked) or "No 👎 this week."), "digest-unhelpful",
                                verbatim=True))
    taught = [f"• {blocks.taught_text(kb, t.text, t.entry_id, t.near_entry)}" for t in digest.taught[:TAUGHT_SHOWN]]
    if len(digest.taught) > TAUGHT_SHOWN:
        taught.append(f"…and {len(digest.taught) - TAUGHT_SHOWN} more: `openllm-bot taught list --since 7d`")
    parts.append(blocks.section("*Taught from Slack*\n" + ("\n".join(taught) or "Nothing this week."),
                                "digest-taught", verbatim=True))
    if digest.handed_off:
        parts.append(blocks.section(f"*Handed to the team*: {digest.handed_off} question"
                                    f"{'s' if digest.handed_off != 1 else ''}, {digest.handoffs_answered} answered "
                                    "(the admin Home turns an answer into a new entry).", "digest-handoffs"))
    parts.append(blocks.context(["The whole week: `openllm-bot report --since 7d`; admins see it in the bot's Home "
                                 f"tab too. Ask me anything with `{command}`."], "digest-more"))
    text = f"FAQ digest: {_period(digest)}. " + re.sub(r"[*]", "", answer_rate_text(digest))
    return Reply(blocks.clip(text, blocks.MAX_FALLBACK_TEXT), blocks.fit(parts))


_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_BARE = re.compile(r"<[#@]?([^<>|]+)>")


def as_text(reply: Reply) -> str:
    """A digest's message as plain text, for the terminal."""
    lines: list[str] = []
    for block in reply.blocks:
        if block["type"] == "header":
            lines += [block["text"]["text"], ""]
        elif block["type"] == "section":
            lines += [_plain(block["text"]["text"]), ""]
        elif block["type"] == "context":
            lines += [_plain(e["text"]) for e in block["elements"]]
    return "\n".join(lines).rstrip() + "\n"


def _plain(mrkdwn: str) -> str:
    text = _LINK.sub(lambda m: m.group(2), mrkdwn)
    text = _BARE.sub(lambda m: m.group(1), text)
    return html.unescape(text.replace("*", ""))


def claimant() -> str:
    """Who claims a digest: this process, by host and pid (said in the log of a claim never finished)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@dataclass
class DigestPoster:
    """Posts the digest when one is due (`check`), through `recorder`'s store, in `channel`, with `client`."""

    schedule: Schedule
    channel: Channel
    recorder: Recorder
    holder: KnowledgeHolder
    client: AsyncWebClient
    command: str = "/openllm"
    team: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = field(default_factory=claimant)
    _done: set[str] = field(default_factory=set)  # keys this process knows to be finished (or taken) already
    _warned: set[str] = field(default_factory=set)

    async def check(self) -> Outcome:
        """Post the digest due last, unless it is done already, or was due longer than CATCH_UP ago."""
        now = self.clock()
        end = self.schedule.due(now)
        if now - end > CATCH_UP:
            return "not due"
        key = self.schedule.key(end, self.team)
        if key in self._done:
            return "taken"
        record = await self.recorder.call(lambda store: store.digest_record(key))
        if record is not None:
            self._seen(record, now)
            return "taken"
        return await self.post(end)

    def _seen(self, record: DigestRecord, now: datetime) -> None:
        if record.status != "claimed":
            self._done.add(record.key)
        elif now.astimezone(UTC).replace(tzinfo=None) - record.claimed_at > STUCK and record.key not in self._warned:
            self._warned.add(record.key)
            log.warning("digest: the digest due %s was claimed by %s at %s UTC and never posted (it stopped while "
                        "posting?); to post it: openllm-bot digest --week %s --post --again", record.key,
                        record.claimed_by, f"{record.claimed_at:%Y-%m-%d %H:%M}", record.key.partition(":")[0])

    async def post(self, end: datetime, again: bool = False) -> Outcome:
        """Claim the digest due at `end` and, if this caller won the claim, post it (none for a week without
        questions); `again`: claim it even if it was claimed before."""
        start, key = self.schedule.start(end), self.schedule.key(end, self.team)
        claimed = await self.recorder.call(lambda store: store.claim_digest(
            key, as_utc(start), as_utc(end), self.name, self.team, again=again))
        if not claimed:
            self._done.add(key)
            return "taken"
        self._done.add(key)
        kb = self.holder.of(self.team)  # the workspace's own, with what it taught and wrote: no request says which
        entry_ids = [e.id for e in kb.knowledge.entries]
        try:
            digest = await self.recorder.read(lambda store: build_digest(store, self.schedule, end, entry_ids,
                                                                         self.team))
            if not digest.week.questions:
                await self.recorder.call(lambda store: store.finish_digest(key, "empty"))
                log.info("digest: no questions in the week to %s: nothing posted", key)
                return "empty"
            channel = await self.channel.id(self.client)
            posted = await self.client.chat_postMessage(channel=channel,
                                                        **digest_reply(kb, digest, self.command).as_kwargs())
        except Exception as exc:  # nothing was posted, as far as the bot knows: not tried again (never twice)
            said = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc).splitlines()[0]
            log.error("digest: the digest due %s could not be posted: %s: %s", key, exc.__class__.__name__, said)
            try:
                await self.recorder.call(lambda store: store.finish_digest(key, "failed"))
            except Exception as again_exc:
                log.error("digest: the digest due %s stays claimed: %s", key, again_exc)
            return "failed"
        await self.recorder.call(lambda store: store.finish_digest(key, "posted", channel, str(posted.get("ts"))))
        log.info("digest: posted the digest due %s in %s", key, channel)
        return "posted"


async def keep_posting(poster: DigestPoster, every: float = CHECK_SECONDS) -> None:
    """Check every `every` seconds, from now until cancelled."""
    log.info("digest: posted in %s on %s", poster.channel.value, poster.schedule.describe())
    while True:
        try:
            await poster.check()
        except Exception as exc:  # the store down, say: the next check tries again
            log.error("digest: could not check whether a digest is due: %s: %s", exc.__class__.__name__, exc)
        await asyncio.sleep(every)


def digest_poster(settings: DigestSettings, client: AsyncWebClient, recorder: Recorder | None,
                  holder: KnowledgeHolder, command: str = "/openllm") -> DigestPoster | None:
    """The poster the settings ask for: none without DIGEST_CHANNEL (or a store to keep the digests in)."""
    if settings.channel is None or recorder is None:
        return None
    return DigestPoster(Schedule.from_settings(settings), Channel("DIGEST_CHANNEL", settings.channel), recorder,
                        holder, client, command)


def start_posting(poster: DigestPoster | None) -> list[asyncio.Task[None]]:
    """The task that posts digests when due (none without a poster); cancelled when the bot stops."""
    return [asyncio.get_running_loop().create_task(keep_posting(poster))] if poster is not None else []
