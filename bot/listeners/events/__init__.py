"""Listeners of Events API events: mentions, messages (DMs, thread replies), reactions, the App Home."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ..deps import Deps
from . import app_home, mentions, messages, reactions


def register(app: AsyncApp, deps: Deps) -> None:
    mentions.register(app, deps)
    messages.register(app, deps)
    reactions.register(app, deps)
    app_home.register(app, deps)
