"""The three outcomes: answer when sure, suggest when unsure, decline out of scope."""

from __future__ import annotations

import pytest
from repo_paths import FIXTURE_FAQ, SEEDS

from knowledge import Entry, Knowledge, KnowledgeBase, Matcher, Thresholds


def _entry(entry_id: str, question: str, *alternates: str, tags: tuple[str, ...] = (), answer: str = "") -> Entry:
    return Entry(entry_id, question, alternates, tags, answer or question, (), ())


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ, SEEDS)


def test_a_known_phrasing_is_answered(kb: KnowledgeBase) -> None:
    result = kb.ask("who made llama")
    assert (result.status, result.id) == ("answer", "llama")
    assert result.candidates[0].id == "llama"


def test_a_bare_tag_is_answered_exactly(kb: KnowledgeBase) -> None:
    result = kb.ask("/openllm licence")
    assert (result.status, result.id) == ("answer", "licensing")
    assert result.score > 0.95


def test_slack_markup_and_typos_do_not_stop_an_answer(kb: KnowledgeBase) -> None:
    result = kb.ask("<@U05B2KX9QLM> :wave: *who* made `LLaMA`?? <https://ai.meta.com|link>")
    assert result.id == "llama"
    assert kb.ask("how does atention work in neural netwroks").id == "attention"


@pytest.mark.parametrize("question", ["", "   ", "what is it?", ":wave: <@U123>", "is it going to rain in berlin",
                                      "who won the champions league final"])
def test_out_of_scope_or_empty_is_declined(kb: KnowledgeBase, question: str) -> None:
    result = kb.ask(question)
    assert result.status == "none"
    assert result.id is None and result.candidates == ()


def test_unknown_rare_words_keep_a_topic_word_from_being_a_confident_answer(kb: KnowledgeBase) -> None:
    assert kb.ask("llama").status == "answer"
    assert kb.ask("llama fp16 vram quantization kubernetes").status != "answer"


def test_two_entries_scoring_alike_give_suggestions_not_an_answer() -> None:
    knowledge = Knowledge(entries=(
        _entry("model-speed", "how zorblat is the model", "model zorblat"),
        _entry("model-size", "how quixlar is the model", "model quixlar"),
        _entry("pricing", "what does it cost"),
    ), documents={})
    result = Matcher(knowledge).match("the model")
    assert result.status == "suggest"
    assert {c.id for c in result.candidates} >= {"model-speed", "model-size"}
    assert len(result.candidates) <= 3


def test_thresholds_are_configurable(kb: KnowledgeBase) -> None:
    strict = Matcher(kb.knowledge, Thresholds(answer=1.01, suggest=0.3))
    assert strict.match("who made llama").status == "suggest"
    lenient = Matcher(kb.knowledge, Thresholds(answer=0.99, suggest=0.99))
    assert lenient.match("how do attention layers weigh input").status == "none"


def test_explain_names_the_terms_and_the_winning_phrasing(kb: KnowledgeBase) -> None:
    result = kb.ask("who made llama", explain=True)
    assert result.explanation[0] == "asks for: nothing in particular"
    assert any(line.startswith("llama: rank") and "classifier" in line for line in result.explanation)
    assert any(line.startswith("decision for llama: p(right)") for line in result.explanation)
    assert any(line.startswith("lexical terms: made") for line in result.explanation)
    assert any(line.startswith("lexical llama: score") and "'who made llama'" in line for line in result.explanation)
    assert kb.ask("who made llama").explanation == ()


def test_zero_thresholds_with_no_candidate_decline_instead_of_failing(kb: KnowledgeBase) -> None:
    result = Matcher(kb.knowledge, Thresholds(answer=0.0, suggest=0.0, margin=0.0)).match("zzzz qqqq")
    assert result.status == "none"


def test_a_one_word_aside_in_a_long_message_does_not_decide_the_answer() -> None:
    knowledge = Knowledge(entries=(
        _entry("aside", "what is a model anyhow", "model anyhow"),
        _entry("topic", "how are model projects governed", "model governance"),
        _entry("pricing", "what does a model cost", "model pricing"),
    ), documents={})
    result = Matcher(knowledge).match("I read about model projects run by one firm. "
                                      "Does decentralising splinter them? Anyhow, thanks.")
    assert result.candidates[0].id == "topic"


def test_a_one_word_question_clause_of_a_long_message_still_counts() -> None:
    knowledge = Knowledge(entries=(
        _entry("what-is-an-llm", "what is an llm", "llm basics"),
        _entry("cost", "total cost of running an llm", "llm pricing"),
        _entry("training", "how is an llm trained", "llm training data"),
    ), documents={})
    result = Matcher(knowledge).match("hey bot, total newbie here, what's an LLM?")
    assert result.candidates[0].id == "what-is-an-llm"


def test_an_unknown_name_in_the_clause_before_keeps_a_follow_up_clause_from_being_answered() -> None:
    knowledge = Knowledge(entries=(
        _entry("safety", "are open models safe to use", "is an open model safe"),
        _entry("definition", "what makes a model open source", "open source model definition"),
    ), documents={})
    matcher = Matcher(knowledge)
    assert matcher.match("is an open model safe to use").status == "answer"
    assert matcher.match("is zorblax actually open source, and is it safe to use?").status != "answer"
