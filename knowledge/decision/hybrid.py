"""The matcher the bot uses: parse the question once, gather signals, decide.

Signals come from a classifier trained at start-up on the FAQ's phrasings and the out-of-scope
examples (classifier.py), from sentence embeddings (embedding.py), from the lexical matcher
(matcher.py) and from the answerability check (asks.py); the decision policy that weighs them
(decide.py) was fitted on labelled questions. Building takes a few seconds the first time and well
under one with the phrasings' embeddings cached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from ..content.model import Knowledge
from ..content.phrasings import OUT_OF_SCOPE, Phrasing, load_out_of_scope, training_phrasings
from ..matching.matcher import Matcher
from ..matching.normalize import clip_question, normalize
from ..result import MatchResult
from .asks import Asks, load_asks
from .classifier import NEAR_MISS_GROUP, ClassifierSettings, PhrasingClassifier
from .decide import Policy, decide, load_policy
from .embedding import Embedder, shared_embedder
from .names import versions_of
from .pairs import Joins, load_joins, pair
from .signals import CandidateSignals, Signals

CLASSIFIER_CANDIDATES = 4  # the classifier's best entries that are candidates
LEXICAL_CANDIDATES = 3  # and the lexical matcher's

# One thread per question: BLAS threads woken between ONNX Runtime's runs cost ~5 ms a question, more
# than the arithmetic they share; a server answers many questions at once anyway.
threadpool_limits(limits=1, user_api="blas")

_built: OrderedDict[str, PhrasingClassifier] = OrderedDict()  # by training data: a reload of an unchanged FAQ
_built_lock = threading.Lock()


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

    def signals(self, text: str, embedding: np.ndarray | None = None) -> Signals:
        text = clip_question(text)  # a question's first MAX_QUESTION_CHARS characters: no message costs more
        query = normalize(text)
        if embedding is None:
            embedding = self.embedder.embed([query])[0]
        asks = self.asks.asked(query)
        classifier = self.classifier
        nearest = classifier.nearest(embedding)
        values = classifier.scores(query, embedding, nearest)
        classes = classifier.classes
        out_of_scope = float(values[self._out_of_scope_class]) if self._out_of_scope_class >= 0 else 0.0
        entry_values = values[self._entry_classes]
        # The best few entries without sorting them all (a large FAQ has thousands).
        top = self._entry_classes[np.argsort(-entry_values, kind="stable")[:CLASSIFIER_CANDIDATES]] \
            if len(entry_values) <= 4 * CLASSIFIER_CANDIDATES else \
            self._entry_classes[np.argpartition(-entry_values, CLASSIFIER_CANDIDATES)[:CLASSIFIER_CANDIDATES]]
        by_score = sorted((classes[i] for i in top), key=lambda k: (-values[self._class_index[k]], k))
        lexical_ranked = self.lexical.ranked(text)
        lexical = {k: score for k, score, _ in lexical_ranked}
        coverage = {k: share for k, _, share in lexical_ranked}
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
        unknown_share, unknown_strongest = self.lexical.unknown(text)
        return Signals(query, asks, candidates, out_of_scope, best, lexical_best, similarity(OUT_OF_SCOPE),
                       unknown_share, unknown_strongest, answered, closest, closest_similarity)

    def match(self, text: str, explain: bool = False) -> MatchResult:
        text = clip_question(text)
        signals = self.signals(text)
        result = decide(signals, self.policy, self._says, explain)
        # "is GPT-4 open source?" is not answered from the GPT-3 entry as if it were covered: say so, offer the entry
        # (nor split into parts, one of which would be).
        unsaid = self.versions.uncovered(signals.query)
        if unsaid is not None:
            if result.status != "none" and result.candidates:
                result = replace(result, status="suggest", id=None, candidates=result.candidates[:1], unsaid=unsaid)
        # A question about two things ("llama vs mistral") answers both, when each part is answered on its own.
        elif (both := pair(signals.query, result, self.joins, self._decided)) is not None:
            result = replace(result, status="answer", id=both[0], also=both[1], unsaid=None)
        if explain:  # and what the lexical signal rests on: the terms and phrasings it matched
            lexical = self.lexical.match(text, explain=True).explanation
            result = replace(result, explanation=(*result.explanation, *("lexical " + line for line in lexical)))
        return result

    def _decided(self, text: str) -> MatchResult:
        """A part of a question, decided on its own."""
        return decide(self.signals(text), self.policy, self._says)


def _classifier(phrasings: tuple[Phrasing, ...], embedder: Embedder,
                settings: ClassifierSettings) -> PhrasingClassifier:
    digest = hashlib.sha256(repr((settings, embedder.fingerprint)).encode())
    for p in phrasings:
        digest.update(f"{p.label}\t{p.kind}\t{p.entry}\t{p.text}\n".encode())
    key = digest.hexdigest()
    with _built_lock:
        if key in _built:
            _built.move_to_end(key)
            return _built[key]
    embeddings = embedder.embed_cached([normalize(p.text) for p in phrasings])
    classifier = PhrasingClassifier(phrasings, embeddings, settings)
    with _built_lock:
        _built[key] = classifier
        while len(_built) > 4:
            _built.popitem(last=False)
    return classifier
