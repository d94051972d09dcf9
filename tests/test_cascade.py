"""The cascade: a question the lexical and n-gram signals decide is answered without running the embedding model;
any other is decided as before. And a question asked again is matched once."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from repo_paths import ROOT

from knowledge import KnowledgeBase
from knowledge.content.files import KnowledgeError
from knowledge.decision.calibration import (
    CASCADE_GRID,
    Labelled,
    choose_cascade_threshold,
    choose_decline_threshold,
    fit_policy,
    labelled,
    labelled_sets,
)
from knowledge.decision.classifier import ClassifierSettings
from knowledge.decision.decide import Policy, decide, decide_quickly, dump_policy, load_policy
from knowledge.decision.embedding import Embedder
from knowledge.decision.evaluation import load_cases
from knowledge.decision.hybrid import HybridMatcher
from knowledge.decision.signals import (
    QUICK_CANDIDATE_FEATURES,
    QUICK_QUESTION_FEATURES,
    QuickCandidate,
    QuickSignals,
    Signals,
)
from knowledge.result import Status

EASY = "who created llama?"  # one of the FAQ's own phrasings: its words say which entry
HARD = ("We're a four-person startup doing contract review for small law firms. Our lawyers keep asking what "
        "exactly we may do with the models we download: who can tell us?")  # no word that joins two questions


class CountingEmbedder(Embedder):
    """The real embedder, counting the texts it runs the model on."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def _run(self, text: str) -> np.ndarray:
        self.runs += 1
        return super()._run(text)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture(scope="module")
def policy(kb: KnowledgeBase) -> Policy:
    """A policy with a cascade, fitted on the labelled sets (whatever the shipped policy holds)."""
    rows = [labelled(kb.matcher, c.q, c.expect) for path in labelled_sets() for c in load_cases(path)]
    fitted = fit_policy(rows)
    assert fitted.cascade is not None
    return fitted


def matcher(kb: KnowledgeBase, policy: Policy) -> tuple[HybridMatcher, CountingEmbedder]:
    """A matcher and its embedder, counting the questions it embeds (not the phrasings it may embed to build)."""
    embedder = CountingEmbedder()
    built = HybridMatcher(kb.knowledge, policy=policy, embedder=embedder)
    embedder.runs = 0
    return built, embedder


def test_a_question_its_words_decide_is_answered_without_the_embedding_model(kb: KnowledgeBase,
                                                                              policy: Policy) -> None:
    cascaded, embedder = matcher(kb, policy)
    result = cascaded.match(EASY)
    assert (result.status, result.id, embedder.runs) == ("answer", "llama", 0)
    assert result.score >= policy.cascade.answer  # type: ignore[union-attr]
    lines = cascaded.match(EASY, explain=True).explanation
    assert any(line.startswith("→ answer without the embedding model: p(right)") for line in lines)


def test_any_other_question_is_decided_with_the_embedding_model_as_before(kb: KnowledgeBase, policy: Policy) -> None:
    cascaded, embedder = matcher(kb, policy)
    quick = cascaded.quick_signals(HARD)
    assert quick is not None and decide_quickly(quick, policy) is None
    result = cascaded.match(HARD)
    assert embedder.runs == 1
    assert result == decide(cascaded.signals(HARD), policy, cascaded.asks.sayings)


def test_without_a_cascade_every_question_runs_the_embedding_model(kb: KnowledgeBase, policy: Policy) -> None:
    full, embedder = matcher(kb, replace(policy, cascade=None))
    assert full.match(EASY).id == "llama" and embedder.runs == 1


@pytest.mark.parametrize("question", ["is GPT-4 open source?", "what licence is llama 4 under?"])
def test_a_question_naming_a_version_the_documents_never_name_is_decided_in_full(kb: KnowledgeBase, policy: Policy,
                                                                                 question: str) -> None:
    cascaded, _ = matcher(kb, policy)
    assert cascaded.quick_signals(question) is None
    assert cascaded.match(question).status != "answer"


