"""Teaching the bot from the admin App Home, through signed requests and the fake Slack, on SQLite and PostgreSQL:
what an unanswered question means (an entry, chosen by a guess or from every entry) or that it is not covered; undo;
clicks from anyone not an admin refused; phrasings the FAQ's rules refuse explained; every replica sharing the store
answering with it within 10 s, and a FAQ reload keeping it. Nobody who asked is messaged."""

from __future__ import annotations

import json
import logging
import random
import shutil
import string
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot import blocks
from bot.config import FaqSettings
from bot.fakeslack import FakeSlack
from bot.recorder import Recorder
from bot.reload import Reloader
from bot.store import QuestionRecord, Store, StoreRefused, TaughtAlready, TaughtRecord, utcnow
from knowledge import DEFAULT_SEEDS_DIR, Knowledge, KnowledgeBase

from .replicas import two_replicas, within_10_seconds
from .slackkit import FIXTURE_FAQ, LICENSING_Q, Slack, all_text, start_slack, until
from .undo_buttons import undo_beside

ADMIN = "UADMIN"
# Asked of the fixture FAQ, none of them answered: the bot suggests llama / declines / suggests licensing / declines.
UNSURE_Q = "who owns the llama weights"
UNKNOWN_Q = "can my startup ship llama inside an app"
RESALE_Q = "can i resell a model"
PARAMETERS_Q = "how many parameters does a transformer have"  # declined: near no entry of the fixture FAQ
LLAMA = "What are Meta's LLaMA models?"
LICENSING = "Can we use open LLMs commercially?"
DID_YOU_MEAN = "did you mean"
DECLINED = "outside what my documents cover"
MESSAGES = ("chat.postMessage", "chat.postEphemeral", "chat.update", "response_url")


SLACK_VIEW_BYTES = 250_000  # views.publish refuses a bigger view: view_too_large


@pytest.fixture
async def slack(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb, recorder, admin_user_ids=frozenset({ADMIN}))
    yield slack
    await slack.runner.cleanup()


async def ask(slack: Slack, question: str) -> str:
    """Mention the bot with `question` (as UALICE); everything its reply shows."""
    before = len(slack.fake.calls_to("chat.postMessage"))
    await slack.fake.mention(question)
    return all_text((await slack.reply(count=before + 1))["blocks"])


async def admin_home(slack: Slack) -> dict[str, Any]:
    """The App Home the admin gets on opening it."""
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.open_home(user=ADMIN)
    return await published(slack, before + 1)


async def published(slack: Slack, count: int) -> dict[str, Any]:
    """The `count`-th App Home published (to anyone)."""
    return (await slack.reply("views.publish", count))["view"]


def control(view: dict[str, Any], question: str, kind: str, entry: str | None = None) -> str:
    """The action id of the teaching control `kind` beside `question`: for "It means", the one naming `entry`."""
    [block] = [b for b in view["blocks"] if b.get("block_id") == blocks.TEACH_BLOCK + question]
    found = [e["action_id"] for e in block["elements"]
             if e["action_id"].startswith(kind + ":") and (entry is None or e.get("value") == entry)]
    assert len(found) == 1, (kind, entry, block)
    return found[0]


async def click(slack: Slack, view: dict[str, Any], action_id: str, option: str | None = None,
                user: str = ADMIN) -> dict[str, Any]:
    """Click (or choose `option` of) `action_id` in `view` as `user`; the admin's App Home drawn again after it."""
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.act_in_view(view, action_id, user=user, option=option)
    return await published(slack, before + 1)


def messages(fake: FakeSlack) -> int:
    """How many messages the app has sent or changed, anywhere."""
    return sum(len(fake.calls_to(method)) for method in MESSAGES)


