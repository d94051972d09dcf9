"""Fitting the decision policy on labelled questions, and measuring it honestly (out of fold).

The classifier learns from the FAQ alone; the labelled questions (eval/*.yaml and the shared dev
set) only fit the policy: two logistic models of a handful of weights, and two thresholds. The
thresholds are chosen on out-of-fold predictions, to keep wrong answers and out-of-scope answers
rare. `cross_validate` refits everything per fold (thresholds by an inner cross-validation), so
each question is decided by a policy that never saw it.

The policy's cascade (its first stage, without the embedding model) is fitted the same way: two logistic models on
the signals known before the embedding model runs, and the lowest threshold at which answering there adds no wrong
answer and no out-of-scope answer to what the full decision gives the same questions, out of fold (but for one in
every ROWS_PER_ADDED_ERROR of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from ..content.loader import PACKAGE_DIR
from ..content.model import Knowledge
from ..content.phrasings import GROUPS, Phrasing
from ..result import MatchResult, Status
from .classifier import ClassifierSettings
from .decide import (
    Cascade,
    LinearModel,
    Policy,
    decide,
    decide_quickly,
    quick_probability,
    rank,
    rank_quickly,
    scope_probability,
)
from .evaluation import Case, Tally, evaluate_results, load_cases
from .hybrid import HybridMatcher
from .signals import (
    CANDIDATE_FEATURES,
    QUESTION_FEATURES,
    QUICK_CANDIDATE_FEATURES,
    QUICK_QUESTION_FEATURES,
    QuickSignals,
    Signals,
)

MAX_WRONG = 0.02  # of in-scope questions answered wrongly, on the data the thresholds are chosen on
MAX_OUT_OF_SCOPE = 0.03  # of out-of-scope questions answered
# Of the FAQ's own near misses and unanswered examples, each decided by a policy fitted without it: the
# in-domain questions the documents do not answer, much harder than the labelled sets' out-of-scope ones.
MAX_FAQ_OUT_OF_SCOPE = 0.08
SUGGESTION_COST = 0.5  # an out-of-scope question offered suggestions, against one in-scope question rescued
GRID = np.round(np.arange(0.05, 0.99, 0.01), 2)
CASCADE_GRID = np.round(np.arange(0.5, 1.0, 0.005), 3)  # the first stage's answer thresholds tried
DECLINE_GRID = np.round(np.arange(0.0, 0.5, 0.0025), 4)  # and its decline thresholds (on p(in scope))
# A single row, out of thousands (the FAQ's phrasings and the labelled questions), does not hold the first stage's
# threshold up: one added error is allowed per this many rows (one of 3,319 when fitted: the out-of-fold figures
# were the same to the question, and the first stage decided 444 of the 1,439 labelled questions instead of 357).
ROWS_PER_ADDED_ERROR = 2000


@dataclass(frozen=True)
class Labelled:
    signals: Signals
    expect: tuple[str, ...]  # empty: out of scope
    quick: QuickSignals | None = None  # before the embedding model; None: the cascade does not apply to it


def labelled(matcher: HybridMatcher, text: str, expect: tuple[str, ...]) -> Labelled:
    """A question's signals for both stages of the cascade."""
    return Labelled(matcher.signals(text), expect, matcher.quick_signals(text))


def decided(row: Labelled, policy: Policy, says: dict[str, str]) -> tuple[MatchResult, bool]:
    """The row decided as the matcher decides it: by the cascade's first stage when it is decisive (True), else in
    full (False)."""
    quick = decide_quickly(row.quick, policy) if row.quick is not None else None
    return (quick, True) if quick is not None else (decide(row.signals, policy, says), False)


def neutral_policy() -> Policy:
    """A policy with no weights: enough to gather signals before any policy is fitted."""
    return Policy(LinearModel(CANDIDATE_FEATURES, (0.0,) * len(CANDIDATE_FEATURES), 0.0),
                  LinearModel(QUESTION_FEATURES, (0.0,) * len(QUESTION_FEATURES), 0.0), 1.0, 1.0)


