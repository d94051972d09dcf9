"""Feedback that says why, through signed requests and the fake Slack, on SQLite and PostgreSQL: a 👎 opens a short
form first (with the click's trigger), its reason is kept beside the vote and shown in the report and the admin Home;
the voter sees their vote as it stands and can change it; a forged, foreign or oversized submission is refused with
the reason shown in the form, and nothing is kept. Clicks that post an answer count as answers in the report."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from bot import blocks, feedback
from bot.fakeslack import FakeSlack, Message
from bot.recorder import Recorder
from bot.report import report_from_store
from bot.report_formats import as_csv, as_html, as_text
from bot.store import Store, user_hash
from knowledge import KnowledgeBase

from .slackkit import COMMAND, LICENSING_Q, STORE_KEY, Slack, all_text, assert_sendable, start_slack, until

ADMIN = "UADMIN"
EPOCH = datetime(2000, 1, 1)
WHY = "The licence changed in 2024 & <!channel> should know"


@pytest.fixture
async def slack(fake: FakeSlack, kb: KnowledgeBase, recorder: Recorder) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb, recorder, admin_user_ids=frozenset({ADMIN}))
    yield slack
    await slack.runner.cleanup()


async def answered(slack: Slack) -> Message:
    """Alice's answered question in #general: the bot's reply, with its vote buttons."""
    await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    return slack.fake.visible_messages("CGENERAL")[0]


async def vote_down(slack: Slack, answer: Message, user: str = "UBOB") -> dict[str, Any]:
    """`user` clicks 👎 on `answer`; the form that opened."""
    before = len(slack.fake.calls_to("views.open"))
    await slack.fake.click(answer, "not_helpful:licensing", user=user)
    return (await slack.fake.wait_for("views.open", before + 1))[before].args["view"]


def reasons(store: Store) -> list[tuple[str | None, str | None]]:
    return [(r.reason, r.text) for r in store.vote_reasons_since(EPOCH)]


async def test_not_helpful_opens_the_form_first_and_its_reason_is_kept_with_the_vote(
        slack: Slack, store: Store, recorder: Recorder) -> None:
    answer = await answered(slack)
    before = len(slack.fake.calls)
    form = await vote_down(slack, answer)
    opened = slack.fake.calls_to("views.open")[0]
    # The form went out on the click's own trigger, before anything else was said.
    assert slack.fake.calls[before].method == "views.open" and opened.args["trigger_id"].startswith("trigger-")
    assert form["callback_id"] == feedback.CALLBACK_ID
    assert LICENSING_Q not in json.dumps(form) and "Can we use open LLMs commercially?" in json.dumps(form)
    note = await slack.reply("chat.postEphemeral")
    assert note["user"] == "UBOB" and "You found this answer not helpful" in note["text"]
    status, body = await slack.fake.submit_view(form, {"reason": "outdated", "detail": WHY}, user="UBOB")
    assert (status, body) == (200, "")  # the form closes
    await until(lambda: reasons(store) == [("outdated", WHY)])
    [reason] = store.vote_reasons_since(EPOCH)
    assert (reason.reply, reason.entry_id) == (f"CGENERAL:{answer.ts}", "licensing")
    assert reason.user_hash == user_hash(STORE_KEY, slack.fake.team, "UBOB")


async def test_the_reason_shows_in_the_report_and_the_admin_home_escaped(slack: Slack, store: Store) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    await slack.fake.submit_view(form, {"reason": "wrong", "detail": WHY}, user="UBOB")
    await until(lambda: bool(reasons(store)))
    week = report_from_store(store, EPOCH)
    assert "licensing: wrong answer 1" in as_text(week) and f'"{WHY}"' in as_text(week)
    assert f"wrong answer: {WHY}" in as_csv(week)
    assert "&lt;!channel&gt;" in as_html(week) and "<!channel>" not in as_html(week)
    await slack.fake.open_home(user=ADMIN)
    home = (await slack.reply("views.publish"))["view"]
    [least] = [b for b in home["blocks"] if b.get("block_id") == "admin-unhelpful"]
    shown = least["text"]["text"]
    assert "`licensing`: 1 👎, 0 👍 · wrong answer 1 · “The licence changed in 2024 &amp; &lt;!channel&gt;" in shown
    assert least["text"]["verbatim"] is True


async def test_either_question_of_the_form_may_be_left_empty(slack: Slack, store: Store) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    await slack.fake.submit_view(form, {"reason": None, "detail": "  just the words  "}, user="UBOB")
    await until(lambda: reasons(store) == [(None, "just the words")])
    form = await vote_down(slack, answer)  # voting again replaces what was said
    await slack.fake.submit_view(form, {"reason": "missing"}, user="UBOB")
    await until(lambda: reasons(store) == [("missing", None)])


async def test_the_voter_sees_their_vote_and_changing_it_updates_that_note_and_drops_the_reason(
        slack: Slack, store: Store, recorder: Recorder) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    await slack.fake.submit_view(form, {"reason": "outdated"}, user="UBOB")
    await until(lambda: bool(reasons(store)))
    note = slack.ephemeral()
    assert_sendable({"text": note.text, "blocks": note.blocks})
    change = f"{blocks.REVOTE}:{blocks.HELPFUL}"
    assert [e["text"]["text"] for _, e in note.buttons()] == ["👍 Helpful after all"]
    await slack.fake.click(note, change, user="UBOB")
    await until(lambda: "You found this answer helpful" in note.text)  # the same note, updated in place
    assert [e["text"]["text"] for _, e in note.buttons()] == ["👎 Not helpful after all"]
    assert len([m for m in slack.fake.visible_messages() if m.ephemeral]) == 1
    assert recorder.flush()
    [vote] = store.votes_since(EPOCH)
    assert (vote.helpful, vote.reply) == (True, f"CGENERAL:{answer.ts}")
    assert reasons(store) == []  # a 👍 takes back what the 👎 said
    assert len(slack.fake.calls_to("views.open")) == 1  # no form for a 👍
    # Back to 👎 from the note: the form opens again, and the vote is for the answer, not for the note.
    await slack.fake.click(note, f"{blocks.REVOTE}:{blocks.NOT_HELPFUL}", user="UBOB")
    await slack.fake.wait_for("views.open", 2)
    await until(lambda: "not helpful" in note.text)
    assert recorder.flush()
    [vote] = store.votes_since(EPOCH)
    assert (vote.helpful, vote.reply) == (False, f"CGENERAL:{answer.ts}")


async def test_a_slash_answer_is_voted_on_through_its_response_url(slack: Slack, store: Store,
                                                                   recorder: Recorder) -> None:
    await slack.fake.slash(COMMAND, LICENSING_Q)
    await slack.reply("response_url")
    await slack.fake.click(slack.ephemeral(), "not_helpful:licensing")
    form = (await slack.fake.wait_for("views.open"))[0].args["view"]
    note = await slack.reply("response_url", 2)
    assert note["response_type"] == "ephemeral" and "not helpful" in note["text"]
    await slack.fake.submit_view(form, {"reason": "wrong"})
    await until(lambda: reasons(store) == [("wrong", None)])


async def test_a_reason_for_a_vote_changed_meanwhile_is_not_kept(slack: Slack, store: Store, recorder: Recorder,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    await slack.fake.click(answer, "helpful:licensing", user="UBOB")
    await slack.reply("chat.postEphemeral", 2)
    with caplog.at_level(logging.INFO, "bot.listeners.actions.feedback"):
        await slack.fake.submit_view(form, {"reason": "wrong"}, user="UBOB")
        await until(lambda: "no longer a 👎" in caplog.text)
    assert reasons(store) == []


def refusal(body: str) -> dict[str, str]:
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    return answer["errors"]


async def test_forged_and_foreign_submissions_are_refused_in_the_form_and_keep_nothing(
        slack: Slack, store: Store, recorder: Recorder) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    metadata = form["private_metadata"]
    data, _, mac = metadata.rpartition(".")
    other_reply = data.replace(answer.ts, "1700000999.000100")
    forged = [
        {"private_metadata": f"{other_reply}.{mac}"},  # another reply, the MAC kept
        {"private_metadata": data},  # no MAC
        {"private_metadata": ""},
        {"private_metadata": "x" * 3000},
        {"private_metadata": feedback.seal(b"another key entirely", feedback.Voted(
            f"CGENERAL:{answer.ts}", "licensing", "UBOB", slack.fake.team))},
    ]
    for changes in forged:
        status, body = await slack.fake.submit_view({**form, **changes}, {"reason": "wrong"}, user="UBOB")
        assert status == 200 and "not one I opened for you" in refusal(body)["reason"]
    # The real form, submitted by someone else.
    status, body = await slack.fake.submit_view(form, {"reason": "wrong"}, user="UMALLORY")
    assert "not one I opened for you" in refusal(body)["reason"]
    # A choice the form does not offer.
    radio = next(b for b in form["blocks"] if b["block_id"] == "reason")
    fake_option = {"text": {"type": "plain_text", "text": "Lies"}, "value": "lies"}
    widened = {**form, "blocks": [
        b if b is not radio else {**radio, "element": {**radio["element"], "options": [fake_option]}}
        for b in form["blocks"]]}
    status, body = await slack.fake.submit_view(widened, {"reason": "lies"}, user="UBOB")
    assert refusal(body) == {"reason": "Choose one of the reasons listed."}
    assert recorder.flush()
    assert reasons(store) == []


async def test_a_40_kb_reason_is_refused_in_the_form_and_keeps_nothing(slack: Slack, store: Store,
                                                                       recorder: Recorder) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    _, body = await slack.fake.submit_view(form, {"reason": "other", "detail": "x" * 40_960}, user="UBOB")
    assert refusal(body) == {"detail": "Please keep it to 500 characters (this is 40,960)."}
    assert recorder.flush()
    assert reasons(store) == []
    # What fits is kept, whatever it holds: a NUL byte the database refuses is replaced, not the reason lost.
    await slack.fake.submit_view(form, {"detail": "y" * 499 + "\x00"}, user="UBOB")
    await until(lambda: reasons(store) == [(None, "y" * 499 + "\ufffd")])


async def test_without_a_store_a_vote_opens_no_form(fake: FakeSlack, kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, kb)
    try:
        answer = await answered(slack)
        await fake.click(answer, "not_helpful:licensing", user="UBOB")
        note = await slack.reply("chat.postEphemeral")
        assert "not helpful" in note["text"] and "form" not in note["text"]
        assert fake.calls_to("views.open") == []
    finally:
        await slack.runner.cleanup()


async def test_an_expired_trigger_still_counts_the_vote(slack: Slack, store: Store, recorder: Recorder) -> None:
    answer = await answered(slack)
    slack.fake.fail("views.open", "expired_trigger_id")
    await slack.fake.click(answer, "not_helpful:licensing", user="UBOB")
    note = await slack.reply("chat.postEphemeral")
    assert "not helpful" in note["text"] and "form" not in note["text"]
    assert recorder.flush()
    assert [v.helpful for v in store.votes_since(EPOCH)] == [False]


async def test_a_vote_change_naming_no_reply_is_ignored(slack: Slack, store: Store, recorder: Recorder) -> None:
    answer = await answered(slack)
    await slack.fake.click(answer, "helpful:licensing", user="UBOB")
    note = await slack.reply("chat.postEphemeral")
    message = slack.ephemeral()
    for value in ("not json", json.dumps({"reply": "<!here>", "entry": "licensing"}), json.dumps(["x"]),
                  json.dumps({"reply": f"CGENERAL:{answer.ts}", "entry": "e" * 300})):
        element = next(e for _, e in message.buttons())
        element["value"] = value
        await slack.fake.click(message, element["action_id"], user="UBOB")
    assert recorder.flush()
    assert [v.helpful for v in store.votes_since(EPOCH)] == [True]
    assert note["text"] == message.text  # never updated


async def test_clicks_that_post_an_answer_count_as_answers_in_the_report(slack: Slack, store: Store,
                                                                        recorder: Recorder) -> None:
    answer = await answered(slack)
    await slack.fake.click(answer, "related:llama", user="UBOB")  # a related question
    await slack.reply(count=2)
    await slack.fake.slash(COMMAND, "topics")
    topics = (await slack.reply("response_url"))
    assert topics
    await slack.fake.click(slack.ephemeral(), "related:llama", user="UCAROL")  # a topic
    await slack.reply("response_url", 2)
    await until(lambda: recorder.flush() and report_from_store(store, EPOCH).clicked == 2)
    week = report_from_store(store, EPOCH)
    assert week.questions == 1 and week.answer_rate == 1.0  # clicks are answers, not questions
    llama = next(e for e in week.entries if e.id == "llama")
    assert (llama.answered, llama.clicked) == (2, 2)
    assert "Answers posted by clicks (related questions, topics, suggestions; not counted as questions): 2" in (
        as_text(week))
    clicks = [q for q in store.questions_since(EPOCH) if q.surface == "click"]
    assert {q.user_hash for q in clicks} == {user_hash(STORE_KEY, slack.fake.team, u) for u in ("UBOB", "UCAROL")}
    assert all(q.text is None for q in clicks)


async def test_a_non_admin_sees_no_reasons_in_their_home(slack: Slack, store: Store) -> None:
    answer = await answered(slack)
    form = await vote_down(slack, answer)
    await slack.fake.submit_view(form, {"reason": "wrong", "detail": WHY}, user="UBOB")
    await until(lambda: bool(reasons(store)))
    await slack.fake.open_home(user="UBOB")
    home = (await slack.reply("views.publish"))["view"]
    assert "wrong answer" not in all_text(home["blocks"]) and "licence changed" not in all_text(home["blocks"])


def test_a_sealed_vote_reads_back_and_any_change_to_it_is_refused() -> None:
    voted = feedback.Voted("CGENERAL:1700000001.000100", "licensing", "UBOB", "T1")
    sealed = feedback.seal(STORE_KEY, voted)
    assert feedback.unseal(STORE_KEY, sealed) == voted
    assert feedback.unseal(b"another-key-0123456789", sealed) is None
    for i in range(len(sealed)):
        changed = sealed[:i] + ("A" if sealed[i] != "A" else "B") + sealed[i + 1:]
        assert feedback.unseal(STORE_KEY, changed) in (None, voted)  # never another vote
    assert feedback.unseal(STORE_KEY, feedback.seal(STORE_KEY, replace(voted, reply="<!here>"))) is None