def test_the_nearest_classifier_has_no_first_stage(kb: KnowledgeBase) -> None:
    nearest = HybridMatcher(kb.knowledge, settings=ClassifierSettings(kind="nearest"), embedder=kb.matcher.embedder)
    assert nearest.quick_signals(EASY) is None


def test_the_first_stage_reads_the_lexical_and_n_gram_signals(kb: KnowledgeBase) -> None:
    quick = kb.matcher.quick_signals("can we use llama commercially?")
    assert quick is not None
    ids = [c.id for c in quick.candidates]
    assert "licensing" in ids and "llama" in ids
    best = next(c for c in quick.candidates if c.ngram_best)
    assert best.ngram_gap == 0.0 and all(c.ngram <= best.ngram for c in quick.candidates)
    assert all(len(c.features()) == len(QUICK_CANDIDATE_FEATURES) for c in quick.candidates)
    assert len(quick.features(quick.candidates[0], 0.9, 0.5)) == len(QUICK_QUESTION_FEATURES)


def test_the_classifiers_scores_are_the_same_from_its_n_gram_part_computed_first(kb: KnowledgeBase) -> None:
    classifier = kb.matcher.classifier
    for text in ["can we use llama commercially?", "zzz", ""]:
        embedding = kb.matcher.embedder.embed([text])[0]
        parts = classifier.ngram_contributions(text)
        together = classifier.scores(text, embedding)
        assert np.array_equal(classifier.scores(text, embedding, contributions=parts), together)
        ngram = classifier.ngram_scores(parts)
        assert ngram is not None
        assert np.allclose(classifier.scores(text, np.zeros_like(embedding)), ngram, atol=1e-5)


def test_the_first_stage_answers_only_when_both_of_its_signals_rank_the_entry_first(policy: Policy) -> None:
    assert policy.cascade is not None
    sure = replace(policy, cascade=replace(policy.cascade, answer=1e-9))  # it would answer anything else

    def quick(lexical_best: bool, ngram_best: bool, unanswerable: tuple[str, ...] = ()) -> QuickSignals:
        top = QuickCandidate("llama", 2.0, 0.0, 0.9, 0.0, 1.0, lexical_best, ngram_best, unanswerable)
        return QuickSignals("who created llama?", (), (top,), -2.0, 2.0, 0.9)

    assert decide_quickly(quick(True, True), sure) is not None
    assert decide_quickly(quick(False, True), sure) is None
    assert decide_quickly(quick(True, False), sure) is None
    assert decide_quickly(quick(True, True, ("number",)), sure) is None  # what the answer lacks: the full decision


def test_a_question_that_may_be_about_two_things_is_decided_quickly_only_when_it_is_about_one(
        kb: KnowledgeBase, policy: Policy) -> None:
    assert policy.cascade is not None
    sure = replace(policy, cascade=replace(policy.cascade, answer=1e-9))
    top = QuickCandidate("llama", 2.0, 0.0, 0.9, 0.0, 1.0, True, True, ())
    far = QuickCandidate("falcon", -3.0, -5.0, 0.0, -0.9, 0.0, False, False, ())
    near = QuickCandidate("mistral", 1.9, -0.1, 0.85, -0.05, 0.9, False, False, ())

    def quick(second: QuickCandidate, splits: bool) -> QuickSignals:
        return QuickSignals("llama or mistral?", (), (top, second), -2.0, 2.0, 0.9, 0.0, 0.0,
                            kb.matcher.joins.runner_up if splits else None)

    assert decide_quickly(quick(far, splits=True), sure) is not None  # its runner-up is below pairs.yaml's limit
    assert decide_quickly(quick(near, splits=True), sure) is None  # whether it is two questions: the full decision
    assert decide_quickly(quick(near, splits=False), sure) is not None
    assert kb.matcher.quick_signals("llama vs mistral, which one is better?").one_entry_below == \
        kb.matcher.joins.runner_up
    assert kb.matcher.quick_signals("who created llama?").one_entry_below is None


