"""From signals to an outcome: rank the candidates, then answer, suggest or decline.

Two small logistic models, fitted on labelled questions by calibration.py and kept as data in
policy.yaml: `rank` gives each candidate the probability that it is the right entry; `decision`
gives the probability that answering the best one is right, from its rank confidence and what the
question looks like (close to out-of-scope examples, or to the entry's near misses). A question
asking for a kind of fact the entry's answer lacks (a number, a date...) is never answered with it:
the reply says what the documents do not say and offers the entry instead.

The policy's `cascade` decides first, on the signals known before the embedding model runs (`decide_quickly`): two
more logistic models of the same kind, and a threshold chosen out of fold so that answering there adds no wrong
answer. A question they are not decisive about is decided by the models above.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from ..content.files import KnowledgeError, Problem, display, fields, kind, line, number, read_yaml
from ..content.loader import PACKAGE_DIR
from ..content.phrasings import OUT_OF_SCOPE
from ..result import Candidate, MatchResult, Status
from .signals import (
    CANDIDATE_FEATURES,
    QUESTION_FEATURES,
    QUICK_CANDIDATE_FEATURES,
    QUICK_QUESTION_FEATURES,
    CandidateSignals,
    QuickCandidate,
    QuickSignals,
    Signals,
)

POLICY_FILE = PACKAGE_DIR / "policy.yaml"
POLICY_FILES = {"svm": POLICY_FILE, "nearest": PACKAGE_DIR / "policy-nearest.yaml"}  # by classifier kind
NEAR_MISS_SAYS = "go into that"  # "My documents don't go into that."


@dataclass(frozen=True)
class LinearModel:
    """A logistic model over named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def logit(self, values: Sequence[float]) -> float:
        if len(values) != len(self.weights):
            raise ValueError(f"{len(values)} values for {len(self.weights)} weights")
        return self.bias + sum(map(operator.mul, self.weights, values))  # the products in order, as a loop would

    def probability(self, values: Sequence[float]) -> float:
        z = self.logit(values)
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0

    def contributions(self, values: Sequence[float]) -> list[tuple[str, float, float]]:
        """(feature, value, weight x value) for --explain."""
        return [(n, v, w * v) for n, w, v in zip(self.features, self.weights, values, strict=True)]


@dataclass(frozen=True)
class Cascade:
    """The first stage: from the lexical and n-gram signals alone (`QuickSignals`), `rank` gives each candidate the
    probability that it is the right entry and `decision` that answering the best one is right; at `answer` or
    more it is answered without running the embedding model. `scope` gives the probability that the question is
    one the FAQ answers at all; at `decline` or less it is declined without running the embedding model (None, or
    a `decline` of 0: never)."""

    rank: LinearModel
    decision: LinearModel
    answer: float
    scope: LinearModel | None = None
    decline: float = 0.0


@dataclass(frozen=True)
class Policy:
    """How signals become an outcome; `answer` and `suggest` are thresholds on the decision probability."""

    rank: LinearModel
    decision: LinearModel
    answer: float
    suggest: float
    note: str = ""  # what it was fitted on, for the file's reader
    # A question this close (cosine) to a near miss or out-of-scope example, and closer to it than to
    # any entry's phrasing, is taken as that example: the FAQ says the documents do not answer it.
    near_duplicate: float = 0.9
    cascade: Cascade | None = None  # None: every question is decided with the embedding model

    def with_thresholds(self, answer: float | None = None, suggest: float | None = None) -> Policy:
        return replace(self, answer=self.answer if answer is None else answer,
                       suggest=self.suggest if suggest is None else suggest)


def rank(signals: Signals, policy: Policy) -> list[tuple[CandidateSignals, float]]:
    """Candidates with the probability that each is the right entry, best first."""
    scored = [(c, policy.rank.probability(c.features())) for c in signals.candidates]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0].id))


