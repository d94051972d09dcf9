"""Entries and answers written from Slack are their workspace's, as taught phrasings are, end to end over signed HTTP
with the fake Slack, the app installed with OAuth in two workspaces, on SQLite and PostgreSQL: stored with the
workspace they were written in, answered there alone, shown in its admins' Home alone, undone there alone (an Undo
forged from another workspace's Home undoes nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from bot import blocks, entries
from bot.adapter.aiohttp import EVENTS_PATH, start_http
from bot.app import create_app
from bot.entry_views import ANSWER, CHOOSE, QUESTION, THEME
from bot.fakemodals import dispatch, initial_values, latest_view, submit
from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.state import KnowledgeHolder
from knowledge import KnowledgeBase

from .slackkit import SECRET, all_text, make_config
from .test_entries import (
    ANSWER_TEXT,
    CITATION,
    LLAMA_ANSWER,
    QUESTION_TEXT,
    control,
    filled,
    open_modal,
    passage_keys,
)
from .test_oauth import (
    ADMIN_A,
    ADMIN_B,
    CLIENT_ID,
    CLIENT_SECRET,
    Browser,
    OAuthSlack,
    ask_in,
    browser,
    click_in,
    home_in,
)
from .undo_buttons import undo_beside

DECLINED = "outside what my documents cover"
B_ANSWER = "Meta's Llama family, as workspace B says it."


@pytest.fixture
async def oauth(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[OAuthSlack]:
    """The app installed with OAuth (tests/slack/test_oauth.py's), its admins ADMIN_A and ADMIN_B."""
    config = replace(make_config(fake, admin_user_ids=frozenset({ADMIN_A, ADMIN_B})), bot_token="", app_token=None,
                     client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    holder = KnowledgeHolder(kb)
    runner, url = await start_http(create_app(config, holder, recorder=recorder), holder, SECRET, "127.0.0.1", 0)
    fake.send_over_http(url + EVENTS_PATH, SECRET)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield OAuthSlack(fake, url, holder, runner, Browser(http, url), recorder)
    await runner.cleanup()


async def open_in(slack: OAuthSlack, team: str, home: dict[str, Any], action_id: str, admin: str,
                  updates: int = 1) -> dict[str, Any]:
    """`admin` clicks `action_id` in their Home in the workspace `team`: the modal once opened (and updated)."""
    slack.fake.team = team
    return await open_modal(slack, home, action_id, updates=updates, user=admin)


async def submitted(slack: OAuthSlack, team: str, view: dict[str, Any], values: dict[str, Any], admin: str) -> str:
    """`admin` submits `view` in the workspace `team`, which takes it: what their Home says once drawn again."""
    slack.fake.team = team
    published = len(slack.fake.calls_to("views.publish"))
    _, answer = await submit(slack.fake, view, values, admin)
    assert answer is not None and answer["response_action"] == "update", answer
    return all_text((await slack.reply("views.publish", published + 1))["view"]["blocks"])


async def test_what_a_workspace_writes_answers_its_own_questions_and_only_its_admins_see_or_undo_it(
        oauth: OAuthSlack) -> None:
    await browser(oauth).install(oauth.fake, "T0AAA")
    await browser(oauth).install(oauth.fake, "T0BBB")
    assert DECLINED in await ask_in(oauth, "T0AAA", QUESTION_TEXT, "UALICE")

    # Workspace A's admin writes a new entry for the question asked there.
    home_a = await home_in(oauth, "T0AAA", ADMIN_A)
    modal = await open_in(oauth, "T0AAA", home_a, control(home_a, blocks.ENTRY_NEW + ":0"), ADMIN_A)
    values = filled(modal, **{QUESTION: QUESTION_TEXT, ANSWER: ANSWER_TEXT, THEME: "small",
                              "passages": passage_keys(modal, 1)})
    assert "Written: new entry *What is Hugging Face?*" in await submitted(oauth, "T0AAA", modal, values, ADMIN_A)
    [record] = oauth.store.written()
    assert (record.entry_id, record.team_id, record.enterprise_id) == ("what-is-hugging-face", "T0AAA", None)

    # Workspace B's admin gives the llama entry an answer of B's own.
    home_b = await home_in(oauth, "T0BBB", ADMIN_B)
    modal = await open_in(oauth, "T0BBB", home_b, entries.ENTRY_EDIT, ADMIN_B, updates=0)
    updated = len(oauth.fake.calls_to("views.update"))
    await dispatch(oauth.fake, modal, {CHOOSE: "llama"}, CHOOSE, ADMIN_B)  # the entry chosen: its answer shown
    await oauth.fake.wait_for("views.update", updated + 1)
    chosen = latest_view(oauth.fake)
    assert chosen is not None
    [answer_block] = [b for b in initial_values(chosen) if b.startswith(ANSWER)]
    assert "Written: new answer of *What are Meta's LLaMA models?*" in await submitted(
        oauth, "T0BBB", chosen, {CHOOSE: "llama", answer_block: B_ANSWER}, ADMIN_B)
    assert [(r.kind, r.team_id) for r in oauth.store.written()] == [("entry", "T0AAA"), ("answer", "T0BBB")]

    # Each is answered in its own workspace alone; the other answers as before.
    answered = await ask_in(oauth, "T0AAA", QUESTION_TEXT, "UALICE")
    assert ANSWER_TEXT in answered and CITATION in answered
    assert DECLINED in await ask_in(oauth, "T0BBB", QUESTION_TEXT, "UBOB")
    assert B_ANSWER in await ask_in(oauth, "T0BBB", "tell me about llama 3", "UBOB")
    answered = await ask_in(oauth, "T0AAA", "tell me about llama 3", "UALICE")
    assert LLAMA_ANSWER in answered and B_ANSWER not in answered
    assert set(oauth.holder.by_workspace) == {"T0AAA", "T0BBB"} and not oauth.holder.base.written

    # Each admin's Home shows their workspace's alone, and the Edit answer form the answer it gives there.
    home_a = await home_in(oauth, "T0AAA", ADMIN_A)
    home_b = await home_in(oauth, "T0BBB", ADMIN_B)
    assert "new entry *What is Hugging Face?*" in all_text(home_a["blocks"])
    assert "new entry *What is Hugging Face?*" not in all_text(home_b["blocks"])
    assert B_ANSWER not in all_text(home_a["blocks"]) and "new answer of" in all_text(home_b["blocks"])
    with pytest.raises(ValueError):
        undo_beside(home_b, "What is Hugging Face?", entries.ENTRY_UNDO)

    # B's admin, with A's Undo forged into a click in B, undoes nothing; A still answers with it.
    undo_a = undo_beside(home_a, "What is Hugging Face?", entries.ENTRY_UNDO)
    forged = all_text((await click_in(oauth, "T0BBB", home_a, undo_a, ADMIN_B))["blocks"])
    assert "Nothing to undo" in forged
    assert [r.undone for r in oauth.store.written(include_undone=True)] == [False, False]
    assert ANSWER_TEXT in await ask_in(oauth, "T0AAA", QUESTION_TEXT, "UALICE")

    # A's admin undoes it in A: A declines again, and answers from the FAQ every workspace shares.
    undone = all_text((await click_in(oauth, "T0AAA", home_a, undo_a, ADMIN_A))["blocks"])
    assert "Undone: new entry *What is Hugging Face?*" in undone
    assert DECLINED in await ask_in(oauth, "T0AAA", QUESTION_TEXT, "UALICE")
    assert set(oauth.holder.by_workspace) == {"T0BBB"}
    assert [r.team_id for r in oauth.store.written()] == ["T0BBB"]
