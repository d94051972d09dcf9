"""The admin App Home's teaching controls: "It means: …", "Another entry…", "Not covered", and Undo. Only admins
may use them; each click draws the admin's Home again saying what happened."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ... import blocks
from ...recorder import Recorder
from ...store import InvalidRecord, TaughtAlready
from ...teaching import publish_admin_home, teach, undo
from .. import admins
from ..admins import store_failure_note, undo_number
from ..deps import Deps

log = logging.getLogger(__name__)

_TEACH = re.compile(rf"^(?:{blocks.TEACH_MEANS}|{blocks.TEACH_OTHER}|{blocks.TEACH_NONE}):")
_UNDO = re.compile(rf"^{blocks.TEACH_UNDO}:")


def question_of(action: dict[str, Any]) -> str | None:
    """The question a teaching control is about: in its block's id."""
    block_id = action.get("block_id", "")
    text = block_id.removeprefix(blocks.TEACH_BLOCK)
    return text if block_id.startswith(blocks.TEACH_BLOCK) and text.strip() else None


def meaning_of(action: dict[str, Any]) -> tuple[bool, str | None]:
    """(whether the control says what the question means, the entry it names: None for not covered)."""
    kind = action.get("action_id", "").partition(":")[0]
    if kind == blocks.TEACH_NONE:
        return True, None
    chosen = action.get("selected_option") if kind == blocks.TEACH_OTHER else action  # the select's, or the button
    value = str((chosen or {}).get("value") or "")
    return bool(value), value or None


def register(app: AsyncApp, deps: Deps) -> None:
    """Nothing to register without a store: what admins teach is kept there."""
    if deps.recorder is None:
        return
    recorder: Recorder = deps.recorder
    holder, command = deps.holder, deps.command

    def admin_of(client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any]) -> Awaitable[str | None]:
        return admins.admin_of(deps, client, body, action, "teaching")

    # One teaching or undoing at a time here: a double click is checked against the first once it is stored, and
    # refused, rather than both passing the check and both being stored.
    one_at_a_time = asyncio.Lock()

    async def act(client: AsyncWebClient, admin: str, doing: str, work: Awaitable[str]) -> None:
        try:
            async with one_at_a_time:
                note = await work
        except (TaughtAlready, InvalidRecord) as exc:  # said in words the admin can act on, naming nobody
            note = f":warning: Not taught: {blocks.escape(str(exc))}"
        except Exception as exc:  # the store refused or is down: nothing was taught, and the admin is told so
            note = store_failure_note(exc, doing, "teaching")
        await publish_admin_home(client, holder, recorder, command, admin, note)

    @app.action(_TEACH)
    async def on_teach(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            return
        text = question_of(action)
        chosen, entry_id = meaning_of(action)
        if text is None or not chosen:
            await publish_admin_home(client, holder, recorder, command, admin,
                                     ":warning: Not taught: that control names no question or entry; try again here.")
            return
        await act(client, admin, "teaching", teach(holder, recorder, text, entry_id, admin))

    @app.action(_UNDO)
    async def on_undo(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        if (admin := await admin_of(client, body, action)) is None:
            return
        if (number := undo_number(action)) is None:
            await publish_admin_home(client, holder, recorder, command, admin, ":warning: Nothing to undo there.")
            return
        await act(client, admin, "undoing", undo(holder, recorder, number, admin))
