"""Questions about two things: a comparison or two questions in one message answer both entries when each part is
answered on its own; a split never replaces an answer, and what is declined or unanswerable stays so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot import blocks
from bot.plaintext import result_text
from knowledge import KnowledgeBase, KnowledgeError
from knowledge.decision.decide import NEAR_MISS_SAYS
from knowledge.decision.pairs import PAIRS_FILE, Joins, load_joins, pair, splits
from knowledge.result import Candidate, MatchResult, Status

JOINS = load_joins()
BOTH = "llama vs mistral"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def _split(query: str) -> list[tuple[str, str, str]]:
    return [(s.left, s.right, s.kind) for s in splits(query, JOINS)]


def test_a_comparison_splits_into_the_names_on_either_side() -> None:
    assert _split("llama vs mistral, which one is better?")[0] == ("llama", "mistral", "compare")
    assert _split("which is better for us, llama or mistral?")[0] == ("llama", "mistral", "compare")
    assert _split("bert or the gpt series: what is the difference?")[0] == ("bert", "the gpt series", "compare")


def test_two_questions_split_where_the_first_ends_or_at_and() -> None:
    assert _split("is llama open? and who makes falcon?")[0] == ("is llama open?", "and who makes falcon?", "ask")
    assert _split("what are the risks of bias, and what about abuse?") == [
        ("what are the risks of bias", "what about abuse?", "ask")]


def test_more_words_join_two_questions() -> None:
    assert _split("what is bert plus who makes falcon")[0] == ("what is bert", "who makes falcon", "ask")
    assert _split("what is llama as well as what bias issues we should watch out for")[0] == (
        "what is llama", "what bias issues we should watch out for", "ask")
    assert _split("who makes falcon btw how is it maintained")[0] == ("who makes falcon", "how is it maintained", "ask")
    assert _split("how does hugging face compare with meta?")[0] == ("how does hugging face", "meta", "compare")


def test_two_sentences_or_clauses_a_dash_joins_split_last() -> None:
    assert _split("give me the pros for the board paper. then the cons.") == [
        ("give me the pros for the board paper.", "then the cons.", "sentences")]
    assert _split("where does falcon come from - what other models are popular") == [
        ("where does falcon come from", "what other models are popular", "sentences")]
    assert _split("what is used today & what comes next?")[0] == ("what is used today", "what comes next?", "ask")
    assert _split("hugging face / meta, which one makes the models?")[0] == ("hugging face", "meta", "compare")
    assert _split("what are the main challenges; how do they lower the barrier") == [
        ("what are the main challenges", "how do they lower the barrier", "sentences")]
    assert _split("where are open llms headed + who keeps them maintained?")[0] == (
        "where are open llms headed", "who keeps them maintained?", "ask")
    # Two questions run together without a mark, but not a question embedded in another or after a comma.
    assert _split("which industries use open llms what are the biggest problems") == [
        ("which industries use open llms", "what are the biggest problems", "sentences")]
    assert _split("what's mixtral what's pythia") == [("what's mixtral", "what's pythia", "sentences")]
    assert _split("explain what an llm is to my students") == []
    assert _split("apart from the cost, what's good about them?") == []
    # A joining word is tried before the sentences; a dash between words is not a clause.
    assert [s[2] for s in _split("we use bert. what is gpt-3 and who makes falcon?")] == ["ask", "sentences"]
    assert _split("is gpt-3 open") == []


def test_two_sentences_are_split_only_when_the_second_entry_looks_likely_whole() -> None:
    question = "tell me about llama. then who keeps models maintained?"
    parts = {"tell me about llama.": "llama", "then who keeps models maintained?": "maintenance"}

    def match(part: str) -> MatchResult:
        return MatchResult("answer", parts[part], 1.0, (), part)

    def whole(runner_up: float) -> MatchResult:
        return MatchResult("answer", "llama", 0.9, (Candidate("llama", 0.9), Candidate("maintenance", runner_up)), "q")

    assert JOINS.runner_up < 0.05 < JOINS.sentence_runner_up
    assert pair(question, whole(0.05), JOINS, match) is None  # two questions joined by "and" would split here
    assert pair(question, whole(JOINS.sentence_runner_up), JOINS, match) == ("llama", "maintenance")


def test_a_list_of_two_splits_between_its_items() -> None:
    assert _split("1) is bert open source 2) what's the attention mechanism")[0] == (
        "is bert open source", "what's the attention mechanism", "ask")
    assert _split("two questions: 1. what is hugging face? 2. how can i contribute?")[0] == (
        "what is hugging face?", "how can i contribute?", "ask")
    assert _split("- what does attention mean - what can llms do")[0] == (
        "what does attention mean", "what can llms do", "ask")
    assert _split("two things: • what is bert • how much gpu do we need")[0] == (
        "what is bert", "how much gpu do we need", "ask")
    # A dash in a sentence is not a bullet (it may join two sentences).
    assert [s[2] for s in _split("gpt-3 through an api - what is the difference")] == ["sentences"]


def test_the_second_name_compared_ends_where_what_they_are_compared_for_begins() -> None:
    assert _split("llama 3 or gpt-3 for a customer support bot?")[0] == ("llama 3", "gpt-3", "compare")
    assert _split("bert vs falcon for classifying support tickets")[0] == ("bert", "falcon", "compare")


def test_quoted_text_is_not_split() -> None:
    assert _split("abstract: 'we map motivations and governance in 14 projects.' what's the takeaway?") == []
    assert _split('the slide says "fast and secure". is that true of llama and mistral?') == [
        ('the slide says "fast and secure". is that true of llama', "mistral?", "ask")]
    assert _split("what's llama? and what's mistral?")[0] == ("what's llama?", "and what's mistral?", "ask")


def test_a_long_message_or_one_without_joining_words_is_not_split() -> None:
    assert _split("what is the attention mechanism?") == []
    assert _split(("we are a small team and " * 10) + "which model should we use?") == []


def _result(status: Status, entry: str | None, *candidates: str, unsaid: str | None = None) -> MatchResult:
    return MatchResult(status, entry, 0.5, tuple(Candidate(c, 0.5) for c in candidates), "q", unsaid=unsaid)


def _parts(answers: dict[str, tuple[str, float]]) -> Callable[[str], MatchResult]:
    def match(part: str) -> MatchResult:
        entry, score = answers.get(part, ("", 0.0))
        return MatchResult("answer" if entry else "none", entry or None, score, (), part)
    return match


def test_both_entries_must_be_candidates_of_the_whole_and_keep_its_answer() -> None:
    parts = _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.9)})
    assert pair(BOTH, _result("answer", "llama", "llama", "mistral"), JOINS, parts) == ("llama", "mistral")
    assert pair(BOTH, _result("answer", "llama", "llama", "falcon"), JOINS, parts) is None
    # A split never replaces the entry the whole question is answered with.
    assert pair(BOTH, _result("answer", "falcon", "falcon", "llama", "mistral"), JOINS, parts) is None


def test_a_part_answered_without_the_embedding_model_is_enough_only_when_the_whole_is_answered() -> None:
    fully: list[str] = []

    def full(part: str) -> MatchResult:
        fully.append(part)
        return _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.9)})(part)

    quickly = _parts({"llama": ("llama", 0.2), "mistral": ("mistral", 0.2)})  # low: the first stage's own scale
    assert pair(BOTH, _result("answer", "llama", "llama", "mistral"), JOINS, full, answered=quickly) == (
        "llama", "mistral")
    assert fully == []  # neither part needed the embedding model
    assert pair(BOTH, _result("suggest", None, "llama", "mistral"), JOINS, full, answered=quickly) == (
        "llama", "mistral")
    assert fully == ["llama", "mistral"]  # unsure of the whole: the parts' probabilities count, with the model
    assert pair(BOTH, _result("answer", "llama", "llama", "mistral"), JOINS, _parts({}),
                answered=lambda part: None) is None  # no quick answer: the full one decides


def test_unsure_or_declined_questions_need_both_parts_answered_with_confidence() -> None:
    unsure, declined = _result("suggest", None, "llama", "mistral"), _result("none", None)
    fairly, very = (_parts({"llama": ("llama", 1.0), "mistral": ("mistral", p)}) for p in (0.9, 0.99))
    assert pair(BOTH, unsure, JOINS, _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.8)})) is None
    assert pair(BOTH, unsure, JOINS, fairly) == ("llama", "mistral")
    # Declined whole, the question vouches for neither name: both must be answered with more confidence.
    assert pair(BOTH, declined, JOINS, fairly) is None
    assert pair(BOTH, declined, JOINS, very) == ("llama", "mistral")
    # Two questions the whole question declines stay declined, however sure each part is.
    assert pair("is llama open? who makes mistral?", declined, JOINS,
                _parts({"is llama open?": ("llama", 1.0), "who makes mistral?": ("mistral", 1.0)})) is None


def _near_miss(offered: str, ranked: float) -> MatchResult:
    return MatchResult("suggest", None, 0.6, (Candidate(offered, ranked),), "q", unsaid=NEAR_MISS_SAYS)


def test_a_comparison_of_two_names_taken_whole_for_a_near_miss_answers_both() -> None:
    # "falcon vs llama, who's behind them?" reads like "falcon vs llama 2 benchmarks", which the documents don't give.
    names = _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.99)})
    assert pair(BOTH, _near_miss("mistral", 0.9), JOINS, names, lambda: False) == ("llama", "mistral")
    # The entry it offers must be one of the two, and both names must be answered with confidence.
    assert pair(BOTH, _near_miss("falcon", 0.9), JOINS, names, lambda: False) is None
    assert pair(BOTH, _near_miss("mistral", 0.9), JOINS,
                _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.8)})) is None
    # A question the knowledge lists (as a near miss, or out of scope) stays as it is listed.
    assert pair(BOTH, _near_miss("mistral", 0.9), JOINS, names, lambda: True) is None
    assert pair(BOTH, _result("none", None), JOINS, names, lambda: True) is None
    # Two questions are not split out of a near miss.
    assert pair("is llama open? who makes mistral?", _near_miss("mistral", 0.9), JOINS,
                _parts({"is llama open?": ("llama", 1.0), "who makes mistral?": ("mistral", 1.0)})) is None


def test_a_question_asking_what_the_documents_do_not_hold_is_not_split() -> None:
    unsaid = _result("suggest", None, "llama", "mistral", unsaid="give dates")
    assert pair(BOTH, unsaid, JOINS, _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 1.0)})) is None


def test_the_shipped_matcher_answers_comparisons_and_double_questions_with_both_entries(kb: KnowledgeBase) -> None:
    for question, both in [
            ("llama vs mistral, which one is better?", ("llama", "mistral")),
            ("what are the risks of bias, and what about people abusing them?", ("bias-safety", "misuse")),
            ("BERT or the GPT series: what is the difference?", ("bert-xlnet", "gpt-3")),
            ("falcon vs llama, any difference in who's behind them?", ("falcon", "llama")),
            ("1) what is bert 2) what is the attention mechanism", ("attention", "bert-xlnet")),
            ("what is bert plus who makes falcon", ("bert-xlnet", "falcon")),
            ("is mistral better than falcon for a chatbot?", ("falcon", "mistral")),
            ("llama vs falcon - who made each?", ("falcon", "llama")),
            ("what's the difference between falcon and llama?", ("falcon", "llama"))]:
        assert sorted(kb.ask(question).answered) == sorted(both), question  # the whole question's answer first
    for declined in ("iphone vs android, which one is better?", "python or java?", "llama vs gemma for a chatbot"):
        assert kb.ask(declined).status == "none", declined
    # What the knowledge lists as a near miss or out of scope stays so, and "open vs closed" is one thing.
    assert kb.ask("falcon vs llama 2 benchmarks").unsaid == NEAR_MISS_SAYS
    assert kb.ask("for a legal AI assistant, llama 3 or mistral 7b? just pick one for us").status == "none"
    assert kb.ask("open vs closed").answered == ("open-vs-proprietary",)
    assert kb.ask("can we use llama commercially?").answered == ("licensing",)


def test_both_answers_go_into_one_message_and_one_text(kb: KnowledgeBase) -> None:
    result = kb.ask("llama vs mistral, which one is better?")
    reply = blocks.result_reply(kb, result, "/openllm", shareable=True)
    ids = [b["block_id"] for b in reply.blocks if "block_id" in b]
    assert len(ids) == len(set(ids)) and len(reply.blocks) <= blocks.MAX_BLOCKS
    assert {"share:llama", "share:mistral"} <= {e["action_id"] for b in reply.blocks if b["type"] == "actions"
                                                for e in b["elements"]}
    text = result_text(kb, result)
    assert text.index(kb.knowledge["llama"].question) < text.index(kb.knowledge["mistral"].question)
    assert result.to_json()["also"] == "mistral"


def test_a_broken_pairs_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "pairs.yaml"
    broken.write_text("compare: [vs]\n")
    with pytest.raises(KnowledgeError, match=r"pairs\.yaml"):
        load_joins(broken)
    shipped = PAIRS_FILE.read_text()
    broken.write_text(shipped.replace("name_ends: [for]", "name_ends: for"))
    with pytest.raises(KnowledgeError, match=r"pairs\.yaml:\d+: 'name_ends' must be a non-empty list"):
        load_joins(broken)
    assert isinstance(JOINS, Joins)


def test_two_questions_the_matcher_sees_one_entry_in_are_not_split_at_all() -> None:
    calls: list[str] = []
    names = {"is llama open": "llama", "who makes mistral?": "mistral"}

    def match(part: str) -> MatchResult:
        calls.append(part)
        return MatchResult("answer", names[part], 1.0, (), part)

    question = "is llama open and who makes mistral?"
    one = MatchResult("answer", "llama", 0.99, (Candidate("llama", 0.99), Candidate("mistral", 0.01)), "q")
    assert pair(question, one, JOINS, match) is None and calls == []  # no part matched: it costs nothing
    two = MatchResult("answer", "llama", 0.6, (Candidate("llama", 0.6), Candidate("mistral", 0.3)), "q")
    assert pair(question, two, JOINS, match) == ("llama", "mistral") and calls == list(names)


def test_two_things_compared_are_split_even_when_the_matcher_sees_one_entry_in_them() -> None:
    # "GPT-3 vs Llama: which one is actually open?" reads as about GPT-3 alone; it names two things all the same.
    one = MatchResult("answer", "llama", 0.99, (Candidate("llama", 0.99), Candidate("mistral", 0.004)), "q")
    assert pair(BOTH, one, JOINS, lambda part: MatchResult("answer", part, 1.0, (), part)) == ("llama", "mistral")
    # Not a question with "or" in it, each side more words than a name.
    long_sides = "is llama fully open source or just an api"
    assert JOINS.name_words < 5 and _split(long_sides)[0][2] == "compare"
    assert pair(long_sides, one, JOINS, lambda part: MatchResult("answer", "mistral", 1.0, (), part)) is None


def test_a_comparison_is_read_in_more_of_the_ways_people_write_one() -> None:
    assert _split("llama vs mistral - which is better for a small team?")[0] == ("llama", "mistral", "compare")
    assert _split("is falcon better than llama for us?")[0] == ("is falcon better", "llama", "compare")
    assert _split("should we pick pythia over llama?")[0] == ("should we pick pythia", "llama", "compare")
    assert _split("how does bert stack up against gpt-3?")[0] == ("how does bert", "gpt-3", "compare")


def test_the_difference_between_two_things_splits_into_the_two() -> None:
    assert ("falcon", "llama", "compare") in _split("what's the difference between falcon and llama?")
    assert ("openllama", "the original llama", "compare") in _split(
        "difference between openllama and the original llama")
    assert ("bert", "gpt-3", "compare") in _split("how do you distinguish between bert and gpt-3 for a chatbot")
    # "between" alone is not a comparison: deciding between two things may come with another question
    assert all(kind != "compare" for *_, kind in _split("we need to decide between a vendor and an open model"))


def test_a_part_is_matched_once_and_the_second_not_when_the_first_cannot_be_one_of_the_two() -> None:
    calls: list[str] = []

    def match(part: str) -> MatchResult:
        calls.append(part)
        return MatchResult("answer", "falcon" if part == "is llama open?" else "mistral", 1.0, (), part)

    question = "is llama open? and who makes mistral?"  # two splits: at the question mark, and at "and"
    assert len(splits(question, JOINS)) == 2
    assert pair(question, _result("answer", "llama", "llama", "mistral"), JOINS, match) is None
    assert calls == ["is llama open?"]  # falcon is not among the whole question's candidates
