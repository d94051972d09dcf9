"""Listeners of slash commands."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ..deps import Deps
from . import slash


def register(app: AsyncApp, deps: Deps) -> None:
    slash.register(app, deps)
