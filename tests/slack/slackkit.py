"""Helpers for the Slack tests: a running HTTP-mode app on 127.0.0.1 wired to a fake Slack."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.adapter.aiohttp import EVENTS_PATH, start_http
from bot.app import create_app
from bot.config import Config
from bot.fakeslack import FakeSlack, Message
from bot.recorder import Recorder
from bot.state import KnowledgeHolder
from knowledge import KnowledgeBase

FIXTURE_FAQ = Path(__file__).resolve().parent.parent / "fixtures" / "faq"
SECRET = "8f742231b10e8888abcd99eeefff85a5"
STORE_KEY = b"test-key-0123456789abcdef"  # what user ids are hashed with in the tests' question stores
COMMAND = "/openllm"
# Verbatim alternates of the fixture FAQ: unambiguous whatever the matcher's tuning.
LICENSING_Q = "licence terms for open models"
LLAMA_Q = "tell me about llama 3"
OFF_TOPIC_Q = "what's the weather in berlin"


@dataclass
class Slack:
    """The app under test, its fake Slack and the knowledge holder it reads."""

    fake: FakeSlack
    url: str
    holder: KnowledgeHolder
    runner: web.AppRunner

    async def reply(self, method: str = "chat.postMessage", count: int = 1) -> dict[str, Any]:
        """The arguments of the `count`-th call to `method`, once it has been made."""
        return (await self.fake.wait_for(method, count))[count - 1].args

    def ephemeral(self, index: int = -1) -> Message:
        return [m for m in self.fake.visible_messages() if m.ephemeral][index]


def make_config(fake: FakeSlack, **changes: Any) -> Config:
    config = Config(bot_token="xoxb-test", app_token="xapp-test", signing_secret=SECRET, api_url=fake.api_url,
                    command=COMMAND)
    return replace(config, **changes)


async def start_slack(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder | None = None,
                      holder: KnowledgeHolder | None = None, **config_changes: Any) -> Slack:
    """Serve the app over HTTP on a free loopback port, and have `fake` send to it; `holder`, when given, holds
    `kb` (a test that also builds the recorder shares its counters)."""
    holder = holder or KnowledgeHolder(kb)
    app = create_app(make_config(fake, **config_changes), holder, recorder=recorder)
    runner, url = await start_http(app, holder, SECRET, "127.0.0.1", 0)
    fake.send_over_http(url + EVENTS_PATH, SECRET)
    return Slack(fake, url, holder, runner)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def button_values(blocks: list[dict[str, Any]], prefix: str) -> list[str]:
    return [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
            if e["action_id"].startswith(prefix + ":")]


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every piece of text shown by `blocks`."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]:
            text = element.get("text") or element.get("placeholder")  # a select shows its placeholder
            parts.append(text if isinstance(text, str) else text["text"])
    return "\n".join(parts)


PINGS = ("<!channel", "<!here", "<!everyone", "<@U", "<@W", "<!subteam")


def assert_sendable(args: dict[str, Any]) -> None:
    """A reply Slack would accept and that pings nobody: Block Kit's limits, no special mention."""
    from bot import blocks as kit

    blocks = args["blocks"]
    assert 1 <= len(blocks) <= kit.MAX_BLOCKS
    assert 0 < len(args["text"]) <= kit.MAX_FALLBACK_TEXT
    for block in blocks:
        assert len(block.get("block_id", "")) <= kit.MAX_ID
        if isinstance(block.get("text"), dict):
            assert 0 < len(block["text"]["text"]) <= kit.MAX_SECTION_TEXT
        if block["type"] == "context":
            assert len(block["elements"]) <= kit.MAX_CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= kit.MAX_SECTION_TEXT for e in block["elements"])
        if block["type"] == "actions":
            assert len(block["elements"]) <= kit.MAX_ACTIONS_ELEMENTS
            for button in block["elements"]:
                assert 0 < len(button["text"]["text"]) <= kit.MAX_BUTTON_TEXT
                assert len(button.get("value", "")) <= kit.MAX_BUTTON_VALUE
                assert 0 < len(button["action_id"]) <= kit.MAX_ID
    shown = all_text(blocks) + args["text"]
    for ping in PINGS:
        assert ping not in shown, ping


async def until(condition: Callable[[], bool | Awaitable[bool]], attempts: int = 2000) -> None:
    """Poll `condition` (plain or async) every 10 ms until it holds; fail after `attempts` tries."""
    for _ in range(attempts):
        result = condition()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


def alive(pid: int) -> bool:
    """Whether the process `pid` still runs (or is not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux: /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == str(pid):
                found.add(int(entry.name))
    return found
