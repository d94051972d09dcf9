"""Which installation a request is for: with one bot token, the one workspace; installed with OAuth
(bot/installations.py), the workspace it came from, or the Enterprise Grid org of an org-wide installation.

Set once per request by `workspace_middleware`, from what Bolt authorized (never from a field of the payload alone),
and read where it matters: the knowledge base a workspace is answered from (`KnowledgeHolder.current`), whose
questions, votes and taught phrasings an admin sees and changes, and the workspace each record is stored with. A
context variable, so that every listener Bolt starts for the request sees it without each being handed it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse


@dataclass(frozen=True)
class Workspace:
    """The workspace a request came from (`team_id`), its Enterprise Grid org (`enterprise_id`), whether the app is
    installed for the whole org (`org_wide`); `single`: the bot serves one workspace with one bot token, so that
    everything the store holds is that workspace's."""

    team_id: str | None = None
    enterprise_id: str | None = None
    org_wide: bool = False
    single: bool = True

    @property
    def key(self) -> str | None:
        """The installation: the org of an org-wide one, else the workspace; None for a single-token install (whose
        rows are all its own). What the store's reads take as `team`, and what a knowledge base is kept under."""
        if self.single:
            return None
        return self.enterprise_id if self.org_wide else self.team_id

    @property
    def taught_for(self) -> tuple[str | None, str | None]:
        """(team_id, enterprise_id) a phrasing taught here is stored with: the workspace and its org, (None, the
        org) for an org-wide installation, (None, None) for a single-token install."""
        if self.single:
            return None, None
        return (None if self.org_wide else self.team_id), self.enterprise_id


SINGLE = Workspace()
_current: ContextVar[Workspace] = ContextVar("workspace", default=SINGLE)


def here() -> Workspace:
    """The installation the request being handled is for (SINGLE outside any request)."""
    return _current.get()


def team_of(body: dict[str, Any]) -> str | None:
    """The workspace a click or a modal's submission (`body`, its payload) came from: its team's, else its user's
    (a forged payload may hold anything where either is)."""
    team, user = body.get("team"), body.get("user")
    found = (team.get("id") if isinstance(team, dict) else None) or (
        user.get("team_id") if isinstance(user, dict) else None)
    return found if isinstance(found, str) else None


def key_of(team_id: str | None, enterprise_id: str | None) -> str | None:
    """The installation a stored phrasing was taught for (see `Workspace.key`): its workspace, else its org."""
    return team_id or enterprise_id


def workspace_middleware(single: bool) -> Callable[..., Awaitable[BoltResponse]]:
    """A Bolt middleware that says which installation each request is for, as Bolt authorized it (`context`): the
    workspace, and the org of an org-wide installation. `single`: one bot token, one workspace."""

    async def middleware(req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]
                         ) -> BoltResponse:
        context = req.context
        _current.set(Workspace(context.team_id, context.enterprise_id, bool(context.is_enterprise_install), single))
        await next()
        return resp

    return middleware
