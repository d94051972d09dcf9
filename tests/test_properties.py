"""Arbitrary text through normalisation and matching: no exception, well-formed results."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from text_timing import LONGEST, PLAIN, budgets, over_budget, repeated, seconds

from knowledge import KnowledgeBase
from knowledge.matching.normalize import MAX_QUESTION_CHARS, normalize, words_without_filler

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


# Pieces of messages that stall a pattern when repeated (an unterminated "<@", "<http:" or "<#C1|", a long run
# of "_" inside a word or of spaces), among others: hypothesis builds a message from one repeated.
PIECES = st.one_of(SLACKISH, st.text(max_size=3),
                   st.sampled_from(["<", ">", "<@", "<@U1|", "<!", "<!here", "<#C", "<#C1|", "<http:", "<mailto:x|",
                                    "&lt;", "&gt;", "&lt;http:", "|", ":", "_", "a_", "*a", "~", "`", " ", " - ", ", ",
                                    ". ", "\n", "a"]))


@pytest.fixture(scope="module")
def reading_budgets() -> dict[str, float]:
    return budgets()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, min_size=1, max_size=4).map("".join), st.integers(1, LONGEST))
def test_reading_any_text_of_up_to_40k_characters_takes_time_linear_in_its_length(
        reading_budgets: dict[str, float], unit: str, length: int) -> None:
    text = repeated(unit, length)
    assert over_budget(text, reading_budgets) == {}


def test_a_question_is_read_up_to_its_first_4000_characters() -> None:
    question = "is llama open source? " + "and what about its licence, really? " * 1_200
    assert len(question) > 10 * MAX_QUESTION_CHARS
    assert KB.ask(question) == KB.ask(question[:MAX_QUESTION_CHARS])
    assert KB.in_other_language(question) == KB.in_other_language(question[:MAX_QUESTION_CHARS])


@pytest.mark.parametrize("text", [repeated("&lt;http:"), repeated("<#C1|ml"), repeated("<@U1|"), repeated("<!here"),
                                  "a" + "_" * (LONGEST - 2) + "b", "a" + " " * (LONGEST - 2) + "b"])
def test_a_message_built_to_stall_matching_costs_about_what_an_ordinary_long_one_does(text: str) -> None:
    ordinary = seconds(KB.ask, PLAIN)  # 40k characters: its first 4,000 are read, so about 15 ms
    assert seconds(KB.ask, text) <= 10 * ordinary  # 2.5 s before (100 times)
