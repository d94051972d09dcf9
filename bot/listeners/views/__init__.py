"""Listeners of modals: what admins submit in the modals the bot opened."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ..deps import Deps
from . import entries


def register(app: AsyncApp, deps: Deps) -> None:
    entries.register(app, deps)