def decide(signals: Signals, policy: Policy, says: dict[str, str], explain: bool = False) -> MatchResult:
    """Answer, suggest or decline; `says` completes "My documents don't ..." for each kind of fact."""
    ranked = rank(signals, policy)
    if not ranked:
        return MatchResult("none", None, 0.0, (), signals.query, ("no candidate",) if explain else ())
    top, confidence = ranked[0]
    margin = confidence - (ranked[1][1] if len(ranked) > 1 else 0.0)
    values = signals.features(top, confidence, margin)
    p = policy.decision.probability(values)
    candidates = tuple(Candidate(c.id, round(conf, 6)) for c, conf in ranked[:3])
    unsaid: str | None = None
    status: Status
    listed = signals.closest_unanswered if signals.closest_unanswered_similarity >= policy.near_duplicate else None
    if listed is not None:  # the FAQ lists this question as one the documents do not answer
        status, entry_id = ("suggest" if listed != OUT_OF_SCOPE else "none"), None
        if status == "suggest":
            candidates, unsaid = (Candidate(listed, 1.0),), NEAR_MISS_SAYS
    elif top.unanswerable:
        # Would it be a match if the answer held what is asked? Then say what the documents lack.
        held = policy.decision.probability(_answerable(values))
        if held >= policy.suggest:
            status = "suggest"
            entry_id, candidates, unsaid = None, candidates[:1], says.get(top.unanswerable[0], NEAR_MISS_SAYS)
        else:
            status, entry_id = "none", None
    elif p >= policy.answer:
        status, entry_id = "answer", top.id
    elif p >= policy.suggest:
        status, entry_id = "suggest", None
        if top.near_miss > top.similarity:  # closer to what the documents don't say than to what they do
            candidates, unsaid = candidates[:1], NEAR_MISS_SAYS
    else:
        status, entry_id = "none", None
    lines = _explain(signals, policy, ranked, values, p, status) if explain else ()
    return MatchResult(status, entry_id, p, candidates if status != "none" else (), signals.query, lines, unsaid)


def rank_quickly(quick: QuickSignals, cascade: Cascade) -> list[tuple[QuickCandidate, float]]:
    """The candidates with the first stage's probability that each is the right entry, best first."""
    scored = [(c, cascade.rank.probability(c.features())) for c in quick.candidates]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0].id))


def quick_probability(quick: QuickSignals, cascade: Cascade,
                      ranked: list[tuple[QuickCandidate, float]] | None = None) -> tuple[QuickCandidate | None, float]:
    """The first stage's best candidate and the probability that answering it is right. It is 0 (the full decision
    decides) with no candidate, when the lexical matcher and the n-gram weights do not both rank that candidate
    first (two signals that disagree are not decisive), or when its answer lacks what is asked (what the documents
    do not say is for the full decision to tell). `ranked` is `rank_quickly(quick, cascade)` when the caller has it."""
    ranked = rank_quickly(quick, cascade) if ranked is None else ranked
    if not ranked or ranked[0][0].unanswerable or not (ranked[0][0].lexical_best and ranked[0][0].ngram_best):
        return (ranked[0][0] if ranked else None), 0.0
    (top, confidence), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
    if quick.one_entry_below is not None and second >= quick.one_entry_below:
        return top, 0.0  # it may be about two things: whether it is, and its parts, are for the full decision
    return top, cascade.decision.probability(quick.features(top, confidence, confidence - second))


def scope_probability(quick: QuickSignals, cascade: Cascade,
                      ranked: list[tuple[QuickCandidate, float]] | None = None) -> float | None:
    """The first stage's probability that the question is one the FAQ answers; None when it cannot tell: no scope
    model, no candidate, or a question that may be about two things (a comparison of two names declined whole may
    still be answered part by part). `ranked` is `rank_quickly(quick, cascade)` when the caller has it."""
    ranked = rank_quickly(quick, cascade) if ranked is None else ranked
    if cascade.scope is None or not ranked or quick.one_entry_below is not None:
        return None
    (top, confidence), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
    return cascade.scope.probability(quick.features(top, confidence, confidence - second))


def decide_quickly(quick: QuickSignals, policy: Policy, explain: bool = False) -> MatchResult | None:
    """The answer, or the decline, when the cascade's first stage is decisive, else None (the embedding model is
    needed)."""
    cascade = policy.cascade
    if cascade is None:
        return None
    ranked = rank_quickly(quick, cascade)
    top, p = quick_probability(quick, cascade, ranked)
    if top is None:
        return None
    if p < cascade.answer:
        scope = scope_probability(quick, cascade, ranked)
        if scope is None or scope > cascade.decline:
            return None
        said = (f"→ none without the embedding model: p(in scope) {scope:.3f} ≤ {cascade.decline:.3f}",)
        return MatchResult("none", None, p, (), quick.query, said if explain else ())
    candidates = tuple(Candidate(c.id, round(conf, 6)) for c, conf in ranked[:3])
    lines: tuple[str, ...] = ()
    if explain:
        lines = (f"asks for: {', '.join(quick.asks) or 'nothing in particular'}",
                 *(f"{c.id}: rank {conf:.3f} without the embedding model ("
                   + ", ".join(f"{n} {v:+.2f}→{x:+.2f}" for n, v, x in cascade.rank.contributions(c.features()))
                   + ")" for c, conf in ranked[:3]),
                 f"→ answer without the embedding model: p(right) {p:.3f} ≥ {cascade.answer:.3f}")
    return MatchResult("answer", top.id, p, candidates, quick.query, lines)


def _answerable(values: Sequence[float]) -> tuple[float, ...]:
    """The decision's inputs as if the entry's answer held what the question asks for."""
    index = QUESTION_FEATURES.index("unanswerable")
    return (*values[:index], 0.0, *values[index + 1:])


