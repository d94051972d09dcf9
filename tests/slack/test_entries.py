"""New entries and answers written from Slack, through signed requests and the fake Slack, on SQLite and PostgreSQL:
"New entry" beside an unanswered question (or in the Home, or beside an answer in the hand-off channel) opens a modal
with the passages closest to the question; what the FAQ's loader refuses is shown on its field and nothing is stored;
forged submissions are refused; what is taken is answered at once with its citation, on every replica within 10 s;
an entry's answer edited; Undo."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, entries
from bot.app import create_app
from bot.config import FaqSettings
from bot.entry_views import ALTERNATES, ANSWER, CHOOSE, ID, NEW_CALLBACK, PASTED, QUESTION, TAGS, THEME, signed
from bot.fakemodals import Filled, dispatch, initial_values, latest_view, submit
from bot.fakeslack import FakeSlack
from bot.listeners.actions.entries import NOT_ADMIN
from bot.listeners.views.entries import NOT_OPENED
from bot.recorder import Recorder
from bot.reload import Reloader
from bot.serve import socket_handler
from bot.state import KnowledgeHolder
from bot.store import Store, StoreRefused
from knowledge import DEFAULT_SEEDS_DIR, KnowledgeBase

from .replicas import two_replicas, within_10_seconds
from .slackkit import FIXTURE_FAQ, LICENSING_Q, Slack, all_text, make_config, start_slack, until

ADMIN, OTHER_ADMIN, MALLORY = "UADMIN", "UADMIN2", "UMALLORY"
QUESTION_TEXT = "What is Hugging Face?"
CLOSE_PHRASING = "tell me about huggingface"
HUGGING_FACE = ("- Hugging Face: While not a model developer in the same vein as Meta or Mistral, Hugging Face is an "
                "indispensable hub for the open source AI community.")
ANSWER_TEXT = "A hub where people share open models, datasets and tools (_Future Tech Blog_)."
CITATION = "https://futuretechblog.space/open-source-large-language-model#:~:text="
LLAMA_ANSWER = "LLaMA is Meta's family of models"


@pytest.fixture
async def slack(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb, recorder, admin_user_ids=frozenset({ADMIN, OTHER_ADMIN}))
    yield slack
    await slack.runner.cleanup()


async def ask(slack: Slack, question: str) -> dict[str, Any]:
    """Mention the bot with `question`; its reply's arguments."""
    before = len(slack.fake.calls_to("chat.postMessage"))
    await slack.fake.mention(question)
    return await slack.reply(count=before + 1)


async def admin_home(slack: Slack, note: bool = False) -> dict[str, Any]:
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.open_home(user=ADMIN)
    return (await slack.reply("views.publish", before + 1))["view"]


def control(view: dict[str, Any], prefix: str) -> str:
    """The action id of the first element of `view` whose action id is `prefix`, or starts with it and a colon."""
    for block in view["blocks"]:
        for element in [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]:
            if element.get("action_id") == prefix or element.get("action_id", "").startswith(prefix + ":"):
                return str(element["action_id"])
    raise LookupError(prefix)


async def open_modal(slack: Slack, home: dict[str, Any], action_id: str, option: str | None = None,
                     updates: int = 1, user: str = ADMIN) -> dict[str, Any]:
    """Click `action_id` in the Home of `user` (the admin); the modal as it stands once opened (and updated `updates`
    times)."""
    opened, updated = len(slack.fake.calls_to("views.open")), len(slack.fake.calls_to("views.update"))
    await slack.fake.act_in_view(home, action_id, user=user, option=option)
    await slack.fake.wait_for("views.open", opened + 1)
    if updates:
        await slack.fake.wait_for("views.update", updated + updates)
    view = latest_view(slack.fake)
    assert view is not None
    return view


def passages_block(view: dict[str, Any]) -> dict[str, Any]:
    [block] = [b for b in view["blocks"] if b.get("block_id", "").startswith("entry_passages:")]
    return block


def filled(view: dict[str, Any], **values: Filled) -> dict[str, Filled]:
    """The modal's inputs as they open, with `values` (by input block id; "passages": the passages' checkbox)."""
    found = initial_values(view)
    if "passages" in values:
        found[passages_block(view)["block_id"]] = values.pop("passages")
    return {**found, **values}


def passage_keys(view: dict[str, Any], *numbers: int) -> list[str]:
    options = passages_block(view)["element"]["options"]
    return [options[n - 1]["value"] for n in numbers]


