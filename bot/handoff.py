"""Hand-off to people: a reply that declines a question or is unsure of it carries "Ask the team"; one click posts
the question in HANDOFF_CHANNEL with a link back to the asker's thread, once per question (`Store.claim_handoff`),
and the reply says where it went. What people answer, in the team's thread under the posted question or in the
asker's thread, is kept with the hand-off; an answer in the team's thread is passed on to the asker. The admin Home
shows each answer beside its question, with "New entry" to turn it into an FAQ entry (bot/entries.py).

Nothing of what people wrote can ping anyone: their text is turned into plain words (`plain`), then escaped."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from knowledge.content.phrasings import phrasing_key

from . import blocks
from .blocks import Block, Reply
from .channels import Channel
from .config import Config
from .recorder import Recorder
from .store import MAX_HANDOFF_CHARS, HandoffAnswer, HandoffRecord, user_hash, utcnow
from .workspaces import team_of

log = logging.getLogger(__name__)

ASK_TEAM = "handoff"  # the button's action id
SURFACES = ("mention", "dm", "thread")  # replies that may carry it: not the slash command's, which are private
# Answers are caught for hand-offs this recent; the admin Home lists those of the same days.
DAYS = 14
HOME_SHOWN = 5
INDEX_SECONDS = 10.0  # how often the threads to watch are read again from the store (hand-offs on other replicas)
FIRST_READ_SECONDS = 2.0
QUESTION_CHARS = 1500  # of a question, in the button's value and the message posted for the team
ANSWER_CHARS = 2900  # of an answer passed on to the asker (a section holds 3,000)

_LEADING_MENTIONS = re.compile(r"^\s*(?:<@[UW][A-Z0-9]+(?:\|[^<>]*)?>[\s,:]*)+")
_REFERENCE = re.compile(r"<([^<>]*)>")


def _words(match: re.Match[str]) -> str:
    inside = match.group(1)
    target, _, label = inside.partition("|")
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):  # @here, @channel, a user group, a date
        special = target[1:].split("^")[0]
        if special == "date":
            return label
        return "@" + (label.lstrip("@") or special)
    return f"{label} ({target})" if label and label != target else target


def plain(text: str) -> str:
    """Slack's text as plain words, for showing elsewhere: the mentions it starts with (of the bot) gone, other
    mentions as @name, channels as #name, links as `label (url)`, entities unescaped. Escaped again when shown, it
    pings nobody."""
    text = _LEADING_MENTIONS.sub("", text)
    return html.unescape(_REFERENCE.sub(_words, text)).strip()


@dataclass(frozen=True)
class Asked:
    """What "Ask the team" carries: the question as the asker wrote it, how the bot answered it, and who asked."""

    question: str
    outcome: Literal["none", "suggest"]
    asker: str | None = None


def button_value(asked: Asked) -> str:
    """What "Ask the team" carries, as JSON within a button value's 2,000 characters (the question cut to fit)."""
    question = asked.question[:QUESTION_CHARS]
    while True:
        value = json.dumps({"q": question, "o": asked.outcome, "u": asked.asker}, separators=(",", ":"),
                           ensure_ascii=False)
        if len(value) <= blocks.MAX_BUTTON_VALUE:
            return value
        question = _shorter(question, len(value))