def faq_rows(knowledge: Knowledge, out_of_scope: tuple[Phrasing, ...], folds: int = 5,
             seed: int = 0, settings: ClassifierSettings | None = None) -> list[Labelled]:
    """The FAQ's own alternates, near misses and out-of-scope examples as labelled questions, each with
    the signals of a matcher trained without it (cross-fitting): many more examples of what is and is not
    answered than the labelled sets hold, near misses above all, with no labelled question among them."""
    held: list[tuple[str, str | None, Phrasing | None]] = []  # (text, entry it belongs to or None, oos item)
    for entry in knowledge.entries:
        held.extend((text, entry.id, None) for text in entry.alternates)
        held.extend((text, None, Phrasing(text, "", "near_miss", entry.id)) for text in entry.near_misses)
    held.extend((p.text, None, p) for p in out_of_scope)
    rows: list[Labelled] = []
    for _, test in KFold(folds, shuffle=True, random_state=seed).split(np.arange(len(held))):
        out = {held[i][0] for i in test}
        reduced = Knowledge(tuple(replace(e, alternates=tuple(a for a in e.alternates if a not in out),
                                          near_misses=tuple(n for n in e.near_misses if n not in out))
                                  for e in knowledge.entries), knowledge.documents)
        matcher = HybridMatcher(reduced, policy=neutral_policy(), settings=settings,
                                out_of_scope=tuple(p for p in out_of_scope if p.text not in out))
        for i in test:
            text, entry_id, _ = held[i]
            rows.append(labelled(matcher, text, (entry_id,) if entry_id else ()))
    return rows


def _logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float = 1.0) -> LinearModel:
    if len(set(y.tolist())) < 2:  # nothing to separate: a constant model
        return LinearModel(names, (0.0,) * len(names), 6.0 if y.size and y[0] else -6.0)
    model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    return LinearModel(names, tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))


def fit_models(rows: Sequence[Labelled]) -> tuple[LinearModel, LinearModel]:
    """The rank model (on in-scope questions' candidates), then the decision model on its ranking."""
    x, y = [], []
    for row in rows:
        if row.expect:
            for c in row.signals.candidates:
                x.append(c.features())
                y.append(c.id in row.expect)
    rank_model = _logistic(np.array(x, dtype=float).reshape(-1, len(CANDIDATE_FEATURES)), np.array(y),
                           CANDIDATE_FEATURES)
    provisional = Policy(rank_model, LinearModel(QUESTION_FEATURES, (0.0,) * len(QUESTION_FEATURES), 0.0), 1.0, 1.0)
    dx, dy = [], []
    for row in rows:
        ranked = rank(row.signals, provisional)
        if not ranked:
            continue
        (top, conf), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
        dx.append(row.signals.features(top, conf, conf - second))
        dy.append(top.id in row.expect)
    decision_model = _logistic(np.array(dx, dtype=float).reshape(-1, len(QUESTION_FEATURES)), np.array(dy),
                               QUESTION_FEATURES)
    return rank_model, decision_model


QuickModels = tuple[LinearModel, LinearModel, LinearModel]  # the cascade's rank, decision and scope models


def fit_quick_models(rows: Sequence[Labelled]) -> QuickModels | None:
    """The cascade's rank model (on in-scope questions' candidates), then its decision model on that ranking and its
    scope model (is the question in scope at all), from the rows the cascade applies to; None when they cannot be
    fitted (no such rows)."""
    quick = [(row.quick, row.expect) for row in rows if row.quick is not None]
    x, y = [], []
    for signals, expect in quick:
        if expect:
            for c in signals.candidates:
                x.append(c.features())
                y.append(c.id in expect)
    if not x:
        return None
    rank_model = _logistic(np.array(x, dtype=float), np.array(y), QUICK_CANDIDATE_FEATURES)
    provisional = Cascade(rank_model, LinearModel(QUICK_QUESTION_FEATURES, (0.0,) * len(QUICK_QUESTION_FEATURES),
                                                  0.0), 1.0)
    dx, dy, scope = [], [], []
    for signals, expect in quick:
        ranked = rank_quickly(signals, provisional)
        if not ranked:
            continue
        (top, conf), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
        dx.append(signals.features(top, conf, conf - second))
        dy.append(top.id in expect)
        scope.append(bool(expect))
    if not dx:
        return None
    decision_model = _logistic(np.array(dx, dtype=float), np.array(dy), QUICK_QUESTION_FEATURES)
    scope_model = _logistic(np.array(dx, dtype=float), np.array(scope), QUICK_QUESTION_FEATURES)
    return rank_model, decision_model, scope_model