async def write_entry(slack: Slack, view: dict[str, Any], user: str = ADMIN, **values: Filled
                      ) -> tuple[int, dict[str, Any] | None]:
    """Submit the "New entry" modal `view`, with the answer, theme and first passage unless `values` say otherwise."""
    values = {QUESTION: QUESTION_TEXT, ANSWER: ANSWER_TEXT, THEME: "small", "passages": passage_keys(view, 1),
              **values}
    return await submit(slack.fake, view, filled(view, **values), user)


async def outcome(slack: Slack, updates: int) -> str:
    """What the modal says once the `updates`-th views.update is made."""
    return all_text((await slack.fake.wait_for("views.update", updates))[updates - 1].args["view"]["blocks"])


async def test_new_entry_beside_an_unanswered_question_is_answered_from_then_on_with_its_citation(
        slack: Slack, store: Store) -> None:
    assert "outside what my documents cover" in all_text((await ask(slack, QUESTION_TEXT))["blocks"])
    home = await admin_home(slack)
    opened_at = len(slack.fake.calls)
    modal = await open_modal(slack, home, control(home, blocks.ENTRY_NEW + ":0"))
    # Opened at once on the click's trigger, before the passages (found off the event loop) replace "finding".
    [first] = slack.fake.calls_to("views.open")
    assert first.args["trigger_id"].startswith("trigger-") and slack.fake.calls.index(first) >= opened_at
    assert "Finding the passages closest to the question" in all_text(first.args["view"]["blocks"])
    assert initial_values(modal)[QUESTION] == QUESTION_TEXT.lower()  # as the Home groups it: the admin may reword it
    shown = all_text(modal["blocks"])
    assert f"*1.* {HUGGING_FACE}" in shown and CITATION in shown  # verbatim, with its link
    assert len(passages_block(modal)["element"]["options"]) == 5
    assert len(json.dumps(modal)) < 250_000 and len(modal["blocks"]) <= 100

    status, answer = await write_entry(slack, modal)
    assert status == 200 and answer is not None and answer["response_action"] == "update"
    assert "Written: new entry *What is Hugging Face?* (`what-is-hugging-face`, in small.yaml)" in await outcome(
        slack, 2)
    [record] = store.written()
    assert (record.kind, record.entry_id, record.theme, record.written_by) == ("entry", "what-is-hugging-face",
                                                                               "small", ADMIN)
    for question in (QUESTION_TEXT, CLOSE_PHRASING):
        reply = await ask(slack, question)
        shown = all_text(reply["blocks"])
        assert ANSWER_TEXT in shown and CITATION in shown, question
    home = await admin_home(slack)
    shown = all_text(home["blocks"])
    assert "new entry *What is Hugging Face?*" in shown and control(home, entries.ENTRY_UNDO)
    assert f"*1×* {QUESTION_TEXT}" not in shown  # written for: no longer one to teach


@pytest.mark.parametrize("values, block, reason", [
    ({PASTED: "Hugging Face hosts every model there is, for free", "passages": []}, PASTED,
     "quote not found verbatim in 001_ef82fbb3a280ee8f.txt: it follows the document up to 'Hugging Face"),
    ({ID: "llama"}, ID, "duplicate id 'llama' (first at "),
    ({ANSWER: "x" * 40_000}, ANSWER, "'answer' is 40,000 characters long: at most 2,500"),
    ({ANSWER: "<!channel> read the hub's docs"}, ANSWER, "holds a Slack mention '<!channel>'"),
    ({"passages": []}, "passages", "'sources' must be a non-empty list of {doc, quote}"),
    ({QUESTION: "who made llama"}, QUESTION, "question 'who made llama' is also an alternate of entry 'llama'"),
])
async def test_what_the_faq_would_refuse_is_shown_on_its_field_and_nothing_is_stored(
        slack: Slack, store: Store, values: dict[str, Filled], block: str, reason: str) -> None:
    await ask(slack, QUESTION_TEXT)
    home = await admin_home(slack)
    modal = await open_modal(slack, home, control(home, blocks.ENTRY_NEW + ":0"))
    status, answer = await write_entry(slack, modal, **values)
    assert status == 200 and answer is not None and answer["response_action"] == "errors"
    where = passages_block(modal)["block_id"] if block == "passages" else block
    assert list(answer["errors"]) == [where] and reason in answer["errors"][where], answer
    assert store.written(include_undone=True) == []
    assert len(slack.fake.calls_to("views.update")) == 1  # only the passages' update: nothing stored to tell of


