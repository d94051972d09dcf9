"""Teaching the bot from the admin App Home: an unanswered question means an entry, or is not covered by the
documents; and undoing that. Every action is checked against the admins (whoever drew the Home), validated like the
FAQ's own phrasings, written to the store, applied on this replica at once (the others follow the store:
`reload.TaughtWatcher`), and the admin's Home is drawn again saying what happened. Nobody who asked is messaged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase, Taught
from knowledge.content.phrasings import phrasing_key

from . import blocks, entries, handoff
from .recorder import Recorder
from .reload import follow_taught
from .report import MAX_QUESTION_CHARS, Group, Report, report_from_store
from .state import KnowledgeHolder
from .store import Store, TaughtRecord, utcnow
from .workspaces import here

log = logging.getLogger(__name__)

ADMIN_PERIOD = timedelta(days=7)
# The admin Home groups only this many of the most recent unanswered questions: it must open in a moment.
ADMIN_MAX_GROUPED = 2000
GUESSES = 3  # "It means" buttons a question gets: the matcher's best candidates


def _week(store: Store, entry_ids: list[str], team: str | None) -> tuple[Report, list[TaughtRecord]]:
    """The last 7 days and the phrasings taught, of the installation `team` (None: every row, one bot token)."""
    report = report_from_store(store, utcnow() - ADMIN_PERIOD, entry_ids=entry_ids, max_grouped=ADMIN_MAX_GROUPED,
                               team=team)
    return report, store.taught(team=team)


def _whole(text: str) -> bool:
    """`text` is a question as recorded, not one the report clipped (which would be taught with its "…")."""
    return not (text.endswith("…") and len(text) >= MAX_QUESTION_CHARS - 1)


def _teachable(kb: KnowledgeBase, groups: Sequence[Group]) -> list[blocks.Teachable]:
    """Each group with the entries the matcher takes its text for: a second of CPU for a full Home."""
    found = []
    for group in groups:
        if not _whole(group.text):
            found.append(blocks.Teachable(group, whole=False))
            continue
        candidates = kb.ask(group.text).candidates[:GUESSES]
        found.append(blocks.Teachable(group, tuple(e for c in candidates if (e := kb.entry(c.id)))))
    return found


async def admin_blocks(kb: KnowledgeBase, recorder: Recorder, note: str | None = None) -> list[blocks.Block]:
    """The admins' part of the App Home: the last 7 days, the unanswered questions to teach (those not taught yet,
    most asked first) and the phrasings taught lately; `note` says what their last click did. Only the workspace's
    own (bot/workspaces.py): one workspace's admins never see another's."""
    team = here().key  # read here: the store is read on a thread of its own, which does not see the request's
    try:
        week, taught = await recorder.read(lambda store: _week(store, [e.id for e in kb.knowledge.entries], team))
    except Exception as exc:  # the store is down: the Home still opens, saying so
        log.error("store: the admin summary could not be read: %s: %s", exc.__class__.__name__, exc)
        return blocks.admin_summary(kb, None, note=note)
    written, written_for = await entries.home_part(kb, recorder)  # entries and answers written from Slack
    done = {phrasing_key(r.text) for r in taught} | written_for
    open_groups = [g for g in week.unanswered if phrasing_key(g.text) not in done]
    shown = open_groups[:blocks.ADMIN_TEACHABLE]
    teachable = await asyncio.to_thread(_teachable, kb, shown)
    handed = await handoff.home_part(recorder, team, done)  # answers people gave to questions handed to them
    return blocks.admin_summary(kb, week, teachable, taught[::-1][:blocks.ADMIN_RECENT], note,
                                more=len(open_groups) - len(shown), written=written, handed=handed)


async def publish_admin_home(client: AsyncWebClient, holder: KnowledgeHolder, recorder: Recorder, command: str,
                             user: str, note: str | None = None) -> None:
    """Publish `user`'s App Home (an admin's): their part first, then what everyone sees."""
    kb = holder.current
    admin = await admin_blocks(kb, recorder, note)
    await client.views_publish(user_id=user, view=blocks.home_view(kb, command, admin))


async def follow_store(holder: KnowledgeHolder, recorder: Recorder) -> None:
    """Answer with the taught phrasings the store holds now (another replica may have changed them)."""
    await follow_taught(holder, lambda: recorder.call(lambda store: store.taught()))


def _near(kb: KnowledgeBase, text: str) -> str | None:
    """The entry the bot takes `text` for, if any: taught as not covered, it becomes a near miss of that entry."""
    result = kb.ask(text)
    return result.candidates[0].id if result.status != "none" and result.candidates else None


async def teach(holder: KnowledgeHolder, recorder: Recorder, text: str, entry_id: str | None, admin: str) -> str:
    """Teach `text` as a phrasing of `entry_id` (None: not covered) for `admin`; what to tell them (mrkdwn)."""
    await follow_store(holder, recorder)  # checked against every phrasing taught so far, on any replica
    kb = holder.current
    near = None if entry_id is not None else await asyncio.to_thread(_near, kb, text)
    taught = Taught(text, entry_id, near)
    if reason := kb.check_taught(taught):
        return f":warning: Not taught: {blocks.escape(reason)}"
    team_id, enterprise_id = here().taught_for  # for this workspace (or org) only
    await recorder.call(lambda store: store.add_taught(text, entry_id, near, admin, team_id=team_id,
                                                       enterprise_id=enterprise_id))
    await follow_store(holder, recorder)
    what = blocks.taught_text(holder.current, text, entry_id, near)
    # Refused only if another admin taught the same words otherwise at the same moment: the first one stands.
    skipped = [s.reason for s in holder.current.skipped if s.taught == taught]
    if skipped:
        return f":warning: Stored but not applied: {what}: {blocks.escape(skipped[0])}"
    return f":white_check_mark: Taught: {what}"


async def undo(holder: KnowledgeHolder, recorder: Recorder, taught_id: int, admin: str) -> str:
    """Undo the taught phrasing `taught_id` for `admin`; what to tell them (mrkdwn)."""
    team = here().key  # one workspace's admins never undo another's: to them it is "no such phrasing"
    record = await recorder.call(lambda store: store.undo_taught(taught_id, admin, team=team))
    await follow_store(holder, recorder)
    if record is None:
        return "Nothing to undo: no such phrasing, or it was undone already."
    what = blocks.taught_text(holder.current, record.text, record.entry_id, record.near_entry)
    return f":leftwards_arrow_with_hook: Undone: {what}"
