"""Which words of a question count: idioms, intensifiers and the asker's situation say nothing about the topic, while
"why" and "where" tell a reason or a place apart from a definition."""

from __future__ import annotations

from knowledge import Entry, Knowledge, Matcher
from knowledge.matching.analysis import Analyzer, load_synonyms
from knowledge.matching.normalize import normalize, words_without_filler


def _entry(entry_id: str, question: str, *alternates: str) -> Entry:
    return Entry(entry_id, question, alternates, (), question, (), ())


def _terms(text: str) -> list[str]:
    analyzer = Analyzer(load_synonyms())
    analyzer.set_vocabulary(["release", "model", "download"])
    return [t.read_as for t in analyzer.terms(text, correct=True)]


def test_idioms_are_filler_wherever_they_stand() -> None:
    assert words_without_filler(normalize("Why release it in the first place? To be honest, out of curiosity")) == [
        "why", "release", "it"]


def test_a_greeting_to_the_team_is_filler_but_a_team_asked_about_is_not() -> None:
    assert words_without_filler(normalize("hi team, how big a team do we need")) == [
        "how", "big", "a", "team", "do", "we", "need"]


def test_an_idiom_inside_a_longer_word_is_kept() -> None:
    assert "firstplace" in words_without_filler(normalize("the firstplace team"))


def test_why_and_where_are_words_of_the_question() -> None:
    assert _terms("why publish a model, where's the download") == ["why", "publish", "model", "wheres", "download"]


def test_a_why_question_prefers_the_entry_that_gives_reasons() -> None:
    knowledge = Knowledge(entries=(
        _entry("motives", "why do labs release their models", "why publish a model"),
        _entry("contents", "which parts of a model do labs release", "what gets released with a model"),
        _entry("places", "where do labs release their models", "where to download a model"),
    ), documents={})
    matcher = Matcher(knowledge)
    assert matcher.match("why would a lab release its model in the first place").id == "motives"
    assert matcher.match("where can I download a model").id == "places"


def test_a_customer_is_not_customisation() -> None:
    analyzer = Analyzer(load_synonyms())
    assert len({t.term for t in analyzer.terms("customer custom customers")}) == 2


def test_a_request_for_plain_words_is_filler() -> None:
    assert words_without_filler(normalize("explain attention in plain english, like I'm five")) == [
        "explain", "attention"]
    assert words_without_filler(normalize("tl;dr on licences in simple terms")) == ["on", "licences"]


def test_a_misspelt_filler_word_is_read_as_filler_not_as_a_rare_word() -> None:
    assert _terms("can sombody explain the model") == ["explain", "model"]


def test_inflections_of_a_synonym_read_as_its_group() -> None:
    analyzer = Analyzer(load_synonyms())
    assert [t.term for t in analyzer.terms("patching paying catches")] == [
        t.term for t in analyzer.terms("maintenance cost challenge")]

