"""What the matcher knows about one question: each candidate entry's signals, and the question's own.

Pure data. `hybrid.py` fills it from the classifier, the embeddings and the lexical matcher; `decide.py` turns it
into an outcome with a policy fitted on labelled questions. `QuickSignals` are what is known before the embedding
model runs (the lexical matcher, the classifier's n-gram weights): the cascade's first stage decides on them alone
when they are decisive.
"""

from __future__ import annotations

from dataclasses import dataclass

# The names of CandidateSignals.features() and Signals.features(), in order; the policy file's
# weights are keyed by them, so a renamed or reordered signal cannot be read with stale weights.
CANDIDATE_FEATURES = ("classifier", "classifier_gap", "lexical", "lexical_gap", "lexical_best",
                      "classifier_best", "similarity")
QUESTION_FEATURES = ("rank_confidence", "rank_margin", "out_of_scope", "entry_over_out_of_scope",
                     "out_of_scope_similarity", "similarity", "near_miss_over_phrasing", "lexical_best",
                     "unanswerable", "unknown_share", "unknown_strongest", "coverage")


@dataclass(frozen=True)
class CandidateSignals:
    """How one entry fits the question."""

    id: str
    classifier: float  # the classifier's score for the entry
    classifier_gap: float  # its score minus the best entry's (0 for the best)
    lexical: float  # the lexical matcher's score (0 when it did not reach the entry)
    lexical_gap: float  # minus the lexical matcher's best
    coverage: float  # the share of the question's term weight the entry explains (lexical matcher)
    lexical_best: bool
    classifier_best: bool
    similarity: float  # cosine to the entry's closest phrasing
    near_miss: float  # cosine to the closest of the entry's near misses (0 when it has none)
    unanswerable: tuple[str, ...]  # kinds of fact the question asks for that the entry's answer lacks

    def features(self) -> tuple[float, ...]:
        return (self.classifier, self.classifier_gap, self.lexical, self.lexical_gap, float(self.lexical_best),
                float(self.classifier_best), self.similarity)


@dataclass(frozen=True)
class Signals:
    """The question as normalised, what it asks for, and its candidates (best classifier score first)."""

    query: str
    asks: tuple[str, ...]
    candidates: tuple[CandidateSignals, ...]
    out_of_scope: float  # the classifier's score for "out of scope"
    classifier_best: float  # its best score for an entry
    lexical_best: float
    out_of_scope_similarity: float  # cosine to the closest out-of-scope example
    unknown_share: float = 0.0  # of the question's term weight, the share in no entry (lexical matcher's view)
    unknown_strongest: float = 0.0  # the heaviest unknown term's weight, as a share of the most a term weighs
    closest_answered: float = 0.0  # cosine to the closest phrasing of any entry
    closest_unanswered: str | None = None  # the closest near miss's entry, or OUT_OF_SCOPE, if closer than that
    closest_unanswered_similarity: float = 0.0

    def features(self, top: CandidateSignals, confidence: float, margin: float) -> tuple[float, ...]:
        """The decision's inputs once the candidates are ranked: `top` with its rank confidence and lead."""
        return (confidence, margin, self.out_of_scope, self.classifier_best - self.out_of_scope,
                self.out_of_scope_similarity, top.similarity, top.near_miss - top.similarity, self.lexical_best,
                float(bool(top.unanswerable)), self.unknown_share, self.unknown_strongest, top.coverage)


# The names of QuickCandidate.features() and QuickSignals.features(), in order (the policy's cascade is keyed by them).
QUICK_CANDIDATE_FEATURES = ("ngram", "ngram_gap", "lexical", "lexical_gap", "lexical_best", "ngram_best", "coverage")
QUICK_QUESTION_FEATURES = ("rank_confidence", "rank_margin", "out_of_scope", "entry_over_out_of_scope", "lexical_best",
                           "unknown_share", "unknown_strongest", "coverage")


@dataclass(frozen=True)
class QuickCandidate:
    """How one entry fits the question before the embedding model runs."""

    id: str
    ngram: float  # the classifier's score for the entry from its n-gram weights alone (intercept included)
    ngram_gap: float  # minus the best entry's
    lexical: float
    lexical_gap: float
    coverage: float
    lexical_best: bool
    ngram_best: bool
    unanswerable: tuple[str, ...]

    def features(self) -> tuple[float, ...]:
        return (self.ngram, self.ngram_gap, self.lexical, self.lexical_gap, float(self.lexical_best),
                float(self.ngram_best), self.coverage)


@dataclass(frozen=True)
class QuickSignals:
    """The question as normalised, what it asks for, and its candidates, from the lexical and n-gram signals."""

    query: str
    asks: tuple[str, ...]
    candidates: tuple[QuickCandidate, ...]
    out_of_scope: float  # the n-gram score for "out of scope"
    ngram_best: float  # the best n-gram score of an entry
    lexical_best: float
    unknown_share: float = 0.0
    unknown_strongest: float = 0.0
    # A question that may be about two things: decided quickly only when the runner-up candidate is less likely than
    # this (it is about one entry, and would not be split); None: one that does not split.
    one_entry_below: float | None = None

    def features(self, top: QuickCandidate, confidence: float, margin: float) -> tuple[float, ...]:
        return (confidence, margin, self.out_of_scope, self.ngram_best - self.out_of_scope, self.lexical_best,
                self.unknown_share, self.unknown_strongest, top.coverage)