async def test_it_means_teaches_the_question_its_asker_hears_nothing_and_the_next_asking_gets_the_entry(
        slack: Slack, store: Store) -> None:
    assert DID_YOU_MEAN in await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    assert f"*1×* {UNSURE_Q}" in all_text(view["blocks"])
    sent = messages(slack.fake)
    home = await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    shown = all_text(home["blocks"])
    assert f"Taught: “{UNSURE_Q}” → *{LLAMA}*" in shown
    assert messages(slack.fake) == sent  # no surprise message to whoever asked
    [taught] = store.taught()
    assert (taught.text, taught.entry_id, taught.near_entry, taught.taught_by) == (UNSURE_Q, "llama", None, ADMIN)
    # It is no longer one to teach; it is under Recently taught, with Undo.
    assert not [b for b in home["blocks"] if b.get("block_id") == blocks.TEACH_BLOCK + UNSURE_Q]
    assert undo_beside(home, UNSURE_Q, blocks.TEACH_UNDO) == f"{blocks.TEACH_UNDO}:{taught.id}"
    assert "LLaMA is Meta's family of models" in await ask(slack, UNSURE_Q)
    # The Home says how many were taught and how the answer rate moved since.
    shown = all_text((await admin_home(slack))["blocks"])
    assert "*1* phrasing taught from Slack; answered *0%* before the first, *100%* since." in shown


async def test_another_entry_teaches_the_entry_chosen_from_all_of_them(slack: Slack, store: Store) -> None:
    assert DECLINED in await ask(slack, UNKNOWN_Q)
    view = await admin_home(slack)
    choice = control(view, UNKNOWN_Q, blocks.TEACH_OTHER)
    [select] = [e for b in view["blocks"] for e in b.get("elements", []) if e.get("action_id") == choice]
    assert [o["value"] for o in select["options"]] == ["licensing", "llama", "attention"]
    home = await click(slack, view, choice, option="licensing")
    assert f"Taught: “{UNKNOWN_Q}” → *{LICENSING}*" in all_text(home["blocks"])
    assert [(t.text, t.entry_id) for t in store.taught()] == [(UNKNOWN_Q, "licensing")]
    assert "read the licence" in await ask(slack, UNKNOWN_Q)


async def test_not_covered_stops_the_guesses_offering_the_entry_it_was_taken_for_if_any(
        slack: Slack, store: Store) -> None:
    assert DID_YOU_MEAN in await ask(slack, RESALE_Q)
    assert DECLINED in await ask(slack, PARAMETERS_Q)
    view = await admin_home(slack)
    home = await click(slack, view, control(view, RESALE_Q, blocks.TEACH_NONE))
    assert (f"Taught: “{RESALE_Q}” → not covered by the documents (I say so, and offer *{LICENSING}*)"
            in all_text(home["blocks"]))
    home = await click(slack, home, control(home, PARAMETERS_Q, blocks.TEACH_NONE))
    assert f"Taught: “{PARAMETERS_Q}” → not covered by the documents (I decline it)" in all_text(home["blocks"])
    assert [(t.text, t.entry_id, t.near_entry) for t in store.taught()] == [
        (RESALE_Q, None, "licensing"), (PARAMETERS_Q, None, None)]
    # No longer "did you mean": the documents do not go into it, and the entry about its topic is offered.
    reply = await ask(slack, RESALE_Q)
    assert "My documents don't go into that. They do cover:" in reply and LICENSING in reply
    assert DECLINED in await ask(slack, PARAMETERS_Q)


async def test_undo_takes_a_taught_phrasing_back(slack: Slack, store: Store) -> None:
    before = await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    home = await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    assert "LLaMA is Meta's family of models" in await ask(slack, UNSURE_Q)
    home = await click(slack, home, undo_beside(home, UNSURE_Q, blocks.TEACH_UNDO))
    shown = all_text(home["blocks"])
    assert f"Undone: “{UNSURE_Q}” → *{LLAMA}*" in shown and "*Recently taught*: nothing yet." in shown
    assert control(home, UNSURE_Q, blocks.TEACH_MEANS, "llama")  # to teach again
    assert await ask(slack, UNSURE_Q) == before
    [undone] = store.taught(include_undone=True)
    assert undone.undone and undone.undone_by == ADMIN and store.taught() == []