Scored = tuple[float, str, bool, frozenset[str]]
# The first stage's probability of being right, its best entry, and its probability that the question is in scope
# (None: it cannot tell).
QuickScored = tuple[float, str, float | None]


def _decisions(rows: Sequence[Labelled], policy: Policy) -> list[Scored]:
    """Per row: the decision model's logit for the top entry, that entry, whether it is blocked because
    its answer lacks what the question asks for, and the three best entries (what a suggestion offers)."""
    out: list[Scored] = []
    for row in rows:
        ranked = rank(row.signals, policy)
        if not ranked:
            out.append((-50.0, "", False, frozenset()))
            continue
        (top, conf), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
        logit = policy.decision.logit(row.signals.features(top, conf, conf - second))
        out.append((logit, top.id, bool(top.unanswerable), frozenset(c.id for c, _ in ranked[:3])))
    return out


def _answered(scored: Scored, t: float) -> bool:
    return scored[0] >= t and not scored[2]


def _quick_decisions(rows: Sequence[Labelled], models: QuickModels | None) -> list[QuickScored]:
    if models is None:
        return [(0.0, "", None)] * len(rows)
    rank_model, decision_model, scope_model = models
    cascade = Cascade(rank_model, decision_model, 1.0, scope_model, 0.0)
    out: list[QuickScored] = []
    for row in rows:
        if row.quick is None:
            out.append((0.0, "", None))
            continue
        ranked = rank_quickly(row.quick, cascade)
        top, p = quick_probability(row.quick, cascade, ranked)
        out.append((p, top.id if top is not None else "", scope_probability(row.quick, cascade, ranked)))
    return out


def _added_errors(row: Labelled, quick_top: str, full: Scored, answer: float) -> bool:
    """Answering `row` with `quick_top` is a wrong or out-of-scope answer the full decision would not give."""
    if not row.expect:
        return not _answered(full, answer)
    return quick_top not in row.expect and not (_answered(full, answer) and full[1] not in row.expect)


def choose_cascade_threshold(rows: Sequence[Labelled], quick: Sequence[QuickScored], full: Sequence[Scored],
                             answer: float) -> float | None:
    """The lowest first-stage threshold at which answering there adds no wrong and no out-of-scope answer to what
    the full decision (answering at `answer`) gives the same rows, all decided out of fold, but for one in every
    ROWS_PER_ADDED_ERROR rows; None if none does."""
    allowed = len(rows) // ROWS_PER_ADDED_ERROR
    chosen = None
    for t in CASCADE_GRID[::-1]:  # from the highest: each lower one answers more
        added = sum(q[0] >= t and _added_errors(row, q[1], f, answer) for row, q, f in zip(rows, quick, full,
                                                                                          strict=True))
        if added > allowed:
            break
        chosen = float(t)
    return chosen


def choose_decline_threshold(rows: Sequence[Labelled], quick: Sequence[QuickScored], full: Sequence[Status],
                             answer: float) -> float:
    """The highest first-stage decline threshold (on its probability that the question is in scope) at which every
    question the FAQ answers that is declined there, and not answered by the first stage at `answer`, is one the
    full decision declines too, all decided out of fold: declining there takes no answer and no suggestion from a
    question the FAQ answers (an out-of-scope question it declines instead of offering guesses is declined as it
    should be). 0 (never) if none is."""
    chosen = 0.0
    for t in DECLINE_GRID:  # from the lowest: each higher one declines more
        if any(row.expect and q[2] is not None and q[2] <= t and q[0] < answer and status != "none"
               for row, q, status in zip(rows, quick, full, strict=True)):
            break
        chosen = float(t)
    return chosen


