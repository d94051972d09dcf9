"""The controls that open the modals admins write the FAQ in: "New entry" (in the admin Home, beside an unanswered
question, or beside an answer someone gave in the hand-off channel: `entry_new`, its value the draft), Enter in the
modal's question (the passages closest to it listed again), "Edit an answer…" and Undo in the Home. Only admins may use
them; each modal is opened on the click's trigger at once, before anything slow."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase

from ... import blocks, entries
from ...entry_views import (
    ANSWER_CALLBACK,
    CHOOSE_ACTION,
    NEW_CALLBACK,
    QUESTION_ACTION,
    Draft,
    answer_modal,
    entry_modal,
    opened,
    signed,
    submitted,
    unknown_wordings,
)
from ...recorder import Recorder
from ...teaching import publish_admin_home
from .. import admins
from ..admins import mapping, store_failure_note, undo_number
from ..deps import Deps

log = logging.getLogger(__name__)

_NEW = re.compile(rf"^{blocks.ENTRY_NEW}(?::[a-z0-9]+)?$")
_UNDO = re.compile(rf"^{entries.ENTRY_UNDO}:")
NOT_ADMIN = "Only the bot's admins can write FAQ entries (ADMIN_USER_IDS, ADMIN_USERGROUP)."


def hash_of(view: dict[str, Any]) -> str | None:
    """The hash Slack gave `view`: views.update with it is refused rather than overwrite a newer view of it."""
    found = view.get("hash")
    return found if isinstance(found, str) and found else None


def guessed_theme(kb: KnowledgeBase, question: str) -> str | None:
    """The theme of the entry the bot takes `question` for, if it takes it for one."""
    result = kb.ask(question)
    entry = kb.entry(result.candidates[0].id) if result.candidates and result.status != "none" else None
    return PurePosixPath(entry.file).stem if entry is not None and entry.file else None


def with_passages(kb: KnowledgeBase, draft: Draft, metadata: str) -> dict[str, Any]:
    """The "New entry" modal with the passages closest to the draft's question (a second the first time: off the
    event loop), and the theme of the entry closest to it when none is chosen."""
    if draft.question and draft.theme is None:
        draft = replace(draft, theme=guessed_theme(kb, draft.question))
    return entry_modal(kb, draft, metadata, kb.closest_passages(draft.question) if draft.question else [])


def register(app: AsyncApp, deps: Deps) -> None:
    """Nothing to register without a store: what admins write is kept there."""
    if deps.recorder is None:
        return
    recorder: Recorder = deps.recorder
    holder, command, key = deps.holder, deps.command, deps.modal_key

    def admin_of(client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any]) -> Awaitable[str | None]:
        return admins.admin_of(deps, client, body, action, "entries")

    @app.action(_NEW)
    async def on_new(ack: Any, body: dict, action: dict, client: AsyncWebClient, respond: Any) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            if body.get("response_url"):  # a button in a channel: whoever clicked it is told, and nobody else
                await respond(text=NOT_ADMIN, response_type="ephemeral", replace_original=False)
            return
        kb = holder.current
        draft = unknown_wordings(kb, Draft.from_value(action.get("value")))
        metadata = signed(key, NEW_CALLBACK, admin)
        # Opened on the click's trigger at once (it lasts 3 seconds); the passages follow in an update.
        opening = await client.views_open(trigger_id=body.get("trigger_id", ""),
                                          view=entry_modal(kb, draft, metadata, None if draft.question else []))
        if not draft.question:
            return
        view = mapping(opening.get("view"))
        modal = await asyncio.to_thread(with_passages, kb, draft, metadata)
        await client.views_update(view_id=view.get("id", ""), view=modal,
                                  hash=hash_of(view))

    @app.action(QUESTION_ACTION)
    async def on_question(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            return
        view = mapping(body.get("view"))
        metadata = view.get("private_metadata")
        if opened(key, metadata, NEW_CALLBACK, admin) is None:
            log.warning("entries: a question typed in a view this bot did not open for %s: ignored", admin)
            return
        form = submitted(view)
        typed = action.get("value")
        draft = replace(form.draft, question=typed.strip() if isinstance(typed, str) else form.draft.question)
        modal = await asyncio.to_thread(with_passages, holder.current, draft, str(metadata))
        await client.views_update(view_id=view.get("id", ""), view=modal,
                                  hash=hash_of(view))

    @app.action(entries.ENTRY_EDIT)
    async def on_edit(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            return
        kb = holder.current
        entry = kb.entry(str(action.get("value") or ""))  # named by the button, or chosen in the modal
        metadata = signed(key, ANSWER_CALLBACK, admin, entry.id if entry else None)
        await client.views_open(trigger_id=body.get("trigger_id", ""), view=answer_modal(kb, entry, metadata))

    @app.action(CHOOSE_ACTION)
    async def on_choose(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            return
        view = mapping(body.get("view"))
        if opened(key, view.get("private_metadata"), ANSWER_CALLBACK, admin) is None:
            log.warning("entries: an entry chosen in a view this bot did not open for %s: ignored", admin)
            return
        kb = holder.current
        entry = kb.entry(str(mapping(action.get("selected_option")).get("value") or ""))
        metadata = signed(key, ANSWER_CALLBACK, admin, entry.id if entry else None)
        await client.views_update(view_id=view.get("id", ""), view=answer_modal(kb, entry, metadata),
                                  hash=hash_of(view))

    @app.action(_UNDO)
    async def on_undo(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            return
        if (number := undo_number(action)) is None:
            await publish_admin_home(client, holder, recorder, command, admin, ":warning: Nothing to undo there.")
            return
        try:
            note = await entries.undo(holder, recorder, number, admin)
        except Exception as exc:  # the store refused or is down: nothing was undone, and the admin is told so
            note = store_failure_note(exc, "undoing", "entries")
        await publish_admin_home(client, holder, recorder, command, admin, note)
