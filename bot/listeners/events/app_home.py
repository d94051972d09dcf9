"""The App Home tab: the themes, how to ask and the documents for everyone; admins also see the last 7 days and
teach the bot from there."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ... import blocks
from ...teaching import publish_admin_home
from ..deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def on_home(event: dict, body: dict, client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        if deps.recorder is not None and await deps.is_admin(client, body.get("team_id"), event.get("user")):
            await publish_admin_home(client, deps.holder, deps.recorder, deps.command, event["user"])
            return
        await client.views_publish(user_id=event["user"], view=blocks.home_view(deps.holder.current, deps.command))
