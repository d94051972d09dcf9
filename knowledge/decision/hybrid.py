"""The matcher the bot uses: parse the question once, gather signals, decide.

Signals come from a classifier trained at start-up on the FAQ's phrasings and the out-of-scope
examples (classifier.py), from sentence embeddings (embedding.py), from the lexical matcher
(matcher.py) and from the answerability check (asks.py); the decision policy that weighs them
(decide.py) was fitted on labelled questions. Building takes a few seconds the first time and well
under one with the phrasings' embeddings cached.

Deciding is a cascade: the lexical matcher and the classifier's n-gram weights first (a fraction of a millisecond),
and the embedding model (most of a question's cost) only when the policy's first stage is not decisive about them.
A question asked again is answered from the results kept.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from importlib import metadata

import numpy as np
from threadpoolctl import threadpool_limits

from ..content.model import Knowledge
from ..content.phrasings import OUT_OF_SCOPE, Phrasing, load_out_of_scope, training_phrasings
from ..forking import matching, renew_after_fork
from ..matching.matcher import Matcher
from ..matching.normalize import clip_question, normalize
from ..result import MatchResult
from .asks import Asks, load_asks
from .classifier import NEAR_MISS_GROUP, ClassifierSettings, PhrasingClassifier, TrainedSvm
from .decide import Policy, decide, decide_quickly, load_policy
from .embedding import Embedder, shared_embedder
from .names import versions_of
from .pairs import Joins, Split, load_joins, one_entry_below, pair, splits
from .signals import CandidateSignals, QuickCandidate, QuickSignals, Signals

CLASSIFIER_CANDIDATES = 4  # the classifier's best entries that are candidates
LEXICAL_CANDIDATES = 3  # and the lexical matcher's
RESULTS_CACHED = 4096  # questions whose result a matcher keeps (a few hundred bytes each)
CLASSIFIER_FORMAT = 1  # of the classifiers kept on disk: a change of what is kept or how it is used changes it

# One thread per question: BLAS threads woken between ONNX Runtime's runs cost ~5 ms a question, more
# than the arithmetic they share; a server answers many questions at once anyway.
threadpool_limits(limits=1, user_api="blas")

_built: OrderedDict[str, PhrasingClassifier] = OrderedDict()  # by training data: a reload of an unchanged FAQ
_built_lock = threading.Lock()
renew_after_fork(sys.modules[__name__], "_built_lock")


class HybridMatcher:
    def __init__(self, knowledge: Knowledge, *, policy: Policy | None = None, asks: Asks | None = None,
                 out_of_scope: tuple[Phrasing, ...] | None = None, embedder: Embedder | None = None,
                 lexical: Matcher | None = None, settings: ClassifierSettings | None = None,
                 joins: Joins | None = None) -> None:
        self.knowledge = knowledge
        self.joins = joins or load_joins()  # how a question about two things splits (pairs.yaml)
        self.versions = versions_of(knowledge)  # the model versions the FAQ and its documents name
        self.settings = settings or ClassifierSettings.for_entries(len(knowledge))
        self.policy = policy or load_policy(self.settings.kind)
        self.asks = asks or load_asks()
        self.embedder = embedder or shared_embedder()
        self.lexical = lexical or Matcher(knowledge)
        if out_of_scope is None:
            out_of_scope = load_out_of_scope(knowledge=knowledge)
        self.phrasings = training_phrasings(knowledge, out_of_scope)
        self.classifier = _classifier(self.phrasings, self.embedder, self.settings)
        classes = self.classifier.classes
        self._class_index = {k: i for i, k in enumerate(classes)}
        self._out_of_scope_class = self._class_index.get(OUT_OF_SCOPE, -1)
        self._entry_classes = np.array([i for i, k in enumerate(classes) if k != OUT_OF_SCOPE], dtype=np.intp)
        self._held = {e.id: self.asks.held(e.answer) for e in knowledge.entries}
        self._says = self.asks.sayings
        # Results by question as matched (clipped, not normalised: the lexical matcher reads Slack's emphasis and
        # line breaks): a question asked again, by a burst of people or a retried event, is matched once.
        self._cache: OrderedDict[str, MatchResult] = OrderedDict()
        self._cache_lock = threading.Lock()
        renew_after_fork(self, "_cache_lock")

    def _read(self, text: str) -> _Read:
        """What both stages read of a question; `text` is clipped already."""
        query = normalize(text)
        contributions = self.classifier.ngram_contributions(query)
        ranked, (unknown_share, unknown_strongest) = self.lexical.ranked_and_unknown(text)
        return _Read(query, self.asks.asked(query), contributions, tuple(ranked), unknown_share, unknown_strongest,
                     tuple(splits(query, self.joins)))

    def quick_signals(self, text: str, read: _Read | None = None) -> QuickSignals | None:
        """What is known of the question before the embedding model runs; None when the cascade does not apply: the
        "nearest" classifier (no n-gram weights), or a question naming a model version the documents never name
        (which entry to offer instead is for the full decision). One that may be about two things carries the
        runner-up share below which it is about one entry (pairs.yaml): the first stage decides it only then."""
        read = read or self._read(clip_question(text))
        ngram = self.classifier.ngram_scores(read.contributions)
        if ngram is None or self.versions.uncovered(read.query) is not None:
            return None
        classes = self.classifier.classes
        entry_values = ngram[self._entry_classes]
        top = self._top(entry_values)
        by_score = sorted((classes[i] for i in top), key=lambda k: (-ngram[self._class_index[k]], k))
        best = float(ngram[self._class_index[by_score[0]]]) if by_score else 0.0
        lexical = {k: score for k, score, _ in read.lexical}
        coverage = {k: share for k, _, share in read.lexical}
        lexical_best = max(lexical.values(), default=0.0)
        lexical_top = max(lexical, key=lambda k: (lexical[k], k)) if lexical else None
        ids = dict.fromkeys([*by_score, *sorted(lexical, key=lambda k: (-lexical[k], k))[:LEXICAL_CANDIDATES]])

        def score(k: str) -> float:
            return float(ngram[self._class_index[k]]) if k in self._class_index else 0.0

        candidates = tuple(
            QuickCandidate(id=k, ngram=score(k), ngram_gap=score(k) - best, lexical=lexical.get(k, 0.0),
                           lexical_gap=lexical.get(k, 0.0) - lexical_best, coverage=coverage.get(k, 0.0),
                           lexical_best=k == lexical_top, ngram_best=bool(by_score) and k == by_score[0],
                           unanswerable=tuple(a for a in read.asks if a not in self._held.get(k, frozenset())))
            for k in ids if k in self._held)
        out_of_scope = float(ngram[self._out_of_scope_class]) if self._out_of_scope_class >= 0 else 0.0
        one_entry = one_entry_below(read.splits, self.joins)
        return QuickSignals(read.query, read.asks, candidates, out_of_scope, best, lexical_best, read.unknown_share,
                            read.unknown_strongest, one_entry)

    def signals(self, text: str, embedding: np.ndarray | None = None, read: _Read | None = None) -> Signals:
        read = read or self._read(clip_question(text))  # a question's first MAX_QUESTION_CHARS characters
        query = read.query
        if embedding is None:
            embedding = self.embedder.embed_one(query)
        asks = read.asks
        classifier = self.classifier
        nearest = classifier.nearest(embedding)
        values = classifier.scores(query, embedding, nearest, read.contributions)
        classes = classifier.classes
        out_of_scope = float(values[self._out_of_scope_class]) if self._out_of_scope_class >= 0 else 0.0
        entry_values = values[self._entry_classes]
        top = self._top(entry_values)
        by_score = sorted((classes[i] for i in top), key=lambda k: (-values[self._class_index[k]], k))
        lexical = {k: score for k, score, _ in read.lexical}
        coverage = {k: share for k, _, share in read.lexical}
        lexical_best = max(lexical.values(), default=0.0)
        lexical_top = max(lexical, key=lambda k: (lexical[k], k)) if lexical else None
        ids = dict.fromkeys([*by_score, *sorted(lexical, key=lambda k: (-lexical[k], k))[:LEXICAL_CANDIDATES]])
        best = float(values[self._class_index[by_score[0]]]) if by_score else 0.0
        groups = classifier.group_index

        def score(k: str) -> float:
            return float(values[self._class_index[k]]) if k in self._class_index else 0.0

        def similarity(group: str) -> float:
            return float(nearest[groups[group]]) if group in groups else 0.0

        candidates = tuple(
            CandidateSignals(
                id=k, classifier=score(k), classifier_gap=score(k) - best,
                lexical=lexical.get(k, 0.0), lexical_gap=lexical.get(k, 0.0) - lexical_best,
                coverage=coverage.get(k, 0.0),
                lexical_best=k == lexical_top, classifier_best=bool(by_score) and k == by_score[0],
                similarity=similarity(k), near_miss=similarity(NEAR_MISS_GROUP + k),
                unanswerable=tuple(a for a in asks if a not in self._held.get(k, frozenset())))
            for k in ids if k in self._held)
        answered_mask = classifier.answered_groups
        answered = float(nearest[answered_mask].max()) if answered_mask.any() else 0.0
        closest, closest_similarity = None, 0.0
        if (~answered_mask).any():
            unanswered = np.flatnonzero(~answered_mask)[int(np.argmax(nearest[~answered_mask]))]
            closest_similarity = float(nearest[unanswered])
            if closest_similarity > answered:
                closest = classifier.group_names[unanswered].removeprefix(NEAR_MISS_GROUP)
        return Signals(query, asks, candidates, out_of_scope, best, lexical_best, similarity(OUT_OF_SCOPE),
                       read.unknown_share, read.unknown_strongest, answered, closest, closest_similarity)

    def _top(self, entry_values: np.ndarray) -> np.ndarray:
        """The classes of the best CLASSIFIER_CANDIDATES entries, without sorting them all (a large FAQ has
        thousands)."""
        if len(entry_values) <= 4 * CLASSIFIER_CANDIDATES:
            return self._entry_classes[np.argsort(-entry_values, kind="stable")[:CLASSIFIER_CANDIDATES]]
        return self._entry_classes[np.argpartition(-entry_values, CLASSIFIER_CANDIDATES)[:CLASSIFIER_CANDIDATES]]

    def forget(self) -> None:
        """Drop what it keeps of the questions it matched: their results, and the embeddings of the texts it ran the
        model on (a benchmark that matches each question afresh)."""
        with self._cache_lock:
            self._cache.clear()
        self.embedder.forget()

    def match(self, text: str, explain: bool = False) -> MatchResult:
        with matching():  # a fork of this process waits for it to end (knowledge/forking.py)
            return self._cached_match(clip_question(text), explain)

    def _cached_match(self, text: str, explain: bool) -> MatchResult:
        if not explain:
            with self._cache_lock:
                cached = self._cache.get(text)
                if cached is not None:
                    self._cache.move_to_end(text)
                    return cached
        result = self._match(text, explain)
        if not explain:
            with self._cache_lock:
                self._cache[text] = result
                while len(self._cache) > RESULTS_CACHED:
                    self._cache.popitem(last=False)
        return result

    def _match(self, text: str, explain: bool) -> MatchResult:
        read = self._read(text)
        result, signals = self._decide(text, read, explain)
        parts = _Parts(self)
        # "is GPT-4 open source?" is not answered from the GPT-3 entry as if it were covered: say so, offer the entry
        # (nor split into parts, one of which would be).
        unsaid = self.versions.uncovered(read.query)
        if unsaid is not None:
            if result.status != "none" and result.candidates:
                result = replace(result, status="suggest", id=None, candidates=result.candidates[:1], unsaid=unsaid)
        # A question about two things ("llama vs mistral") answers both, when each part is answered on its own.
        elif (both := pair(read.query, result, self.joins, parts.decided,
                           lambda: self._listed(signals or self.signals(text, read=read)), read.splits,
                           parts.answered_quickly)):
            result = replace(result, status="answer", id=both[0], also=both[1], unsaid=None)
        if explain:  # and what the lexical signal rests on: the terms and phrasings it matched
            lexical = self.lexical.match(text, explain=True).explanation
            result = replace(result, explanation=(*result.explanation, *("lexical " + line for line in lexical)))
        return result

    def _decide(self, text: str, read: _Read, explain: bool = False) -> tuple[MatchResult, Signals | None]:
        """The cascade: decided on the lexical and n-gram signals alone when they are decisive, else with the
        embedding model too; and the full signals, when they were read."""
        quick = self.quick_signals(text, read)
        decided = decide_quickly(quick, self.policy, explain) if quick is not None else None
        if decided is not None:
            return decided, None
        signals = self.signals(text, read=read)
        return decide(signals, self.policy, self._says, explain), signals


    def _listed(self, signals: Signals) -> bool:
        """Whether the knowledge lists the question (its full `signals`), or one as close as the decision takes for the
        same, as out of scope or as a near miss (a comparison declined whole is then not answered part by part)."""
        return (signals.closest_unanswered is not None
                and signals.closest_unanswered_similarity >= self.policy.near_duplicate)


class _Parts:
    """The parts of a question about two things, each read once however it is decided."""

    def __init__(self, matcher: HybridMatcher) -> None:
        self._matcher = matcher
        self._reads: dict[str, _Read] = {}

    def _read(self, text: str) -> _Read:
        if text not in self._reads:
            self._reads[text] = self._matcher._read(clip_question(text))
        return self._reads[text]

    def decided(self, text: str) -> MatchResult:
        """The part decided on its own, with the embedding model (the pairs' limits are on its probabilities)."""
        m = self._matcher
        return decide(m.signals(text, read=self._read(text)), m.policy, m._says)

    def answered_quickly(self, text: str) -> MatchResult | None:
        """The part's answer when the cascade's first stage answers it, else None."""
        m = self._matcher
        quick = m.quick_signals(text, self._read(text))
        decided = decide_quickly(quick, m.policy) if quick is not None else None
        return decided if decided is not None and decided.status == "answer" else None


@dataclass(frozen=True)
class _Read:
    """What both stages of the cascade read of a question, read once."""

    query: str  # normalised
    asks: tuple[str, ...]
    contributions: tuple[np.ndarray, ...]  # the classifier's n-gram blocks' part of each class's score
    lexical: tuple[tuple[str, float, float], ...]  # the lexical matcher's entries: (id, score, coverage)
    unknown_share: float
    unknown_strongest: float
    splits: tuple[Split, ...]  # where it may split into two questions or two things compared (pairs.yaml)


def _classifier(phrasings: tuple[Phrasing, ...], embedder: Embedder,
                settings: ClassifierSettings) -> PhrasingClassifier:
    """The classifier for these phrasings: built in this process before, else kept on disk from an earlier start
    (beside the embeddings, when there is a cache folder), else trained now (and kept)."""
    digest = hashlib.sha256(repr((settings, embedder.fingerprint, CLASSIFIER_FORMAT, _scikit_learn())).encode())
    for p in phrasings:
        digest.update(f"{p.label}\t{p.kind}\t{p.entry}\t{p.text}\n".encode())
    key = digest.hexdigest()
    with _built_lock:
        if key in _built:
            _built.move_to_end(key)
            return _built[key]
    embeddings = embedder.embed_cached([normalize(p.text) for p in phrasings])
    kept = embedder.cache_dir / f"classifier-{key[:32]}.npz" if embedder.cache_dir and settings.kind == "svm" else None
    trained = TrainedSvm.load(kept, settings, [p.label for p in phrasings], embeddings.shape[1]) if kept else None
    classifier = PhrasingClassifier(phrasings, embeddings, settings, trained=trained)
    if kept is not None and trained is None and classifier.trained is not None:
        classifier.trained.save(kept)
    with _built_lock:
        _built[key] = classifier
        while len(_built) > 4:
            _built.popitem(last=False)
    return classifier


def _scikit_learn() -> str:
    """The version of scikit-learn that trains the classifier (a kept one is for that version only)."""
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return "unknown"
