"""Bolt listeners, a package per kind of Slack surface (as in Bolt's app templates): `events/`, `commands/`,
`actions/`. Each module attaches its own listeners with `register(app, deps)`; this wires them all. To add a surface,
add a module to the right package (a `views/` or `shortcuts/` package for modals and shortcuts) and call its
`register` from that package's `__init__`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from . import actions, commands, events, views
from .deps import Deps

__all__ = ["Deps", "register"]


def register(app: AsyncApp, deps: Deps) -> None:
    """Attach every listener to `app`; each reads `deps.holder.current` when it runs."""
    events.register(app, deps)
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
