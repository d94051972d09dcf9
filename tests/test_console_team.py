"""The console with a store: "Ask the team" posts in #llm-team and /team answers there (the answer comes back to the
asker's thread and to the admin Home), 👎 opens the form that says why, and /digest shows the week's digest."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.console import Console
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase

FIXTURE_FAQ = Path(__file__).resolve().parent / "fixtures" / "faq"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ)


class Typing:
    """A console to type into, one line at a time; `said` is what it printed for the last line."""

    def __init__(self, console: Console, out: io.StringIO) -> None:
        self.console, self.out, self.said = console, out, ""

    async def type(self, line: str) -> str:
        start = len(self.out.getvalue())
        await self.console.handle(line)
        self.said = self.out.getvalue()[start:]
        return self.said

    def button(self, label: str) -> str:
        return re.findall(rf"\[(\d+)\] {re.escape(label)}", self.said)[-1]


@pytest.fixture
async def typing(kb: KnowledgeBase, tmp_path: Path) -> AsyncIterator[Typing]:
    out = io.StringIO()
    console = Console(kb, out, Recorder(Store(f"sqlite:///{tmp_path / 'console.sqlite3'}"), b"console-key-0123456"))
    await console.start()
    yield Typing(console, out)
    await console.close()


async def test_ask_the_team_and_an_answer_from_the_team_in_the_console(typing: Typing) -> None:
    declined = await typing.type("what's the weather in berlin")
    assert "🙋 Ask the team" in declined
    asked = await typing.type(f"/click {typing.button('🙋 Ask the team')}")
    assert "[openllm, in #llm-team]\n*A question for the team* (I declined it):\n>what's the weather in berlin" in asked
    assert "Asked the team in #CTEAM; answers come here." in asked and "Asked in #CCONSOLE" in asked
    answered = await typing.type("/team Rain all day, 12 °C.")
    assert "[openllm, in the thread]\n*The team answered* your question “what's the weather in berlin”:" in answered
    assert "Rain all day, 12 °C." in answered
    home = await typing.type("/home")
    assert "Answers from the team" in home and "*A:* Rain all day, 12 °C." in home


async def test_a_thumbs_down_opens_the_form_and_its_reason_shows_in_the_home_and_the_digest(typing: Typing) -> None:
    await typing.type("licence terms for open models")
    form = await typing.type(f"/click {typing.button('👎 Not helpful')}")
    assert "[Form: Not helpful]" in form and "What was wrong with it? (optional)" in form
    assert "You found this answer *not helpful*" in form
    await typing.type("/set reason outdated")
    await typing.type("/set detail The 2024 licence changed")
    await typing.type("/submit")
    home = await typing.type("/home")
    assert "`licensing`: 1 👎, 0 👍 · outdated 1 · “The 2024 licence changed”" in home
    digest = await typing.type("/digest")
    assert "[the weekly digest, as the bot posts it in DIGEST_CHANNEL]\nFAQ digest:" in digest
    assert "licensing`: 1 👎, 0 👍 · outdated 1" in digest


async def test_with_nothing_to_show_the_console_says_so(typing: Typing) -> None:
    assert "Nothing was handed to the team yet" in await typing.type("/team anyone?")
    assert "No questions in the last 7 days: no digest" in await typing.type("/digest")
