"""Who clicked a control or submitted a modal, and whether they are one of the bot's admins: checked on every
action, since a click is only a request, and anyone can forge one with another view's ids."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from ..store import StoreRefused
from ..workspaces import team_of
from .deps import Deps

log = logging.getLogger(__name__)


def mapping(value: object) -> dict[str, Any]:
    """`value` if it is an object of a payload, else an empty one (a forged payload may hold anything)."""
    return value if isinstance(value, dict) else {}


def user_and_team(body: dict[str, Any]) -> tuple[object, str | None]:
    return mapping(body.get("user")).get("id"), team_of(body)


async def admin_of(deps: Deps, client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any],
                   surface: str) -> str | None:
    """The admin who clicked `action`; None (logged, naming `surface`) when whoever did is not one."""
    user, team = user_and_team(body)
    if await deps.is_admin(client, team, user):
        return str(user)
    log.warning("%s: %s from %s refused: not in ADMIN_USER_IDS or ADMIN_USERGROUP", surface, action.get("action_id"),
                user)
    return None


def undo_number(action: dict[str, Any]) -> int | None:
    """The number of the row an Undo button names; None when its value is not one."""
    value = str(action.get("value", ""))
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None  # "²".isdigit()


def store_failure_note(exc: Exception, doing: str, surface: str) -> str:
    """What an admin is told when the store failed at `doing` (nothing was done), logged under `surface`: refused
    (reached: what it said names the database, so it stays in the log) or could not be reached."""
    if isinstance(exc, StoreRefused):
        log.error("%s: %s refused by the store: %s", surface, doing, exc)
        return f":warning: Not done: the question store refused it ({doing}); see the bot's log."
    log.error("%s: %s failed: %s: %s", surface, doing, exc.__class__.__name__, exc)
    return f":warning: Not done: the question store could not be reached ({doing}); see the bot's log."