async def test_forged_submissions_are_refused_and_store_nothing(slack: Slack, store: Store,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.listeners")
    await ask(slack, QUESTION_TEXT)
    home = await admin_home(slack)
    modal = await open_modal(slack, home, control(home, blocks.ENTRY_NEW + ":0"))
    values = filled(modal, **{ANSWER: ANSWER_TEXT, THEME: "small", "passages": passage_keys(modal, 1)})
    # Someone not an admin submits the admin's form; another admin submits a form opened for the first.
    assert (await submit(slack.fake, modal, values, MALLORY))[1] == {
        "response_action": "errors", "errors": {QUESTION: NOT_ADMIN}}
    assert (await submit(slack.fake, modal, values, OTHER_ADMIN))[1] == {
        "response_action": "errors", "errors": {QUESTION: NOT_OPENED}}
    # A view the bot never opened: metadata made up, signed with another key, or of the other kind of form.
    for metadata in ("", json.dumps({"kind": NEW_CALLBACK, "admin": ADMIN, "at": int(time.time()), "mac": "0" * 32}),
                     signed(b"not the bot's key", NEW_CALLBACK, ADMIN), signed(b"x", "entry_answer", ADMIN, "llama")):
        assert (await submit(slack.fake, modal, values, ADMIN, private_metadata=metadata))[1] == {
            "response_action": "errors", "errors": {QUESTION: NOT_OPENED}}, metadata
    # The admin's own form, with a theme and a passage it never offered.
    forged = {**modal, "blocks": [{**b, "element": {**b["element"], "options": [*b["element"]["options"],
                                                                                 {"text": {"type": "plain_text",
                                                                                           "text": "x"},
                                                                                  "value": "../../etc"}]}}
                                  if b.get("block_id") in (THEME, passages_block(modal)["block_id"]) else b
                                  for b in modal["blocks"]]}
    answer = (await submit(slack.fake, forged, {**values, THEME: "../../etc"}, ADMIN))[1]
    assert answer is not None and answer["errors"] == {THEME: "That is not one of the FAQ's files: choose one from "
                                                              "the list."}
    answer = (await submit(slack.fake, forged, {**values, passages_block(modal)["block_id"]: ["../../etc"]}, ADMIN))[1]
    assert answer is not None and "no longer in the documents" in answer["errors"][passages_block(modal)["block_id"]]
    assert store.written(include_undone=True) == []
    # Longer than the form lets anyone type: alternates and topic words by the thousand.
    answer = (await submit(slack.fake, modal, {**values, ALTERNATES: "what is it\n" * 1000, TAGS: "hub, " * 100},
                           ADMIN))[1]
    assert answer is not None and answer["errors"] == {ALTERNATES: "At most 3,000 characters.",
                                                       TAGS: "At most 300 characters."}
    assert store.written(include_undone=True) == []
    assert caplog.text.count("refused") == 6 and MALLORY in caplog.text
    # A click on "New entry" by someone not an admin opens nothing.
    opened = len(slack.fake.calls_to("views.open"))
    await slack.fake.act_in_view(home, control(home, blocks.ENTRY_NEW + ":0"), user=MALLORY)
    await until(lambda: "entry_new:0 from UMALLORY refused" in caplog.text)
    assert len(slack.fake.calls_to("views.open")) == opened


async def test_a_button_beside_an_answer_in_a_channel_opens_the_modal_filled_in_for_admins_only(
        slack: Slack, store: Store) -> None:
    # What the hand-off puts beside an answer someone gave in its channel: a button whose value is the draft.
    value = json.dumps({"question": QUESTION_TEXT, "answer": "The hub of open AI models."})
    poster = AsyncWebClient(token="xoxb-test", base_url=slack.fake.api_url)
    await poster.chat_postMessage(channel="CTEAM", text="Someone answered", blocks=[
        blocks.actions([blocks.button("New entry from this answer", blocks.ENTRY_NEW, value)], "handoff")])
    [message] = slack.fake.visible_messages("CTEAM")
    await slack.fake.click(message, blocks.ENTRY_NEW, user=MALLORY)
    await until(lambda: bool(slack.fake.calls_to("response_url")))
    assert slack.ephemeral().text == NOT_ADMIN and not slack.fake.calls_to("views.open")
    await slack.fake.click(message, blocks.ENTRY_NEW, user=ADMIN)
    await slack.fake.wait_for("views.update")
    modal = latest_view(slack.fake)
    assert modal is not None
    assert (initial_values(modal)[QUESTION], initial_values(modal)[ANSWER]) == (QUESTION_TEXT,
                                                                                "The hub of open AI models.")
    assert initial_values(modal)[THEME] is None  # the bot takes the question for no entry: no theme guessed
    _, answer = await write_entry(slack, modal, **{ANSWER: "The hub of open AI models."})
    assert answer is not None and answer["response_action"] == "update"
    await until(lambda: len(store.written()) == 1)


async def test_new_entry_in_the_home_lists_the_passages_once_the_question_is_typed(slack: Slack,
                                                                                   store: Store) -> None:
    home = await admin_home(slack)
    modal = await open_modal(slack, home, entries.NEW_IN_HOME, updates=0)
    assert "Type the question, then press Enter" in all_text(modal["blocks"])
    values = filled(modal, **{QUESTION: "what does hugging face do for open models"})
    await dispatch(slack.fake, modal, values, QUESTION, ADMIN)  # Enter pressed in the question
    await slack.fake.wait_for("views.update")
    modal = latest_view(slack.fake)
    assert modal is not None and f"*1.* {HUGGING_FACE}" in all_text(modal["blocks"])
    _, answer = await write_entry(slack, modal, **{QUESTION: "what does hugging face do for open models",
                                                   "passages": passage_keys(modal, 1, 2)})
    assert answer is not None and answer["response_action"] == "update"
    await until(lambda: len(store.written()) == 1)
    [record] = store.written()
    assert record.entry_id == "what-does-hugging-face-do-for-open-models" and len(record.item.sources) == 2


async def test_an_entry_s_answer_edited_in_the_home_is_the_answer_until_undone(slack: Slack, store: Store) -> None:
    assert LLAMA_ANSWER in all_text((await ask(slack, "tell me about llama 3"))["blocks"])
    home = await admin_home(slack)
    modal = await open_modal(slack, home, entries.ENTRY_EDIT, updates=0)
    assert (await submit(slack.fake, modal, {}, ADMIN))[1] == {
        "response_action": "errors", "errors": {CHOOSE: "Choose the entry whose answer to edit."}}
    await dispatch(slack.fake, modal, {CHOOSE: "llama"}, CHOOSE, ADMIN)  # the entry chosen: its answer shown
    await slack.fake.wait_for("views.update")
    modal = latest_view(slack.fake)
    assert modal is not None
    [answer_block] = [b for b, v in initial_values(modal).items() if b.startswith(ANSWER)]
    assert str(initial_values(modal)[answer_block]).startswith(LLAMA_ANSWER)
    refused = (await submit(slack.fake, modal, {CHOOSE: "llama", answer_block: "ask <!here> instead"}, ADMIN))[1]
    assert refused is not None and "holds a Slack mention '<!here>'" in refused["errors"][answer_block]
    assert store.written(include_undone=True) == []
    taken = (await submit(slack.fake, modal, {CHOOSE: "llama", answer_block: "Meta's *Llama* models, in our words."},
                          ADMIN))[1]
    assert taken is not None and taken["response_action"] == "update"
    assert "Written: new answer of *What are Meta's LLaMA models?*" in await outcome(slack, 2)
    await until(lambda: any("Written: new answer" in all_text(c.args["view"]["blocks"])  # the Home drawn again too
                            for c in slack.fake.calls_to("views.publish")))
    reply = all_text((await ask(slack, "tell me about llama 3"))["blocks"])
    assert "Meta's *Llama* models, in our words." in reply and LLAMA_ANSWER not in reply
    home = await admin_home(slack)
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.act_in_view(home, control(home, entries.ENTRY_UNDO), user=ADMIN)
    shown = all_text((await slack.reply("views.publish", before + 1))["view"]["blocks"])
    assert "Undone: new answer of *What are Meta's LLaMA models?*" in shown
    assert LLAMA_ANSWER in all_text((await ask(slack, "tell me about llama 3"))["blocks"])
    assert store.written() == [] and store.written(include_undone=True)[0].undone_by == ADMIN


async def test_what_one_replica_writes_another_answers_within_10_seconds_and_undo_likewise(
        kb: KnowledgeBase, store_url: str) -> None:
    async with two_replicas(kb, store_url, ADMIN) as (here, there):
        before = all_text((await ask(there, QUESTION_TEXT))["blocks"])
        await ask(here, QUESTION_TEXT)
        home = await admin_home(here)
        modal = await open_modal(here, home, control(home, blocks.ENTRY_NEW + ":0"))
        await write_entry(here, modal)
        await within_10_seconds(lambda: bool(there.holder.current.written))
        assert ANSWER_TEXT in all_text((await ask(there, QUESTION_TEXT))["blocks"])
        home = await admin_home(there)
        await there.fake.act_in_view(home, control(home, entries.ENTRY_UNDO), user=ADMIN)
        await within_10_seconds(lambda: not here.holder.current.written)
        assert all_text((await ask(here, QUESTION_TEXT))["blocks"]) == before


async def test_a_reloaded_faq_keeps_what_was_written(slack: Slack, store: Store, tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FIXTURE_FAQ, faq)
    reloader = Reloader(slack.holder, FaqSettings(faq, Path(DEFAULT_SEEDS_DIR)).load, [faq])
    await ask(slack, QUESTION_TEXT)
    home = await admin_home(slack)
    await write_entry(slack, await open_modal(slack, home, control(home, blocks.ENTRY_NEW + ":0")))
    await until(lambda: bool(slack.holder.current.written))
    path = faq / "small.yaml"
    path.write_text(path.read_text().replace("*read the licence*", "*ask your lawyers first*"))
    assert await reloader.check()
    assert "ask your lawyers first" in all_text((await ask(slack, LICENSING_Q))["blocks"])
    assert ANSWER_TEXT in all_text((await ask(slack, QUESTION_TEXT))["blocks"])


async def test_over_socket_mode_a_refusal_and_the_entry_taken_come_back_in_the_envelopes_ack(
        fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder, store: Store) -> None:
    config = make_config(fake, signing_secret=None, admin_user_ids=frozenset({ADMIN}))
    handler = socket_handler(create_app(config, KnowledgeHolder(kb), recorder=recorder), config)
    await handler.connect_async()
    try:
        await fake.mention(QUESTION_TEXT)
        await fake.wait_for("chat.postMessage")
        await fake.open_home(user=ADMIN)
        home = (await fake.wait_for("views.publish"))[0].args["view"]
        await fake.act_in_view(home, control(home, blocks.ENTRY_NEW + ":0"), user=ADMIN)
        await fake.wait_for("views.update")
        modal = latest_view(fake)
        assert modal is not None
        values = filled(modal, **{QUESTION: QUESTION_TEXT, ANSWER: ANSWER_TEXT, THEME: "small",
                                  "passages": passage_keys(modal, 1)})
        refused = await submit(fake, modal, {**values, ID: "llama"}, ADMIN)
        assert refused[1] is not None and "duplicate id 'llama'" in refused[1]["errors"][ID]
        taken = await submit(fake, modal, values, ADMIN)
        assert taken[1] is not None and taken[1]["response_action"] == "update"
        await until(lambda: len(store.written()) == 1)
    finally:
        await handler.close_async()


async def test_an_undo_the_store_refuses_says_it_refused_naming_no_database(
        slack: Slack, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await ask(slack, QUESTION_TEXT)
    home = await admin_home(slack)
    modal = await open_modal(slack, home, control(home, blocks.ENTRY_NEW + ":0"))
    await write_entry(slack, modal)
    await until(lambda: any("Written: new entry" in all_text(c.args["view"]["blocks"])  # the Home drawn again too
                            for c in slack.fake.calls_to("views.publish")))

    def refused(*args: Any, **kwargs: Any) -> None:
        raise StoreRefused("postgresql://db.internal/openllm: written by a newer version (schema 9)")

    monkeypatch.setattr(store, "undo_written", refused)
    home = await admin_home(slack)
    before = len(slack.fake.calls_to("views.publish"))
    await slack.fake.act_in_view(home, control(home, entries.ENTRY_UNDO), user=ADMIN)
    await until(lambda: len(slack.fake.calls_to("views.publish")) > before)
    shown = all_text(slack.fake.calls_to("views.publish")[-1].args["view"]["blocks"])
    assert "Not done: the question store refused it (undoing)" in shown and "db.internal" not in shown
    assert store.written() != []