def _explain(signals: Signals, policy: Policy, ranked: list[tuple[CandidateSignals, float]],
             values: Sequence[float], p: float, status: Status) -> tuple[str, ...]:
    lines = [f"asks for: {', '.join(signals.asks) or 'nothing in particular'}"]
    for c, conf in ranked[:3]:
        parts = ", ".join(f"{n} {v:+.2f}→{x:+.2f}" for n, v, x in policy.rank.contributions(c.features()))
        extra = f"; answer lacks: {', '.join(c.unanswerable)}" if c.unanswerable else ""
        lines.append(f"{c.id}: rank {conf:.3f} ({parts}){extra}")
    parts = ", ".join(f"{n} {v:+.2f}→{x:+.2f}" for n, v, x in policy.decision.contributions(values))
    lines.append(f"decision for {ranked[0][0].id}: p(right) {p:.3f} ({parts})")
    if signals.closest_unanswered:
        lines.append(f"closest listed unanswered question: {signals.closest_unanswered} "
                     f"(cosine {signals.closest_unanswered_similarity:.3f}, closest entry phrasing "
                     f"{signals.closest_answered:.3f}; taken as it at ≥ {policy.near_duplicate})")
    lines.append(f"→ {status}: answer at p ≥ {policy.answer:.3f}, suggest at p ≥ {policy.suggest:.3f}"
                 + ("; never answered: the answer lacks what is asked" if ranked[0][0].unanswerable else ""))
    return tuple(lines)


_POLICY_FIELDS = ("note", "answer", "suggest", "near_duplicate", "rank", "decision", "cascade")
_CASCADE_FIELDS = ("answer", "rank", "decision", "decline", "scope")
_RERUN = "rerun `openllm-bot calibrate`"


def load_policy(source: Path | str = POLICY_FILE) -> Policy:
    """Read a policy file (or the one for a classifier kind: "svm", "nearest"); a missing, malformed or
    stale file (other signals) is a KnowledgeError listing every problem by line."""
    path = POLICY_FILES[source] if isinstance(source, str) and source in POLICY_FILES else Path(source)
    shown = display(path)
    root = read_yaml(path, shown)
    if not isinstance(root, MappingNode):
        raise KnowledgeError([Problem(shown, 1, f"malformed policy: expected a mapping of "
                                                f"{', '.join(_POLICY_FIELDS)}; {_RERUN}")])
    problems: list[Problem] = []
    given = fields(root, "the policy", shown, problems)
    for name, (key, _) in given.items():
        if name not in _POLICY_FIELDS:
            problems.append(Problem(shown, line(key), f"malformed policy: unknown field '{name}' (allowed: "
                                                      f"{', '.join(_POLICY_FIELDS)}); {_RERUN}"))

    def probability(name: str, default: float | None = None) -> float:
        if name not in given:
            if default is None:
                problems.append(Problem(shown, 1, f"malformed policy: missing '{name}'; {_RERUN}"))
            return default or 0.0
        value = number(given[name][1])
        if value is None or not 0.0 <= value <= 1.0:
            problems.append(Problem(shown, line(given[name][1]), f"'{name}' must be a number from 0 to 1, not "
                                                                 f"{kind(given[name][1])}"))
            return default or 0.0
        return value

    answer, suggest, near_duplicate = probability("answer"), probability("suggest"), probability("near_duplicate", 0.9)
    models: dict[str, LinearModel] = {}
    for name, names in (("rank", CANDIDATE_FEATURES), ("decision", QUESTION_FEATURES)):
        if name not in given:
            problems.append(Problem(shown, 1, f"malformed policy: missing '{name}'; {_RERUN}"))
            continue
        model = _model(given[name][1], name, names, shown, problems)
        if model is not None:
            models[name] = model
    note = given["note"][1] if "note" in given else None
    if note is not None and not isinstance(note, ScalarNode):
        problems.append(Problem(shown, line(note), f"'note' must be text, not {kind(note)}"))
    if not problems and not suggest <= answer:
        problems.append(Problem(shown, line(given["suggest"][1]), "thresholds must satisfy 0 <= suggest <= answer "
                                                                  "<= 1"))
    cascade = _cascade(given["cascade"][1], shown, problems) if "cascade" in given else None
    if problems:
        raise KnowledgeError(problems)
    return Policy(models["rank"], models["decision"], answer, suggest,
                  note.value if isinstance(note, ScalarNode) else "", near_duplicate, cascade)