async def test_a_click_from_anyone_not_an_admin_is_refused_and_stores_nothing(
        slack: Slack, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.teaching")
    before = await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    # A correctly signed click, with ids copied from the admin's Home, by someone who is not an admin.
    await slack.fake.act_in_view(view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"), user="UMALLORY")
    await until(lambda: "refused: not in ADMIN_USER_IDS" in caplog.text)
    assert "UMALLORY" in caplog.text
    await slack.fake.act_in_view(view, control(view, UNSURE_Q, blocks.TEACH_OTHER), user="UMALLORY", option="attention")
    await until(lambda: caplog.text.count("refused") == 2)
    assert store.taught(include_undone=True) == []
    assert [c.args["user_id"] for c in slack.fake.calls_to("views.publish")] == [ADMIN]
    assert await ask(slack, UNSURE_Q) == before


async def test_a_phrasing_another_entry_has_is_refused_with_the_reason_shown(slack: Slack, store: Store) -> None:
    # Recorded as declined before the FAQ had it as a phrasing of licensing.
    store.add_questions([QuestionRecord(utcnow(), "dm", "none", text=LICENSING_Q)])
    await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    home = await click(slack, view, control(view, LICENSING_Q, blocks.TEACH_OTHER), option="llama")
    assert f"Not taught: “{LICENSING_Q}” is already a phrasing of entry 'licensing'" in all_text(home["blocks"])
    # Two admins with the same Home: the second says otherwise about a question the first just taught.
    await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    home = await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_OTHER), option="attention")
    assert f"Not taught: “{UNSURE_Q}” is already taught as a phrasing of entry 'llama'" in all_text(home["blocks"])
    assert [(t.text, t.entry_id) for t in store.taught()] == [(UNSURE_Q, "llama")]