def test_a_question_its_words_put_out_of_scope_is_declined_without_the_embedding_model(kb: KnowledgeBase,
                                                                                       policy: Policy) -> None:
    assert policy.cascade is not None and policy.cascade.scope is not None
    everything = replace(policy, cascade=replace(policy.cascade, decline=1.0))  # declines all it does not answer
    cascaded, embedder = matcher(kb, everything)
    result = cascaded.match("what's for lunch today?")
    assert (result.status, result.candidates, embedder.runs) == ("none", (), 0)
    lines = cascaded.match("what's for lunch today?", explain=True).explanation
    assert any(line.startswith("→ none without the embedding model: p(in scope)") for line in lines)
    assert cascaded.match(EASY).status == "answer"  # what it answers, it answers
    # A comparison declined whole may be answered part by part: never declined by the first stage.
    assert cascaded.match("iphone vs android, which one is better?") == \
        matcher(kb, replace(policy, cascade=None))[0].match("iphone vs android, which one is better?")
    never = replace(policy, cascade=replace(policy.cascade, decline=0.0))
    quick = cascaded.quick_signals("what's for lunch today?")
    assert quick is not None and decide_quickly(quick, never) is None


def test_the_decline_threshold_is_the_highest_that_takes_no_reply_from_a_question_the_faq_answers() -> None:
    # (p right, entry, p in scope) of the first stage, and the full decision's status; the first stage answers at 0.9.
    rows = [_row(("a",)), _row(("a",)), _row(("a",)), _row(("b",)), _row(("c",))]
    quick = [(0.1, "a", 0.01), (0.2, "a", 0.03), (0.95, "a", 0.04), (0.3, "b", 0.06), (0.1, "c", None)]
    full: list[Status] = ["none", "none", "answer", "suggest", "answer"]
    # 0.06 would decline a question the full decision offers suggestions for; the one it answers at 0.95 the
    # first stage answers itself; one it cannot tell about (None) is never declined.
    assert choose_decline_threshold(rows, quick, full, 0.9) == 0.0575
    assert choose_decline_threshold([_row(("a",))], [(0.1, "a", 0.0)], ["answer"], 0.9) == 0.0
    # An out-of-scope question the full decision offers guesses for (or answers) may be declined there.
    out_of_scope = [*rows[:3], _row(()), rows[4]]
    assert choose_decline_threshold(out_of_scope, quick, full, 0.9) > 0.06


def test_a_calibration_without_the_cascade_decides_every_question_in_full(kb: KnowledgeBase) -> None:
    from knowledge.decision.calibration import calibrate

    fresh = HybridMatcher(kb.knowledge, policy=replace(kb.matcher.policy, cascade=None), embedder=kb.matcher.embedder)
    calibration = calibrate(fresh, [ROOT / "eval" / "fresh.yaml"], folds=3, cascade=False)
    assert calibration.policy.cascade is None
    assert len(calibration.quickly) == len(calibration.out_of_fold) and not any(calibration.quickly)


def _row(expect: tuple[str, ...]) -> Labelled:
    return Labelled(Signals("q", (), (), 0.0, 0.0, 0.0, 0.0), expect)


def test_the_first_stages_threshold_is_the_lowest_that_adds_no_wrong_or_out_of_scope_answer() -> None:
    rows = [_row(("a",)), _row(("a",)), _row(()), _row(("b",)), _row(())]
    # (p, entry) of the first stage, and the full decision's (p, entry, blocked, offered), answering at 0.8.
    quick = [(0.99, "a"), (0.95, "a"), (0.90, "a"), (0.85, "c"), (0.70, "a")]
    full = [(0.9, "a", False, frozenset()), (0.5, "a", False, frozenset()), (0.5, "a", False, frozenset()),
            (0.9, "c", False, frozenset()), (0.9, "a", False, frozenset())]
    # 0.90 would answer an out-of-scope question the full decision declines; 0.85 a wrong answer it gives too.
    assert choose_cascade_threshold(rows, quick, full, 0.8) == 0.905
    full[2] = (0.9, "a", False, frozenset())  # the full decision answers that one too: nothing is ever added
    assert choose_cascade_threshold(rows, quick, full, 0.8) == CASCADE_GRID[0]
    assert choose_cascade_threshold(rows[:1], [(0.9999, "b")], full[:1], 0.8) is None


