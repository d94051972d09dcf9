"""Questions about two things: a comparison or two questions in one message answer both entries when each part is
answered on its own; a split never replaces an answer, and what is declined or unanswerable stays so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot import blocks
from bot.plaintext import result_text
from knowledge import KnowledgeBase, KnowledgeError
from knowledge.decision.pairs import Joins, load_joins, pair, splits
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


def test_unsure_or_declined_questions_need_both_parts_answered_with_confidence() -> None:
    unsure, declined = _result("suggest", None, "llama", "mistral"), _result("none", None)
    assert pair(BOTH, unsure, JOINS, _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.9)})) is None
    sure = _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 0.99)})
    assert pair(BOTH, unsure, JOINS, sure) == ("llama", "mistral")
    assert pair(BOTH, declined, JOINS, sure) == ("llama", "mistral")
    # Two questions the whole question declines stay declined, however sure each part is.
    assert pair("is llama open? who makes mistral?", declined, JOINS,
                _parts({"is llama open?": ("llama", 1.0), "who makes mistral?": ("mistral", 1.0)})) is None


def test_a_question_asking_what_the_documents_do_not_hold_is_not_split() -> None:
    unsaid = _result("suggest", None, "llama", "mistral", unsaid="give dates")
    assert pair(BOTH, unsaid, JOINS, _parts({"llama": ("llama", 1.0), "mistral": ("mistral", 1.0)})) is None


def test_the_shipped_matcher_answers_comparisons_and_double_questions_with_both_entries(kb: KnowledgeBase) -> None:
    for question, both in [
            ("llama vs mistral, which one is better?", ("llama", "mistral")),
            ("what are the risks of bias, and what about people abusing them?", ("bias-safety", "misuse")),
            ("BERT or the GPT series: what is the difference?", ("bert-xlnet", "gpt-3"))]:
        assert kb.ask(question).answered == both, question
    for declined in ("iphone vs android, which one is better?", "python or java?"):
        assert kb.ask(declined).status == "none", declined
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
    assert isinstance(JOINS, Joins)


def test_a_question_the_matcher_sees_one_entry_in_is_not_split_at_all() -> None:
    calls: list[str] = []

    def match(part: str) -> MatchResult:
        calls.append(part)
        return MatchResult("answer", part, 1.0, (), part)

    one = MatchResult("answer", "llama", 0.99, (Candidate("llama", 0.99), Candidate("mistral", 0.01)), "q")
    assert pair(BOTH, one, JOINS, match) is None and calls == []  # no part matched: it costs nothing
    two = MatchResult("answer", "llama", 0.6, (Candidate("llama", 0.6), Candidate("mistral", 0.3)), "q")
    assert pair(BOTH, two, JOINS, match) == ("llama", "mistral") and calls == ["llama", "mistral"]
