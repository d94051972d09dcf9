"""A channel named in the settings (HANDOFF_CHANNEL, DIGEST_CHANNEL): its id as given, or its name looked up once
with conversations.list. What cannot be found is a `ConfigError` in one line, at start-up."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .config import ConfigError

log = logging.getLogger(__name__)

PAGE = 200  # channels a conversations.list page asks for (Slack's advice: no more than 200)
MAX_PAGES = 100  # 20,000 channels: a workspace with more, give the id


class Channel:
    """The channel the setting `setting` names as `value` (an id, or "#name"). With `member`, the bot must be in it
    (it reads the replies there): a name whose channel does not have the bot is refused."""

    def __init__(self, setting: str, value: str, member: bool = False) -> None:
        self.setting, self.value, self.member = setting, value, member
        self._id: str | None = None if value.startswith("#") else value
        self._lock = asyncio.Lock()

    @property
    def known(self) -> str | None:
        """The id, once known."""
        return self._id

    def mention(self) -> str:
        """How a message names it: a link to the channel once its id is known."""
        return f"<#{self._id}>" if self._id else self.value

    async def id(self, client: AsyncWebClient) -> str:
        """The channel's id, looked up the first time if the setting gave a name; `ConfigError` saying why when
        there is none."""
        if self._id is not None:
            return self._id
        async with self._lock:
            if self._id is None:
                self._id = await self._look_up(client)
                log.info("%s %s is channel %s", self.setting, self.value, self._id)
        return self._id

    async def _look_up(self, client: AsyncWebClient) -> str:
        name = self.value.removeprefix("#")
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                page = await client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                       limit=PAGE, cursor=cursor)
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error == "missing_scope":
                    raise ConfigError(f"{self.setting}={self.value}: finding a channel by its name needs the "
                                      "channels:read and groups:read scopes (manifest.yaml): add them and reinstall "
                                      "the app, or give the channel's id") from None
                raise ConfigError(f"{self.setting}={self.value}: Slack refused to list the channels ({error}): give "
                                  "the channel's id instead") from None
            for found in page.get("channels") or []:
                if found.get("name") == name:
                    if self.member and not found.get("is_member"):
                        raise ConfigError(f"{self.setting}={self.value}: the bot is not in that channel, and must be "
                                          f"to read the replies there: /invite @openllm in {self.value}")
                    return str(found["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        raise ConfigError(f"{self.setting}={self.value}: the bot sees no channel of that name (a private channel must "
                          "invite the bot first): check the name, or give the channel's id")


async def find_channels(client: AsyncWebClient, *channels: Channel | None) -> None:
    """Look up each channel named by its name (at start-up: a name that names none is a `ConfigError`, said with
    every other one)."""
    lines: list[str] = []
    for channel in channels:
        if channel is None:
            continue
        try:
            await channel.id(client)
        except ConfigError as exc:
            lines.extend(exc.lines)
    if lines:
        raise ConfigError(*lines)