def choose_thresholds(rows: Sequence[Labelled], scored: Sequence[Scored], extra: Sequence[Labelled] = (),
                      extra_scored: Sequence[Scored] = ()) -> tuple[float, float]:
    """The answer threshold with the most right answers within MAX_WRONG and MAX_OUT_OF_SCOPE on `rows`,
    answering at most MAX_FAQ_OUT_OF_SCOPE of the out-of-scope phrasings in `extra`; then the suggest
    threshold with the best balance of rescued questions and out-of-scope ones offered guesses."""
    in_scope = sum(1 for r in rows if r.expect) or 1
    out_scope = sum(1 for r in rows if not r.expect) or 1
    faq_out = [s for r, s in zip(extra, extra_scored, strict=True) if not r.expect]
    best_answer, best_right = float(GRID[-1]), -1
    for t in GRID:
        right = wrong = oos = 0
        for row, s in zip(rows, scored, strict=True):
            if _answered(s, t):
                if not row.expect:
                    oos += 1
                elif s[1] in row.expect:
                    right += 1
                else:
                    wrong += 1
        faq_oos = sum(_answered(s, t) for s in faq_out) / (len(faq_out) or 1)
        if (wrong / in_scope <= MAX_WRONG and oos / out_scope <= MAX_OUT_OF_SCOPE
                and faq_oos <= MAX_FAQ_OUT_OF_SCOPE and right > best_right):
            best_answer, best_right = float(t), right
    best_suggest, best_value = best_answer, 0.0
    for t in GRID[best_answer >= GRID]:
        value = 0.0
        for row, (p, top, blocked, offered) in zip(rows, scored, strict=True):
            offered = frozenset((top,)) if blocked else offered  # "my documents don't say" offers one entry
            if t <= p < best_answer or (blocked and p >= t):
                value += 1.0 if offered & set(row.expect) else (-SUGGESTION_COST if not row.expect else 0.0)
        if value > best_value:
            best_suggest, best_value = float(t), value
    return best_answer, best_suggest


def fit_policy(rows: Sequence[Labelled], extra: Sequence[Labelled] = (), folds: int = 5, seed: int = 0,
               note: str = "", cascade: bool = True) -> Policy:
    """Weights fitted on `rows` and `extra` (the FAQ's own, cross-fitted). The decision is then rescaled
    (Platt scaling) so that its probability is that of being right on questions as people ask them
    (`rows`), and the thresholds are chosen on the out-of-fold decisions of both; then the cascade's first stage
    (unless `cascade` is false), its thresholds chosen on the same out-of-fold decisions."""
    rank_model, decision_model = fit_models([*rows, *extra])
    scored: list[Scored] = [(0.0, "", False, frozenset())] * len(rows)
    extra_scored: list[Scored] = [(0.0, "", False, frozenset())] * len(extra)
    quick: list[QuickScored] = [(0.0, "", None)] * len(rows)
    extra_quick: list[QuickScored] = [(0.0, "", None)] * len(extra)
    k = min(folds, len(rows))
    row_folds = list(KFold(k, shuffle=True, random_state=seed).split(np.arange(len(rows))))
    extra_folds = (list(KFold(k, shuffle=True, random_state=seed).split(np.arange(len(extra))))
                   if len(extra) >= k else [(np.arange(len(extra)), np.arange(0))] * k)
    inner_models: list[tuple[LinearModel, LinearModel]] = []
    for (train, test), (extra_train, extra_test) in zip(row_folds, extra_folds, strict=True):
        fitting = [*(rows[int(i)] for i in train), *(extra[int(i)] for i in extra_train)]
        inner_models.append(fit_models(fitting))
        inner = Policy(*inner_models[-1], 1.0, 1.0)
        for i, s in zip(test, _decisions([rows[int(i)] for i in test], inner), strict=True):
            scored[i] = s
        for i, s in zip(extra_test, _decisions([extra[int(i)] for i in extra_test], inner), strict=True):
            extra_scored[i] = s
        if cascade:
            quick_models = fit_quick_models(fitting)
            for i, q in zip(test, _quick_decisions([rows[int(i)] for i in test], quick_models), strict=True):
                quick[i] = q
            for i, q in zip(extra_test, _quick_decisions([extra[int(i)] for i in extra_test], quick_models),
                            strict=True):
                extra_quick[i] = q
    logits = np.array([[s[0]] for s in scored])
    right = np.array([bool(r.expect) and s[1] in r.expect for r, s in zip(rows, scored, strict=True)])
    scale = _logistic(logits, right, ("logit",))
    a, c = scale.weights[0], scale.bias

    def rescaled_model(model: LinearModel) -> LinearModel:
        return LinearModel(model.features, tuple(a * w for w in model.weights), a * model.bias + c)

    def rescale(s: Scored) -> Scored:
        return float(1 / (1 + np.exp(-(a * s[0] + c)))), s[1], s[2], s[3]

    rescaled, extra_rescaled = [rescale(s) for s in scored], [rescale(s) for s in extra_scored]
    answer, suggest = choose_thresholds(rows, rescaled, extra, extra_rescaled)
    first_stage = None
    if cascade and (models := fit_quick_models([*rows, *extra])) is not None:
        threshold = choose_cascade_threshold([*rows, *extra], [*quick, *extra_quick], [*rescaled, *extra_rescaled],
                                             answer)
        if threshold is not None:
            # What the full decision makes of each row, out of fold (each fold's models, rescaled, at the thresholds).
            statuses: list[Status] = ["none"] * len(rows)
            extra_statuses: list[Status] = ["none"] * len(extra)
            for (ranking, deciding), (_, test), (_, extra_test) in zip(inner_models, row_folds, extra_folds,
                                                                       strict=True):
                fold = Policy(ranking, rescaled_model(deciding), answer, suggest)
                for i in test:
                    statuses[i] = decide(rows[int(i)].signals, fold, {}).status
                for i in extra_test:
                    extra_statuses[i] = decide(extra[int(i)].signals, fold, {}).status
            decline = choose_decline_threshold([*rows, *extra], [*quick, *extra_quick], [*statuses, *extra_statuses],
                                               threshold)
            first_stage = Cascade(*models[:2], threshold, models[2], decline)
    return Policy(rank_model, rescaled_model(decision_model), answer, suggest, note, cascade=first_stage)


