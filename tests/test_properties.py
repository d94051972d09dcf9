"""Arbitrary text through normalisation and matching: no exception, well-formed results."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge import KnowledgeBase
from knowledge.matching.normalize import normalize, words_without_filler

KB = KnowledgeBase.load()
SLACKISH = st.sampled_from(["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C1|x>", "<https://a.b|c>",
                            ":wave:", "*", "_", "`", "```", "&amp;", "&lt;", "\u202e", "\u200b", "\x00", "\n",
                            "llama", "licence", "?", "‮", "🦙", "ﷺ", "مرحبا"])
MESSAGES = st.lists(st.one_of(st.text(max_size=40), SLACKISH), max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES)
def test_any_message_normalises_and_matches_to_a_well_formed_result(text: str) -> None:
    normal = normalize(text)
    assert normal == normal.strip() and "  " not in normal
    assert "<!" not in normal and "<@" not in normal
    assert all(w and " " not in w for w in words_without_filler(normal))
    result = KB.ask(text)
    assert result.status in ("answer", "suggest", "none")
    assert (result.id is not None) == (result.status == "answer")
    assert result.id is None or result.id in KB.knowledge
    assert len(result.candidates) <= 3
    assert all(c.id in KB.knowledge for c in result.candidates)
    assert 0.0 <= result.score <= 1.0 + 1e-9


@pytest.mark.parametrize("text", ["", " ", "x" * 40_000, "llama " * 8_000, ":wave: " * 5_000, "```" + "a\n" * 5_000,
                                  "<!channel> " * 2_000, "\u202ellama\u202c", "\x00\x01\x02"])
def test_extreme_messages_get_a_result(text: str) -> None:
    assert KB.ask(text).status in ("answer", "suggest", "none")