def _shorter(text: str, encoded: int) -> str:
    """`text` cut in proportion to how far its encoding (`encoded` characters) is over a button value's limit."""
    return text[:max(0, min(len(text) - 1, len(text) * blocks.MAX_BUTTON_VALUE // encoded - 16))]


def read_value(value: object) -> Asked | None:
    try:
        found = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not (isinstance(found, dict) and isinstance(found.get("q"), str) and found["q"].strip()
            and found.get("o") in ("none", "suggest") and isinstance(found.get("u"), str | None)):
        return None
    return Asked(found["q"][:QUESTION_CHARS], found["o"], found["u"])


def with_button(reply: Reply, asked: Asked) -> Reply:
    """`reply` with "Ask the team" at its end."""
    lead = ("Want a person to answer? I'll ask the team." if asked.outcome == "none"
            else "None of these? I'll ask the team.")
    extra = [blocks.context([lead], "handoff-lead"),
             blocks.actions([blocks.button("🙋 Ask the team", ASK_TEAM, button_value(asked))], "handoff")]
    return Reply(reply.text, blocks.fit([*reply.blocks, *extra]))


def _asked_here(reply_blocks: list[Block], channel: Channel) -> list[Block]:
    """The clicked reply's blocks, its button replaced by where the question went."""
    kept = [b for b in reply_blocks if b.get("block_id") not in ("handoff", "handoff-lead")]
    return [*kept, blocks.context([asked_note(channel)], "handoff-asked")]


def asked_note(channel: Channel) -> str:
    return f":raising_hand: Asked the team in {channel.mention()}; answers come here."


def team_message(asked: Asked, where: str, link: str | None, in_dm: bool) -> Reply:
    """What is posted for the team: the question, how the bot did, and where to answer."""
    how = "I declined it" if asked.outcome == "none" else "I wasn't sure"
    question = blocks.escape(asked.question)
    if in_dm:
        answer_where = "Asked in a direct message with me: reply in this thread, and I'll pass your reply on."
    else:
        thread = blocks.link(link, "their thread") if link else "their thread"
        answer_where = (f"Asked in {where}: answer in {thread}, or reply in this thread and I'll pass your reply "
                        "on.")
    parts = [blocks.section(f"*A question for the team* ({how}):\n>{question.replace(chr(10), chr(10) + '>')}",
                            "handoff-question", verbatim=True),
             blocks.context([answer_where], "handoff-where")]
    return Reply(blocks.clip(f"A question for the team: {question}", blocks.MAX_FALLBACK_TEXT), parts)


def relayed(record: HandoffRecord, answer: str, channel: Channel) -> Reply:
    """An answer from the team's thread, passed on to the asker."""
    about = blocks.escape(blocks.clip(" ".join(record.question.split()), 150))
    parts = [blocks.section(f"*The team answered* your question “{about}”:", "handoff-answer-lead", verbatim=True),
             blocks.section(blocks.escape(blocks.clip(answer, ANSWER_CHARS)), "handoff-answer", verbatim=True),
             blocks.context([f"From {channel.mention()}."], "handoff-from")]
    return Reply(blocks.clip(f"The team answered: {blocks.escape(answer)}", blocks.MAX_FALLBACK_TEXT), parts)


def draft_value(question: str, answer: str) -> str:
    """The "New entry" button's value (bot/entries.py): {"question": …, "answer": …}, the answer cut to fit Slack's
    2,000 characters."""
    question, cut = question[:500], False
    while True:
        value = json.dumps({"question": question, "answer": answer + ("…" if cut else "")}, ensure_ascii=False)
        if len(value) <= blocks.MAX_BUTTON_VALUE:
            return value
        if not answer:
            return json.dumps({"question": question[:200]}, ensure_ascii=False)
        answer, cut = _shorter(answer, len(value)).rstrip(), True


def home_blocks(handoffs: Sequence[HandoffRecord], done: set[str]) -> list[Block]:
    """The admin Home's part: the latest answers people gave to hand-offs (not taught since: `done` holds their
    `phrasing_key`s), each with "New entry" pre-filled from it, and how many wait for an answer."""
    if not handoffs:
        return []
    answered = [h for h in handoffs if h.answers and phrasing_key(h.question) not in done]
    waiting = [h for h in handoffs if not h.answers]
    lead = (f"*Answers from the team* to questions handed off in the last {DAYS} days, newest first: make one an FAQ "
            "entry, and I answer it from then on.")
    found = [blocks.section(lead, "handoff-home")]
    for h in answered[:HOME_SHOWN]:
        latest = h.answers[-1]
        where = "in the team's thread" if latest.place == "team" else "in the asker's thread"
        others = f"; {len(h.answers)} replies, the latest shown" if len(h.answers) > 1 else ""
        question, answer = blocks.escape(blocks.clip(h.question, 300)), blocks.escape(blocks.clip(latest.text, 900))
        text = (f"*Q:* {question}\n*A:* {answer}\n_{where}, {latest.answered_at:%Y-%m-%d %H:%M} UTC{others}_")
        block = blocks.section(text, f"handoff-{h.id}", verbatim=True)
        block["accessory"] = blocks.button("New entry", blocks.ENTRY_NEW, draft_value(h.question, latest.text))
        found.append(block)
    notes = []
    if not answered:
        notes.append("No answers yet.")
    elif len(answered) > HOME_SHOWN:
        notes.append(f"…and {len(answered) - HOME_SHOWN} more answered.")
    if waiting:
        shown = "; ".join(f"“{blocks.escape(blocks.clip(h.question, 80))}”" for h in waiting[:3])
        notes.append(f"{len(waiting)} waiting for an answer: {shown}{'…' if len(waiting) > 3 else ''}")
    found.append(blocks.context(notes, "handoff-home-notes"))
    return found


async def home_part(recorder: Recorder, team: str | None, done: set[str]) -> list[Block]:
    """`home_blocks` from the store (nothing when it cannot be read: the rest of the Home still opens)."""
    since = utcnow() - timedelta(days=DAYS)
    try:
        found = await recorder.read(lambda store: store.handoffs_since(since))
    except Exception as exc:
        log.error("handoff: the admin Home could not read the hand-offs: %s: %s", exc.__class__.__name__, exc)
        return []
    return home_blocks([h for h in found if team is None or h.team_id == team], done)


def handoffs_for(config: Config, recorder: Recorder | None) -> Handoffs | None:
    """Hand-offs as the settings say: none without HANDOFF_CHANNEL (or without a store to keep them in)."""
    if config.handoff_channel is None or recorder is None:
        return None
    return Handoffs(Channel("HANDOFF_CHANNEL", config.handoff_channel, member=True), recorder)


class Handoffs:
    """Hand-offs into `channel`, kept in `recorder`'s store."""

    def __init__(self, channel: Channel, recorder: Recorder) -> None:
        self.channel = channel
        self.recorder = recorder
        self._threads: set[tuple[str, str]] = set()  # where answers may come (`Store.handoff_threads`)
        self._added: set[tuple[str, str]] = set()  # handed off here while the store was being read
        self._read_at = -INDEX_SECONDS
        self._reading: asyncio.Task[None] | None = None
        self._looked = False  # the first look waits for the first read (briefly)

    async def watching(self, channel: str, thread_ts: str) -> bool:
        """Whether an answer to a hand-off may come in the thread `thread_ts` of `channel`: a set lookup. The set is
        read again from the store at most every INDEX_SECONDS, so that every replica catches the answers to every
        replica's hand-offs, in the background (a slow store never holds up the follow-ups behind this check), except
        the first time, waited for up to FIRST_READ_SECONDS."""
        if time.monotonic() - self._read_at >= INDEX_SECONDS and (self._reading is None or self._reading.done()):
            self._read_at = time.monotonic()
            self._reading = asyncio.ensure_future(self._read())
        if not self._looked and self._reading is not None:
            self._looked = True
            await asyncio.wait({self._reading}, timeout=FIRST_READ_SECONDS)
        return (channel, thread_ts) in self._threads

    async def _read(self) -> None:
        since = utcnow() - timedelta(days=DAYS)
        self._added = set()
        try:
            found = await self.recorder.call(lambda store: store.handoff_threads(since))
        except Exception as exc:  # the store is down: the threads known so far
            log.error("handoff: the threads to watch could not be read: %s: %s", exc.__class__.__name__, exc)
            return
        self._threads = found | self._added

    def _watch(self, channel: str, thread_ts: str) -> None:
        self._threads.add((channel, thread_ts))
        self._added.add((channel, thread_ts))

    async def hand_off(self, client: AsyncWebClient, body: dict[str, Any], asked: Asked) -> None:
        """The click on "Ask the team" in the bot's reply `body["message"]`: post the question for the team (once
        per reply), and say where it went."""
        channel, message = body["channel"]["id"], body["message"]
        user = body["user"]["id"]
        team = team_of(body)
        reply = f"{channel}:{message['ts']}"
        asker = user_hash(self.recorder.hash_key, team, asked.asker or user)
        record, mine = await self.recorder.call(lambda store: store.claim_handoff(
            reply, channel, message.get("thread_ts"), asked.outcome, asked.question, team, asker))
        if not mine:
            await self._asked_already(client, body, record)
            return
        try:
            team_channel = await self.channel.id(client)
            in_dm = channel.startswith("D")
            link = None if in_dm else await self._permalink(client, channel, message["ts"])
            posted = await client.chat_postMessage(
                channel=team_channel, **team_message(asked, f"<#{channel}>", link, in_dm).as_kwargs())
        except Exception as exc:
            log.error("handoff: could not post a question in %s: %s: %s", self.channel.value, exc.__class__.__name__,
                      getattr(exc, "response", {}).get("error") if isinstance(exc, SlackApiError) else exc)
            await self.recorder.call(lambda store: store.release_handoff(record.id))
            await _private(client, body, "I couldn't reach the team just now; please try again in a while.")
            return
        await self.recorder.call(lambda store: store.handoff_posted(record.id, team_channel, posted["ts"]))
        self._watch(team_channel, posted["ts"])
        if record.thread_ts:
            self._watch(channel, record.thread_ts)
        log.info("handoff: a question was handed to the team (%s)", asked.outcome)
        try:
            await client.chat_update(channel=channel, ts=message["ts"], text=message.get("text") or "",
                                     blocks=_asked_here(message.get("blocks") or [], self.channel))
        except SlackApiError:  # the reply cannot be changed: the clicker is told instead
            await _private(client, body, asked_note(self.channel))

    async def _asked_already(self, client: AsyncWebClient, body: dict[str, Any], record: HandoffRecord) -> None:
        if record.posted_ts is None:
            note = "That question is being handed to the team right now."
        else:
            link = await self._permalink(client, record.posted_channel or "", record.posted_ts)
            where = blocks.link(link, "there") if link else "there"
            note = (f"That question was asked already, in <#{record.posted_channel}>: answers go {where} and come "
                    "here.")
        await _private(client, body, note)

    async def _permalink(self, client: AsyncWebClient, channel: str, ts: str) -> str | None:
        try:
            found = await client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as exc:
            log.warning("handoff: no link to a message: %s", exc.response.get("error"))
            return None
        return str(found.get("permalink") or "") or None

    async def answered(self, client: AsyncWebClient, event: dict[str, Any], team: str | None, bot_user: str
                       ) -> None:
        """A person's reply in a thread being watched: kept as an answer to its hand-off (not the asker's own words
        in their thread, nor anything that mentions the bot: a question to it); one in the team's thread is passed
        on to the asker."""
        try:
            await self._answered(client, event, team, bot_user)
        except Exception as exc:  # the store is down, or the asker's conversation is gone: logged, not retried
            log.error("handoff: an answer could not be kept or passed on: %s: %s", exc.__class__.__name__, exc)

    async def _answered(self, client: AsyncWebClient, event: dict[str, Any], team: str | None, bot_user: str
                        ) -> None:
        channel, thread_ts, text = event["channel"], event["thread_ts"], str(event.get("text") or "")
        if bot_user and f"<@{bot_user}" in text:
            return
        found = await self.recorder.call(lambda store: store.handoff_in_thread(channel, thread_ts))
        if found is None:
            return
        record, place = found
        if place == "thread" and user_hash(self.recorder.hash_key, team, event["user"]) == record.asker_hash:
            return
        words = plain(text)[:MAX_HANDOFF_CHARS]
        if not words:
            return
        answer = HandoffAnswer(record.id, channel, event["ts"], place, words, utcnow())
        if not await self.recorder.call(lambda store: store.add_handoff_answer(answer)):
            return  # Slack sent it again
        log.info("handoff: an answer was kept (%s)", place)
        if place == "team":
            await client.chat_postMessage(channel=record.channel, thread_ts=record.thread_ts,
                                          **relayed(record, words, self.channel).as_kwargs())


async def _private(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """`text` to whoever clicked, only them, beside the clicked reply."""
    message = body.get("message") or {}
    await client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"],
                                    thread_ts=message.get("thread_ts"), text=text,
                                    blocks=[blocks.context([text], "handoff-note")])