def _cascade(node: Node, shown: str, problems: list[Problem]) -> Cascade | None:
    """The optional `cascade`: its `answer` threshold and its own `rank` and `decision` models; optionally its
    `decline` threshold and `scope` model (both or neither)."""
    if not isinstance(node, MappingNode):
        problems.append(Problem(shown, line(node), f"malformed policy: 'cascade' must map "
                                                   f"{', '.join(_CASCADE_FIELDS)}; {_RERUN}"))
        return None
    given = fields(node, "'cascade'", shown, problems)
    for name, (key, _) in given.items():
        if name not in _CASCADE_FIELDS:
            problems.append(Problem(shown, line(key), f"malformed policy: unknown field 'cascade.{name}' (allowed: "
                                                      f"{', '.join(_CASCADE_FIELDS)}); {_RERUN}"))

    def threshold(name: str) -> float | None:
        value = number(given[name][1]) if name in given else None
        if value is None or not 0.0 <= value <= 1.0:
            where = line(given[name][1]) if name in given else line(node)
            problems.append(Problem(shown, where, f"'cascade.{name}' must be a number from 0 to 1; {_RERUN}"))
        return value

    answer = threshold("answer")
    models: dict[str, LinearModel] = {}
    optional = ("scope",) if "scope" in given or "decline" in given else ()
    for name, names in (("rank", QUICK_CANDIDATE_FEATURES), ("decision", QUICK_QUESTION_FEATURES),
                        ("scope", QUICK_QUESTION_FEATURES)):
        if name not in given:
            if name != "scope" or optional:
                problems.append(Problem(shown, line(node), f"malformed policy: 'cascade' is missing '{name}'; "
                                                           f"{_RERUN}"))
            continue
        model = _model(given[name][1], f"cascade.{name}", names, shown, problems)
        if model is not None:
            models[name] = model
    decline = threshold("decline") if optional else 0.0
    if answer is None or decline is None or len(models) < 2 + len(optional):
        return None
    return Cascade(models["rank"], models["decision"], answer, models.get("scope"), decline)


def _model(node: Node, name: str, names: tuple[str, ...], shown: str, problems: list[Problem]
           ) -> LinearModel | None:
    """A logistic model: `bias` and `weights` for exactly `names`, in that order (the code's signals)."""
    if not isinstance(node, MappingNode):
        problems.append(Problem(shown, line(node), f"malformed policy: '{name}' must map bias and weights; {_RERUN}"))
        return None
    given = fields(node, f"'{name}'", shown, problems)
    bias = number(given["bias"][1]) if "bias" in given else None
    if bias is None:
        where = line(given["bias"][1]) if "bias" in given else line(node)
        problems.append(Problem(shown, where, f"malformed policy: '{name}' needs a number 'bias'; {_RERUN}"))
    weights_node = given["weights"][1] if "weights" in given else None
    if not isinstance(weights_node, MappingNode):
        problems.append(Problem(shown, line(weights_node or node), f"malformed policy: '{name}' needs 'weights', "
                                                                   f"a number for each signal; {_RERUN}"))
        return None
    weights = fields(weights_node, f"'{name}.weights'", shown, problems)
    if tuple(weights) != names:
        problems.append(Problem(shown, line(weights_node), f"malformed policy: '{name}' weights are for "
                                                           f"{', '.join(weights)}, the code has {', '.join(names)}; "
                                                           f"{_RERUN}"))
        return None
    values = []
    for signal, (_, value_node) in weights.items():
        value = number(value_node)
        if value is None:
            problems.append(Problem(shown, line(value_node), f"'{name}' weight of {signal} must be a number, not "
                                                             f"{kind(value_node)}"))
        values.append(value or 0.0)
    return LinearModel(names, tuple(values), bias or 0.0)  # a problem above is raised before it is used


def dump_policy(policy: Policy) -> str:
    def model(m: LinearModel) -> dict:
        weights = {n: round(w, 6) for n, w in zip(m.features, m.weights, strict=True)}
        return {"bias": round(m.bias, 6), "weights": weights}

    header = ("# The decision policy: written by `openllm-bot calibrate` from the labelled questions (see\n"
              "# docs/matching.md). Weights of two logistic models and the thresholds on the second; `cascade`, the\n"
              "# first stage's models and thresholds (questions decided without the embedding model).\n")
    body = {"note": policy.note, "answer": round(policy.answer, 4), "suggest": round(policy.suggest, 4),
            "near_duplicate": policy.near_duplicate,
            "rank": model(policy.rank), "decision": model(policy.decision)}
    if policy.cascade is not None:
        cascade: dict[str, object] = {"answer": round(policy.cascade.answer, 4), "rank": model(policy.cascade.rank),
                                      "decision": model(policy.cascade.decision)}
        if policy.cascade.scope is not None:
            cascade |= {"decline": round(policy.cascade.decline, 4), "scope": model(policy.cascade.scope)}
        body["cascade"] = cascade
    return header + yaml.safe_dump(body, sort_keys=False, width=100)