def cross_validate(rows: Sequence[Labelled], says: dict[str, str], extra: Sequence[Labelled] = (),
                   folds: int = 10, seed: int = 0, cascade: bool = True) -> list[tuple[MatchResult, bool]]:
    """Each row decided by a policy fitted (weights, thresholds and cascade) on the other folds only; with whether
    the cascade's first stage decided it (without the embedding model)."""
    results: list[tuple[MatchResult, bool] | None] = [None] * len(rows)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(np.arange(len(rows))):
        policy = fit_policy([rows[i] for i in train], extra, seed=seed, cascade=cascade)
        for i in test:
            results[i] = decided(rows[i], policy, says)
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class Calibration:
    """A fitted policy and the honest figures: every labelled question decided out of fold."""

    policy: Policy
    cases: list[tuple[str, Case]]  # (set name, case)
    out_of_fold: list[MatchResult]
    quickly: tuple[bool, ...] = ()  # per case: out of fold, decided by the cascade's first stage

    def tallies(self) -> dict[str, Tally]:
        """Per set (by file name) and 'all'."""
        out: dict[str, Tally] = {"all": Tally()}
        for (name, case), result in zip(self.cases, self.out_of_fold, strict=True):
            out["all"].add(case, result)
            out.setdefault(name, Tally()).add(case, result)
        return out

    def tallies_by_kind(self) -> dict[str, Tally]:
        return evaluate_results([c for _, c in self.cases], self.out_of_fold)


def calibrate(matcher: HybridMatcher, sets: Sequence[Path], folds: int = 10, seed: int = 0,
              cascade: bool = True) -> Calibration:
    """Fit the policy on the labelled `sets` (and the FAQ's own cross-fitted phrasings) and measure it
    out of fold. The matcher supplies the FAQ, the out-of-scope examples and the signals. `cascade`: false fits
    and measures the policy without the cascade's first stage (every question decided with the embedding model)."""
    cases = [(path.name, case) for path in sets for case in load_cases(path)]
    rows = [labelled(matcher, case.q, case.expect) for _, case in cases]
    extra = faq_rows(matcher.knowledge, tuple(p for p in matcher.phrasings if p.kind in GROUPS), seed=seed,
                     settings=matcher.settings)
    says = matcher.asks.sayings
    out_of_fold = cross_validate(rows, says, extra, folds=folds, seed=seed, cascade=cascade)
    note = (f"{matcher.settings.kind} classifier; fitted on {', '.join(p.name for p in sets)} ({len(rows)} questions) "
            f"and {len(extra)} FAQ phrasings")
    policy = fit_policy(rows, extra, seed=seed, note=note, cascade=cascade)
    return Calibration(policy, cases, [r for r, _ in out_of_fold], tuple(q for _, q in out_of_fold))


def labelled_sets() -> list[Path]:
    """The labelled sets the policy is fitted on: the repository's eval/*.yaml and the shared dev set.
    Blind sets (eval/blind/) are never among them: they are run once, to check."""
    root = PACKAGE_DIR.parent
    shared = root.parent / "shared" / "eval" / "dev.yaml"
    return [*([shared] if shared.is_file() else []), *sorted((root / "eval").glob("*.yaml"))]
