"""What admins submit in the "New entry" and "Edit answer" modals. A submission is only a request, and anyone could
forge one: it is taken only from an admin, in a modal this bot opened for them (its signed metadata), and only once the
loader takes what it writes as it takes an entry of knowledge/faq/. A refusal is shown in the modal, on the field it is
about, and nothing is stored; what is taken is stored, answered at once, and the modal says so."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from knowledge.content.written import NewAnswer, Written, WrittenRefused

from ... import entries
from ...blocks import escape
from ...entry_views import (
    ANSWER_CALLBACK,
    CHOOSE,
    NEW_CALLBACK,
    QUESTION,
    Submitted,
    Unresolved,
    chosen_entry,
    errors_of,
    new_entry,
    opened,
    outcome_modal,
    submitted,
)
from ...recorder import Recorder
from ...store import InvalidRecord, StoreRefused
from ...teaching import publish_admin_home
from ..actions.entries import NOT_ADMIN
from ..admins import user_and_team
from ..deps import Deps

log = logging.getLogger(__name__)

STORING = ":hourglass_flowing_sand: Storing it and teaching the bot…"
NOT_OPENED = "This form was not opened by the bot for you (or it was open for more than a day): open it again."


def _refusal_block(form: Submitted) -> str:
    """Where a refusal of the whole form is shown: its first field."""
    return next((b for b in (QUESTION, CHOOSE, form.answer_block) if b in form.blocks), QUESTION)


def register(app: AsyncApp, deps: Deps) -> None:
    """Nothing to register without a store: what admins write is kept there."""
    if deps.recorder is None:
        return
    recorder: Recorder = deps.recorder
    holder, command, key = deps.holder, deps.command, deps.modal_key
    # One write at a time here: a double submission is checked against the first once it is stored.
    one_at_a_time = asyncio.Lock()

    async def admitted(ack: Any, body: dict, view: dict, client: AsyncWebClient, kind: str
                       ) -> tuple[str, dict[str, Any], Submitted] | None:
        """The admin submitting a modal of `kind` this bot opened for them, its metadata and what it holds; None
        (the refusal shown in the modal, and logged) otherwise."""
        user, team = user_and_team(body)
        form = submitted(view)
        if not await deps.is_admin(client, team, user):
            log.warning("entries: a %s form submitted by %s refused: not an admin", kind, user)
            await ack(response_action="errors", errors={_refusal_block(form): NOT_ADMIN})
            return None
        fields = opened(key, view.get("private_metadata"), kind, user)
        if fields is None:
            log.warning("entries: a %s form submitted by %s refused: not a form this bot opened for them", kind, user)
            await ack(response_action="errors", errors={_refusal_block(form): NOT_OPENED})
            return None
        return str(user), fields, form

    async def store(ack: Any, client: AsyncWebClient, view: dict, admin: str, item: Written) -> None:
        """Take the modal, store `item` and say in the modal (and the admin's Home) what became of it."""
        answer = isinstance(item, NewAnswer)
        callback, title = (ANSWER_CALLBACK, "Edit answer") if answer else (NEW_CALLBACK, "New FAQ entry")
        await ack(response_action="update", view=outcome_modal(callback, STORING, title))
        try:
            async with one_at_a_time:
                stored = await entries.write(holder, recorder, item, admin)
            note = stored.note
        except InvalidRecord as exc:  # the id taken a moment ago, elsewhere: said in words the admin can act on
            note = f":warning: Not stored: {escape(str(exc))}"
        except StoreRefused as exc:  # what it said names the database, so it stays in the log
            log.error("entries: writing refused by the store: %s", exc)
            note = ":warning: Not stored: the question store refused it; see the bot's log."
        except Exception as exc:  # the store is down: nothing was stored, and the admin is told so
            log.error("entries: writing failed: %s: %s", exc.__class__.__name__, exc)
            note = ":warning: Not stored: the question store could not be reached; see the bot's log."
        await client.views_update(view_id=view.get("id", ""), view=outcome_modal(callback, note, title))
        await publish_admin_home(client, holder, recorder, command, admin, note)

    @app.view(NEW_CALLBACK)
    async def on_new_entry(ack: Any, body: dict, view: dict, client: AsyncWebClient) -> None:
        found = await admitted(ack, body, view, client, NEW_CALLBACK)
        if found is None:
            return
        admin, _, form = found
        kb = holder.current
        try:
            item = new_entry(kb, form)
            await asyncio.to_thread(kb.check_written, item)
        except Unresolved as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        except WrittenRefused as exc:
            chosen = len(item.sources) - (1 if form.draft.pasted else 0)
            await ack(response_action="errors", errors=errors_of(exc.refusals, form, chosen))
            return
        await store(ack, client, view, admin, item)

    @app.view(ANSWER_CALLBACK)
    async def on_new_answer(ack: Any, body: dict, view: dict, client: AsyncWebClient) -> None:
        found = await admitted(ack, body, view, client, ANSWER_CALLBACK)
        if found is None:
            return
        admin, fields, form = found
        entry_id = fields.get("entry")
        if not isinstance(entry_id, str):  # none chosen yet
            await ack(response_action="errors", errors={CHOOSE: "Choose the entry whose answer to edit."})
            return
        if chosen_entry(view) not in (None, entry_id):  # changed, and not drawn again for it yet
            await ack(response_action="errors", errors={CHOOSE: "Choose the entry again: its answer is not shown."})
            return
        item = NewAnswer(entry_id, form.draft.answer)
        try:
            await asyncio.to_thread(holder.current.check_written, item)
        except WrittenRefused as exc:
            await ack(response_action="errors", errors=errors_of(exc.refusals, form, 0))
            return
        await store(ack, client, view, admin, item)
