"""Who is an admin (sees the last 7 days in the App Home and teaches the bot there): the users `ADMIN_USER_IDS` names,
and the members of the Slack user group `ADMIN_USERGROUP` names (a handle such as `faq-keepers`, or an id such as
`S0123ABCD`), read from Slack with `usergroups.users.list` (a handle found with `usergroups.list` first; scope
`usergroups:read`) and kept for CACHE_SECONDS, per workspace.

A read that fails (Slack down, the scope missing, a paid-plan feature on a free workspace) keeps the members last read,
logs one line and is tried again after RETRY_SECONDS; until a first read works, nobody is an admin by the group (those
`ADMIN_USER_IDS` names still are). A group Slack says does not exist has no members."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0  # how long the members read are used before they are read again
RETRY_SECONDS = 30.0  # after a read that failed, how long the members last read are used before trying again
CALL_SECONDS = 5.0  # how long one read may take (the App Home or a teaching click waits for it)
USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
# Slack's errors for a user group that is not there (deleted, or disabled: such groups are left out).
_NO_SUCH_GROUP = frozenset({"no_such_subteam", "subteam_not_found"})


class _NoSuchGroup(Exception):
    pass


@dataclass
class _Known:
    """What is known of the group's members in one workspace, and until when it is used."""

    members: frozenset[str] = frozenset()
    read: bool = False  # read from Slack at least once
    until: float = 0.0  # when to read them again (the clock's time)


class Admins:
    """`user_ids` are admins; so are the members of `usergroup` (a handle or an id; None: none), read from Slack
    with the client of the request being handled and kept for `ttl` seconds per workspace."""

    def __init__(self, user_ids: frozenset[str] = frozenset(), usergroup: str | None = None, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.user_ids, self.usergroup, self.ttl, self.clock = user_ids, usergroup, ttl, clock
        self._known: dict[str, _Known] = {}
        self._reading: dict[str, asyncio.Lock] = {}

    def __bool__(self) -> bool:
        """Whether anyone can be an admin at all."""
        return bool(self.user_ids or self.usergroup)

    async def check(self, client: AsyncWebClient, team: str | None, user: object) -> bool:
        """Whether `user` (a Slack user id) is an admin in the workspace `team`."""
        if not isinstance(user, str) or not user:
            return False
        if user in self.user_ids:
            return True
        if self.usergroup is None:
            return False
        return user in await self.members(client, team)

    async def members(self, client: AsyncWebClient, team: str | None) -> frozenset[str]:
        """The group's members in `team`: as last read, read again once CACHE_SECONDS have passed (one read at a
        time per workspace: the checks that come meanwhile wait for it)."""
        key = team or ""
        known = self._known.setdefault(key, _Known())
        if self.clock() < known.until:
            return known.members
        async with self._reading.setdefault(key, asyncio.Lock()):
            if self.clock() < known.until:  # read while this one waited
                return known.members
            try:
                async with asyncio.timeout(CALL_SECONDS):  # not wait_for, which can lose a cancellation (3.11)
                    members = await self._read(client, team)
            except _NoSuchGroup as exc:
                log.warning("admins: %s: nobody is an admin by ADMIN_USERGROUP there", exc)
                members = frozenset()
            except Exception as exc:  # Slack down or slow, the scope missing: the last known members stand
                known.until = self.clock() + RETRY_SECONDS
                log.warning("admins: the members of ADMIN_USERGROUP %s could not be read%s (%s); %s, tried again in "
                            "%g s", self.usergroup, _in(team), _why(exc),
                            f"the {len(known.members)} read before are admins meanwhile" if known.read
                            else "none of them is an admin until they can be", RETRY_SECONDS)
                return known.members
            known.members, known.read, known.until = members, True, self.clock() + self.ttl
        return known.members

    async def _read(self, client: AsyncWebClient, team: str | None) -> frozenset[str]:
        where: dict[str, Any] = {"team_id": team} if team else {}  # needed with an org-wide token, ignored otherwise
        group = self.usergroup or ""
        if not USERGROUP_ID.fullmatch(group):
            found = await client.usergroups_list(**where)
            groups = [g for g in found.get("usergroups") or [] if isinstance(g, dict)]
            ids = [g.get("id") for g in groups if g.get("handle") == group]
            if not ids or not isinstance(ids[0], str):
                raise _NoSuchGroup(f"no user group has the handle {group!r}{_in(team)}")
            group = ids[0]
        try:
            listed = await client.usergroups_users_list(usergroup=group, **where)
        except SlackApiError as exc:
            if exc.response.get("error") in _NO_SUCH_GROUP:
                raise _NoSuchGroup(f"there is no user group {group}{_in(team)}") from None
            raise
        return frozenset(u for u in listed.get("users") or [] if isinstance(u, str))


def _in(team: str | None) -> str:
    return f" in workspace {team}" if team else ""


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack said {exc.response.get('error')}"
    if isinstance(exc, TimeoutError):
        return f"no answer within {CALL_SECONDS:g} s"
    return exc.__class__.__name__
