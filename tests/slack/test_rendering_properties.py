"""Arbitrary Unicode through normalisation, matching and rendering: no exception, Block Kit's limits kept,
and nothing a user typed turns into a ping."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answering import Question, handle_question
from knowledge import KnowledgeBase, Thresholds

from .slackkit import COMMAND, FIXTURE_FAQ, assert_sendable

SURE = KnowledgeBase.load(FIXTURE_FAQ)
UNSURE = KnowledgeBase.load(FIXTURE_FAQ, thresholds=Thresholds(answer=1.01, suggest=0.0))
SLACKISH = st.sampled_from(["<!channel>", "<!here>", "<!everyone>", "<!subteam^S1>", "<@U123>", "<@W9|x>",
                            "<#C1|x>", "<https://a.b|c>", "&lt;!here&gt;", "&lt;@U1&gt;", "<", ">", "!", "@", "&",
                            ":wave:", "*", "_", "`", "```", "&amp;", "\u202e", "\u200b", "\x00", "\n", "topics",
                            "help", "llama", "licence", "attention", "?", "🦙", "ﷺ", "مرحبا"])
MESSAGES = st.lists(st.one_of(st.text(max_size=60), SLACKISH), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES, st.sampled_from(["mention", "dm", "slash"]), st.booleans())
def test_any_message_renders_a_sendable_reply_without_pings(text: str, surface: str, sure: bool) -> None:
    reply = handle_question(SURE if sure else UNSURE, Question(text, surface), COMMAND).reply  # type: ignore[arg-type]
    assert_sendable(reply.as_kwargs())


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # large inputs are the point
@given(st.text(min_size=3000, max_size=50_000))
def test_very_long_messages_render_within_limits(text: str) -> None:
    assert_sendable(handle_question(UNSURE, Question(text, "mention"), COMMAND).reply.as_kwargs())