async def test_what_the_store_refuses_is_said_as_such_not_as_a_store_that_could_not_be_reached(
        slack: Slack, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    # Another replica stored the same words a moment ago, between this one's check and its write.
    standing = TaughtRecord(7, UNSURE_Q, "attention", None, "UOTHER", utcnow())

    def taught_meanwhile(*args: Any, **kwargs: Any) -> None:
        raise TaughtAlready(standing)

    monkeypatch.setattr(store, "add_taught", taught_meanwhile)
    home = await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    shown = all_text(home["blocks"])
    assert "Not taught: it was taught already, as a phrasing of entry 'attention' (#7)" in shown
    assert "could not be reached" not in shown and "UOTHER" not in shown

    def refused(*args: Any, **kwargs: Any) -> None:
        raise StoreRefused("postgresql://db.internal/openllm: written by a newer version (schema 9)")

    monkeypatch.setattr(store, "add_taught", refused)
    home = await click(slack, home, control(home, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    shown = all_text(home["blocks"])
    assert "Not done: the question store refused it (teaching)" in shown and "db.internal" not in shown


async def test_the_admin_home_stays_within_slacks_limits_however_many_questions_wait(
        slack: Slack, store: Store) -> None:
    rng = random.Random(5)
    words = ["".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(120)]
    questions = [f"<!channel> how do {words[3 * n]} and {words[3 * n + 1]} {words[3 * n + 2]}" for n in range(40)]
    long = "why " * 300  # asked twice: the first shown
    store.add_questions([QuestionRecord(utcnow(), "dm", "none", text=text) for text in [*questions, long, long]])
    view = await admin_home(slack)
    assert len(view["blocks"]) <= blocks.MAX_HOME_BLOCKS
    ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    actions = [e["action_id"] for b in view["blocks"] for e in b.get("elements", []) if "action_id" in e]
    assert len(set(ids)) == len(ids) and len(set(actions)) == len(actions)
    assert all(len(i) <= blocks.MAX_ID for i in ids + actions)
    shown = all_text(view["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt; how do" in shown
    teaching = [b for b in view["blocks"] if b.get("block_id", "").startswith(blocks.TEACH_BLOCK)]
    assert len(teaching) == blocks.ADMIN_TEACHABLE - 1  # the long one is shown without controls
    assert "…and 26 more: `openllm-bot report` lists them all." in shown
    assert "Too long to teach from here" in shown
    assert len(json.dumps(view).encode()) <= SLACK_VIEW_BYTES


async def test_the_admin_home_of_a_large_faq_stays_within_slacks_size_giving_menus_to_the_first_questions(
        slack: Slack, store: Store, kb: KnowledgeBase) -> None:
    # Each question's "Another entry…" menu lists the whole FAQ: 15 of them for 300 entries would be 640 kB.
    entries = [replace(kb.knowledge.entries[0], id=f"topic-{n}", file=f"faq/theme-{n % 6}.yaml",
                       question=f"What does the documentation say about topic number {n} and its details?")
               for n in range(300)]
    slack.holder.current = replace(kb, knowledge=Knowledge(tuple(entries), kb.knowledge.documents))
    store.add_questions([QuestionRecord(utcnow(), "dm", "none", text=f"question {n} about something else")
                         for n in range(blocks.ADMIN_TEACHABLE)])
    view = await admin_home(slack)
    assert len(json.dumps(view).encode()) <= SLACK_VIEW_BYTES
    menus = [e for b in view["blocks"] for e in b.get("elements", []) if e.get("type") == "static_select"]
    assert 0 < len(menus) < blocks.ADMIN_TEACHABLE
    assert f"“Another entry…” is on the first {len(menus)} question(s) only" in all_text(view["blocks"])


async def test_what_one_replica_is_taught_another_answers_within_10_seconds_and_undo_likewise(
        kb: KnowledgeBase, store_url: str) -> None:
    async with two_replicas(kb, store_url, ADMIN) as (here, there):
        before = await ask(there, UNSURE_Q)
        assert DID_YOU_MEAN in before
        await ask(here, UNSURE_Q)
        view = await admin_home(here)
        await click(here, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
        await within_10_seconds(lambda: bool(there.holder.current.taught))
        assert "LLaMA is Meta's family of models" in await ask(there, UNSURE_Q)
        home = await admin_home(there)
        await click(there, home, undo_beside(home, UNSURE_Q, blocks.TEACH_UNDO))
        await within_10_seconds(lambda: not here.holder.current.taught)
        assert await ask(here, UNSURE_Q) == before


async def taught_then_reloading(slack: Slack, tmp_path: Path) -> tuple[Reloader, Path]:
    """UNSURE_Q taught as llama, with the app reloading its FAQ from a copy of the fixture's; the reloader and the
    copy's file to edit."""
    faq = tmp_path / "faq"
    shutil.copytree(FIXTURE_FAQ, faq)
    reloader = Reloader(slack.holder, FaqSettings(faq, Path(DEFAULT_SEEDS_DIR)).load, [faq])
    await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    return reloader, faq / "small.yaml"


async def test_a_reloaded_faq_keeps_what_was_taught(slack: Slack, tmp_path: Path) -> None:
    reloader, path = await taught_then_reloading(slack, tmp_path)
    path.write_text(path.read_text().replace("*read the licence*", "*ask your lawyers first*"))
    assert await reloader.check()
    assert "ask your lawyers first" in await ask(slack, LICENSING_Q)
    assert "LLaMA is Meta's family of models" in await ask(slack, UNSURE_Q)


async def test_a_taught_phrasing_the_faq_now_holds_is_skipped_quietly_and_one_it_contradicts_is_logged(
        slack: Slack, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.reload")
    reloader, path = await taught_then_reloading(slack, tmp_path)
    original = path.read_text()
    # Exported and merged into the FAQ, as docs/keeping-the-faq.md says: the FAQ says it now.
    path.write_text(original.replace("      - who made llama\n", f"      - who made llama\n      - {UNSURE_Q}\n"))
    assert await reloader.check()
    assert "LLaMA is Meta's family of models" in await ask(slack, UNSURE_Q)
    assert "taught phrasing now in the FAQ itself" in caplog.text and "not applied" not in caplog.text
    # Someone gave it to another entry in the FAQ: the FAQ wins, and the taught phrasing is reported.
    path.write_text(original.replace("      - how does attention work in neural networks\n",
                                     f"      - how does attention work in neural networks\n      - {UNSURE_Q}\n"))
    assert await reloader.check()
    assert f"taught phrasing not applied: “{UNSURE_Q}” → entry 'llama': “{UNSURE_Q}” is already a phrasing of entry " \
           "'attention'" in caplog.text


async def test_people_s_questions_on_the_admin_home_are_shown_verbatim_not_linkified(slack: Slack) -> None:
    await ask(slack, UNSURE_Q)
    view = await admin_home(slack)
    shown = [b for b in view["blocks"] if b.get("type") == "section" and UNSURE_Q in b["text"]["text"]]
    assert shown and all(b["text"].get("verbatim") is True for b in shown)
    home = await click(slack, view, control(view, UNSURE_Q, blocks.TEACH_MEANS, "llama"))
    taught = [b for b in home["blocks"] if b.get("type") == "section" and UNSURE_Q in b["text"]["text"]]
    assert len(taught) == 2 and all(b["text"].get("verbatim") is True for b in taught)  # the note and the list
