"""Entries and answers written from Slack by admins: a new entry of the FAQ, or another answer for an entry; and
undoing one. Each is checked as an entry of knowledge/faq/ is (the loader itself: `KnowledgeBase.check_written`),
written to the store, applied on this replica at once (the others follow the store: `reload.TaughtWatcher`), and shown
in the admin Home with Undo. `openllm-bot taught export` writes them into the FAQ's files. Installed in many
workspaces, each is its workspace's, as a taught phrasing is (bot/workspaces.py): answered there alone, shown and
undone by its admins alone."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge import KnowledgeBase
from knowledge.content.phrasings import phrasing_key
from knowledge.content.written import NewEntry, Written

from . import blocks
from .blocks import Block, escape
from .recorder import Recorder
from .reload import follow_written
from .state import KnowledgeHolder
from .store import WrittenRecord
from .workspaces import here

log = logging.getLogger(__name__)

# The Home's "Edit an answer" (its value: the entry, or "" to choose it in the modal), and Undo (the row's id).
ENTRY_EDIT, ENTRY_UNDO = "entry_edit", "entry_undo"
NEW_IN_HOME = f"{blocks.ENTRY_NEW}:home"  # the Home's own "New entry" (plain `entry_new` is the hand-off's)
RECENT = 5  # entries and answers written lately, shown with Undo
_ANSWER_SHOWN = 150


async def follow_store(holder: KnowledgeHolder, recorder: Recorder) -> None:
    """Answer with what the store holds written now (another replica may have changed it)."""
    await follow_written(holder, lambda: recorder.call(lambda store: store.written()))


def what(kb: KnowledgeBase, item: Written) -> str:
    """What was written, for an admin (mrkdwn)."""
    if isinstance(item, NewEntry):
        return f"new entry *{escape(item.question)}* (`{escape(item.id)}`, in {escape(item.theme)}.yaml)"
    entry = kb.entry(item.entry_id)
    question = f"*{escape(entry.question)}*" if entry else f"`{escape(item.entry_id)}`"
    return f"new answer of {question}: “{escape(blocks.clip(' '.join(item.answer.split()), _ANSWER_SHOWN))}”"


@dataclass(frozen=True)
class Stored:
    """What became of something written: stored (its row's `id`) and answered with, or stored and not applied (why)."""

    id: int
    note: str  # for the admin, mrkdwn
    applied: bool


async def write(holder: KnowledgeHolder, recorder: Recorder, item: Written, admin: str) -> Stored:
    """Store `item`, written by `admin` (checked already: `KnowledgeBase.check_written`), and answer with it from now
    on. Raises what the store raises (`EntryTaken`: the id was taken a moment ago, on another replica)."""
    team_id, enterprise_id = here().taught_for  # for this workspace (or org), as a taught phrasing is
    written_id = await recorder.call(lambda store: store.add_written(item, admin, team_id, enterprise_id))
    await follow_store(holder, recorder)
    kb = holder.current
    log.info("written from Slack by %s: %s (#%d)", admin, item, written_id)
    skipped = [s.reason for s in kb.written_skipped if s.written == item]
    if skipped or item not in kb.written:
        # Only if another admin wrote something contradicting it at the same moment: the first one stands.
        why = escape(skipped[0]) if skipped else "see the bot's log"
        return Stored(written_id, f":warning: Stored but not applied: {what(kb, item)}: {why}", False)
    return Stored(written_id, f":white_check_mark: Written: {what(kb, item)}. I answer with it from now on.", True)


async def undo(holder: KnowledgeHolder, recorder: Recorder, written_id: int, admin: str) -> str:
    """Undo the entry or answer `written_id` for `admin`; what to tell them (mrkdwn). Another workspace's is not
    theirs to undo: to them there is no such entry."""
    team = here().key  # read here: the store is called on a thread of its own, which does not see the request's
    record = await recorder.call(lambda store: store.undo_written(written_id, admin, team=team))
    await follow_store(holder, recorder)
    item = record.item if record is not None else None
    if item is None:
        return "Nothing to undo: no such entry or answer, or it was undone already."
    log.info("written from Slack, undone by %s: %s (#%d)", admin, item, written_id)
    return f":leftwards_arrow_with_hook: Undone: {what(holder.current, item)}"


def questions(records: Sequence[WrittenRecord]) -> set[str]:
    """The questions new entries were written for (`phrasing_key`): no longer unanswered ones to teach."""
    return {phrasing_key(r.question) for r in records if r.kind == "entry" and r.question}


def home_blocks(kb: KnowledgeBase, recent: Sequence[WrittenRecord] | None) -> list[Block]:
    """The admin Home's part for writing the FAQ: "New entry", "Edit an answer…", and what was written lately (newest
    first) with Undo; `recent` None: the store could not be read."""
    lead = ("*Write the FAQ from here*: a new entry (its answer in your words, citing passages of the documents), or "
            "another answer for an entry. Checked as knowledge/faq/ is, answered at once.")
    found: list[Block] = [blocks.section(lead, "written-lead"),
                          blocks.actions([blocks.button("New entry", NEW_IN_HOME, "{}", style="primary"),
                                          blocks.button("Edit an answer", ENTRY_EDIT, "")], "written-controls")]
    if recent is None:
        return [*found, blocks.context(["What was written could not be read; see the bot's log."], "written-error")]
    for record in recent[:RECENT]:
        item = record.item
        if item is None:
            continue
        block = blocks.section(f"{what(kb, item)}\n_by {blocks.user_mention(record.written_by)}, "
                               f"{record.written_at:%Y-%m-%d %H:%M} UTC_", f"written-{record.id}", verbatim=True)
        block["accessory"] = blocks.button("Undo", f"{ENTRY_UNDO}:{record.id}", str(record.id))
        found.append(block)
    return found


async def home_part(kb: KnowledgeBase, recorder: Recorder) -> tuple[list[Block], set[str]]:
    """The admin Home's part for writing the FAQ, and the questions entries were written for: the workspace's own."""
    team = here().key
    try:
        records = await recorder.read(lambda store: store.written(team=team))
    except Exception as exc:  # the store is down: the Home still opens, saying so
        log.error("store: the entries written from Slack could not be read: %s: %s", exc.__class__.__name__, exc)
        return home_blocks(kb, None), set()
    return home_blocks(kb, records[::-1]), questions(records)
