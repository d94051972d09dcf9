"""Listeners of block actions: buttons and menus in the bot's messages and in the App Home."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ..deps import Deps
from . import answers, entries, feedback, handoff, teaching


def register(app: AsyncApp, deps: Deps) -> None:
    answers.register(app, deps)
    feedback.register(app, deps)
    teaching.register(app, deps)
    entries.register(app, deps)
    handoff.register(app, deps)