def test_a_policy_with_a_cascade_round_trips(policy: Policy, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(dump_policy(policy), encoding="utf-8")
    again = load_policy(path)
    assert again.cascade is not None and policy.cascade is not None
    assert again.cascade.answer == round(policy.cascade.answer, 4)
    assert again.cascade.rank.features == QUICK_CANDIDATE_FEATURES
    assert again.cascade.decision.features == QUICK_QUESTION_FEATURES
    assert again.cascade.scope is not None and again.cascade.scope.features == QUICK_QUESTION_FEATURES
    assert again.cascade.decline == round(policy.cascade.decline, 4)
    path.write_text(dump_policy(replace(policy, cascade=replace(policy.cascade, scope=None))), encoding="utf-8")
    assert load_policy(path).cascade.scope is None  # type: ignore[union-attr]  # one that never declines
    path.write_text(dump_policy(replace(policy, cascade=None)), encoding="utf-8")
    assert load_policy(path).cascade is None  # a policy without one: every question is decided in full


def test_a_malformed_cascade_is_reported_by_line(policy: Policy, tmp_path: Path) -> None:
    text = dump_policy(policy)
    spoiled = text.replace("cascade:\n  answer:", "cascade:\n  answer: 2\n  extra: 1\n  old_answer:")
    path = tmp_path / "policy.yaml"
    path.write_text(spoiled, encoding="utf-8")
    with pytest.raises(KnowledgeError) as raised:
        load_policy(path)
    reasons = [p.reason for p in raised.value.listed]
    line = text.splitlines().index("cascade:") + 2
    assert any("'cascade.answer' must be a number from 0 to 1" in r for r in reasons)
    assert any("unknown field 'cascade.extra'" in r for r in reasons)
    path.write_text(re.sub(r"(?ms)^  scope:.*", "", text), encoding="utf-8")  # a decline threshold, no scope model
    with pytest.raises(KnowledgeError, match="'cascade' is missing 'scope'"):
        load_policy(path)
    assert f"policy.yaml:{line}:" in str(raised.value)


def test_a_question_asked_again_is_matched_once(kb: KnowledgeBase, policy: Policy) -> None:
    full, embedder = matcher(kb, replace(policy, cascade=None))
    first = full.match(HARD)
    assert full.match(HARD) is first and embedder.runs == 1
    explained = full.match(HARD, explain=True)
    assert explained is not first and explained.explanation  # --explain always matches
    # The text as matched, not as normalised: the lexical matcher reads Slack's *emphasis*.
    emphasised = full.match("can we use *llama* commercially?")
    assert full.match("can we use llama commercially?") is not emphasised
    # The model runs once for the words the two share, and not again for --explain: the embedder keeps them
    assert embedder.runs == 2
    full.forget()  # until told to forget what it keeps (a benchmark matching each question afresh)
    assert full.match(HARD) is not first and embedder.runs == 3


def test_one_row_in_two_thousand_does_not_hold_the_first_stages_threshold_up() -> None:
    right = (0.9, "a", False, frozenset())
    rows = [_row(("a",))] * 1999 + [_row(("b",))]
    quick = [(0.99, "a")] * 1999 + [(0.95, "c")]  # one first-stage answer the full decision gets right
    full = [right] * 1999 + [(0.9, "b", False, frozenset())]
    assert choose_cascade_threshold(rows, quick, full, 0.8) == CASCADE_GRID[0]
    assert choose_cascade_threshold(rows[1:], quick[1:], full[1:], 0.8) == 0.955  # 1,999 rows: none allowed
    rows, quick, full = [*rows, _row(("b",))], [*quick, (0.93, "c")], [*full, (0.9, "b", False, frozenset())]
    assert choose_cascade_threshold(rows, quick, full, 0.8) == 0.935  # a second one does
