"""The learned side of matching: a linear classifier over the FAQ's phrasings, and their embeddings.

Each training phrasing (phrasings.py) is an example of its entry or of "out of scope". Features:
the sentence embedding, character 3-5-grams (robust to typos) and word 1-2-grams. A linear SVM
(one-vs-rest) fits ~1,700 phrasings in well under a second; its scores are signals, weighed
against the lexical matcher's by the decision policy (decide.py), not probabilities themselves.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..content.phrasings import OUT_OF_SCOPE, Phrasing
from ..matching.normalize import normalize

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

log = logging.getLogger(__name__)

NEAR_MISS_GROUP = "near miss: "  # nearest() names an entry's near misses so
WORD_PATTERN = r"(?u)\b\w+\b"  # a word for the word n-grams: letters and digits, one character or more
_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams of each word padded with a space on either side, lower-cased: scikit-learn's "char_wb"
    analyzer, which the SVM is trained with (here so that scoring needs no scikit-learn; tests compare the two)."""
    ngrams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            ngrams.extend(padded[i:i + n] for i in range(max(1, len(padded) - n + 1)))
            if len(padded) <= n:  # a short word counts once, whole
                break
    return ngrams


def word_ngrams(text: str, low: int, high: int, pattern: re.Pattern[str] = re.compile(WORD_PATTERN)) -> list[str]:
    """Word n-grams, lower-cased: scikit-learn's "word" analyzer with WORD_PATTERN."""
    words = pattern.findall(text.lower())
    return [" ".join(words[i:i + n]) for n in range(low, min(high, len(words)) + 1) for i in range(len(words) - n + 1)]


@dataclass(frozen=True)
class _NgramWeights:
    """One fitted tf-idf block and the SVM's weights for it, to score one question quickly.

    scikit-learn's `transform` validates its input on every call (~0.4 ms a question a block, more
    than the arithmetic); this does the same sublinear tf-idf with the vectorizer's own analyzer,
    vocabulary and idf, and tests check it against `transform`."""

    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: np.ndarray  # features x classes
    # The character block's n-grams are each word's own ("char_wb"): its columns are kept by word, as words repeat
    # from question to question (a question's words are mostly known ones; the n-grams cost most of the scoring).
    by_word: bool = False
    _columns: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def _word_columns(self, text: str) -> list[int]:
        kept, vocabulary = self._columns, self.vocabulary
        columns: list[int] = []
        for word in _WHITE_SPACES.sub(" ", text.lower()).split():
            found = kept.get(word)
            if found is None:
                found = tuple(i for gram in self.analyzer(word) if (i := vocabulary.get(gram)) is not None)
                if len(kept) >= KEPT_WORDS:
                    kept.clear()
                kept[word] = found
            columns.extend(found)
        return columns

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(self._word_columns(text)) if self.by_word else Counter(
            i for gram in self.analyzer(text) if (i := self.vocabulary.get(gram)) is not None)
        if not counts:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
        columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
        values = (1 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.idf[columns]
        return columns, values / np.linalg.norm(values)

    def contribution(self, text: str) -> np.ndarray:
        columns, values = self.features(text)
        return values @ self.weights[columns] if len(columns) else np.zeros(self.weights.shape[1], np.float32)


KEPT_WORDS = 50_000  # words whose character n-gram columns are kept (about 7 MB at most)
EXACT_ROWS = 20_000  # phrasings compared one by one with a question; beyond, a shortlist by centroid
SHORTLIST = 64  # groups compared exactly when shortlisting
MAX_TRAINED_ENTRIES = 2000  # above this, the "nearest" classifier: an SVM per entry would take too long
KEPT_ON_DISK = 8  # trained classifiers kept in the cache folder (the most recent): a few FAQ edits or teachings back


@dataclass(frozen=True)
class ClassifierSettings:
    # "svm": a linear SVM trained on the phrasings; "nearest": each class scores its closest phrasing's
    # cosine similarity (no training: for FAQs too large to train an SVM on at start-up).
    kind: str = "svm"
    c: float = 0.3  # the SVM's inverse regularisation (0.1-3 tried: 0.3 best out of fold)
    char_ngrams: tuple[int, int] = (3, 5)
    word_ngrams: tuple[int, int] = (1, 2)

    @classmethod
    def for_entries(cls, entries: int) -> ClassifierSettings:
        return cls(kind="svm" if entries <= MAX_TRAINED_ENTRIES else "nearest")


@dataclass(frozen=True)
class TrainedSvm:
    """What training the SVM gives, all that scoring needs: its classes, the weights of the embedding's dimensions,
    the intercepts, and for each n-gram block its vocabulary, idf and weights. Kept on disk beside the embeddings,
    so that a start with an unchanged FAQ neither trains nor imports scikit-learn."""

    classes: tuple[str, ...]
    w_embedding: np.ndarray  # dimensions x classes
    intercepts: np.ndarray
    blocks: tuple[_NgramWeights, ...]  # characters, then words

    def save(self, path: Path) -> None:
        """Written whole to a new file, then renamed over the old (readers never see half); the oldest beyond
        KEPT_ON_DISK removed. A folder that cannot be written only costs training at the next start."""
        arrays: dict[str, np.ndarray] = {"classes": np.array(self.classes), "w_embedding": self.w_embedding,
                                         "intercepts": self.intercepts}
        for n, block in enumerate(self.blocks):
            arrays[f"terms{n}"] = np.array(sorted(block.vocabulary, key=block.vocabulary.__getitem__))
            arrays[f"idf{n}"], arrays[f"weights{n}"] = block.idf, block.weights
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            with tmp.open("wb") as out:
                np.savez(out, allow_pickle=False, **arrays)
            os.replace(tmp, path)
            kept = sorted(path.parent.glob("classifier-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[KEPT_ON_DISK:]:
                old.unlink(missing_ok=True)
        except OSError:
            return

    @classmethod
    def load(cls, path: Path, settings: ClassifierSettings, labels: Sequence[str], dimensions: int
             ) -> TrainedSvm | None:
        """The classifier kept at `path` for these training labels, or None: none kept, or one that is not what
        training them gives (a warning, and it is trained afresh: only a slower start)."""
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as kept:
                arrays = {name: kept[name] for name in kept.files}
            classes = tuple(str(c) for c in arrays["classes"].tolist())
            blocks = []
            for n, analyzer in enumerate(_analyzers(settings)):
                terms = [str(t) for t in arrays[f"terms{n}"].tolist()]
                idf, weights = arrays[f"idf{n}"], arrays[f"weights{n}"]
                if idf.shape != (len(terms),) or weights.shape != (len(terms), len(classes)):
                    raise ValueError(f"n-gram block {n} is not {len(terms)} terms by {len(classes)} classes")
                blocks.append(_NgramWeights(analyzer, {t: i for i, t in enumerate(terms)}, idf, weights,
                                            by_word=n == 0))
            trained = cls(classes, arrays["w_embedding"], arrays["intercepts"], tuple(blocks))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a truncated file among others
            log.warning("the kept classifier %s is unreadable (%s): trained afresh", path, exc)
            return None
        if classes != tuple(sorted(set(labels))) or trained.w_embedding.shape != (dimensions, len(classes)) \
                or trained.intercepts.shape != (len(classes),) \
                or not all(np.isfinite(a).all() for a in (trained.w_embedding, trained.intercepts,
                                                          *(b.weights for b in blocks), *(b.idf for b in blocks))):
            log.warning("the kept classifier %s is not one trained on these phrasings: trained afresh", path)
            return None
        return trained


def _analyzers(settings: ClassifierSettings) -> tuple[Callable[[str], list[str]], ...]:
    return (partial(char_wb_ngrams, low=settings.char_ngrams[0], high=settings.char_ngrams[1]),
            partial(word_ngrams, low=settings.word_ngrams[0], high=settings.word_ngrams[1]))


def _vectorizers(settings: ClassifierSettings) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    from sklearn.feature_extraction.text import TfidfVectorizer  # only to train: a kept classifier needs none

    return (TfidfVectorizer(analyzer="char_wb", ngram_range=settings.char_ngrams, sublinear_tf=True,
                            dtype=np.float32),
            TfidfVectorizer(analyzer="word", ngram_range=settings.word_ngrams, sublinear_tf=True,
                            token_pattern=WORD_PATTERN, dtype=np.float32))


def train(phrasings: Sequence[Phrasing], embeddings: np.ndarray, settings: ClassifierSettings
          ) -> tuple[TrainedSvm, tuple[TfidfVectorizer, TfidfVectorizer]]:
    """Fit the tf-idf blocks and the linear SVM on the phrasings (the embedding's dimensions, character 3-5-grams,
    word 1-2-grams); the vectorizers too, for tests to compare with."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.svm import LinearSVC

    texts = [normalize(p.text) for p in phrasings]
    labels = [p.label for p in phrasings]
    chars, words = _vectorizers(settings)
    features = hstack([csr_matrix(embeddings), chars.fit_transform(texts), words.fit_transform(texts)]).tocsr()
    svm = LinearSVC(C=settings.c, random_state=0).fit(features, labels)
    classes = tuple(str(c) for c in svm.classes_)
    # The fitted weights, split by feature block, so that scoring a question is three products
    # (scikit-learn's own decision_function re-validates its input: ~1 ms a question).
    weights = svm.coef_.astype(np.float32)
    intercepts = np.atleast_1d(svm.intercept_).astype(np.float32)
    if len(classes) == 2:  # a binary SVM has one row of weights, for the second class
        weights, intercepts = np.vstack([-weights, weights]), np.concatenate([-intercepts, intercepts])
    n_emb, n_chars = embeddings.shape[1], len(chars.vocabulary_)
    char_analyzer, word_analyzer = _analyzers(settings)
    blocks = (
        _NgramWeights(char_analyzer, chars.vocabulary_, chars.idf_.astype(np.float32),
                      np.ascontiguousarray(weights[:, n_emb:n_emb + n_chars].T), by_word=True),
        _NgramWeights(word_analyzer, words.vocabulary_, words.idf_.astype(np.float32),
                      np.ascontiguousarray(weights[:, n_emb + n_chars:].T)))
    return TrainedSvm(classes, np.ascontiguousarray(weights[:, :n_emb].T), intercepts, blocks), (chars, words)


class PhrasingClassifier:
    """Scores a question against every entry and against "out of scope"; finds its nearest phrasings."""

    def __init__(self, phrasings: Sequence[Phrasing], embeddings: np.ndarray,
                 settings: ClassifierSettings | None = None, trained: TrainedSvm | None = None) -> None:
        """`trained`: the SVM as trained on these phrasings before (kept on disk); None: trained now."""
        settings = settings or ClassifierSettings()
        if settings.kind not in ("svm", "nearest"):
            raise ValueError(f"unknown classifier {settings.kind!r} (svm or nearest)")
        self.kind = settings.kind
        # Phrasings grouped by what they are examples of, for the nearest phrasing of each entry (its
        # own), of each entry's near misses, and of the out-of-scope examples.
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(phrasings):
            key = p.label if p.label != OUT_OF_SCOPE else (NEAR_MISS_GROUP + p.entry if p.entry else OUT_OF_SCOPE)
            groups.setdefault(key, []).append(i)
        order = [i for rows in groups.values() for i in rows]
        self._grouped = np.ascontiguousarray(embeddings[order]) if order else np.zeros((0, embeddings.shape[1]))
        self.group_names: tuple[str, ...] = tuple(groups)
        self.group_index = {name: n for n, name in enumerate(self.group_names)}
        self._group_starts = np.cumsum([0, *(len(rows) for rows in groups.values())])[:-1]
        # Above EXACT_ROWS phrasings, comparing a question with every one reads more memory than it is worth
        # (110,000 phrasings: 17 ms); the groups whose centroid is closest are compared exactly instead.
        self._shortlisting = len(order) > EXACT_ROWS
        if self._shortlisting:
            sums = np.add.reduceat(self._grouped, self._group_starts, axis=0)
            self._centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            self._group_ends = np.append(self._group_starts[1:], len(order))
            # A large, varied group (the out-of-scope examples) is badly summed up by its centroid: always exact.
            self._always_exact = np.flatnonzero(self._group_ends - self._group_starts > SHORTLIST)
        entry_groups = {p.label for p in phrasings if p.label != OUT_OF_SCOPE}
        self.answered_groups = np.array([name in entry_groups for name in self.group_names], dtype=bool)
        self.trained: TrainedSvm | None = None
        self._vectorizers: tuple[TfidfVectorizer, TfidfVectorizer] | None = None
        if self.kind == "nearest":
            self.classes: tuple[str, ...] = (*(n for n in self.group_names if n in entry_groups), OUT_OF_SCOPE)
            self._class_groups = np.array([self.group_index[n] for n in self.classes[:-1]], dtype=np.intp)
            return
        if trained is None:
            trained, self._vectorizers = train(phrasings, embeddings, settings)
        self.trained = trained
        self.classes = trained.classes
        self._w_embedding = trained.w_embedding
        self._intercepts = trained.intercepts
        self._ngram_blocks = trained.blocks

    def scores(self, normalized: str, embedding: np.ndarray, nearest: np.ndarray | None = None,
               contributions: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """A score per class of `classes` (entries and OUT_OF_SCOPE), higher is more likely: the SVM's, or
        the closest phrasing's similarity (out of scope: the closest near miss or out-of-scope example).
        `nearest` is `nearest(embedding)` and `contributions` is `ngram_contributions(normalized)` when the caller
        has them already."""
        if self.kind == "nearest":
            maxima = self.nearest(embedding) if nearest is None else nearest
            unanswered = maxima[~self.answered_groups]
            return np.append(maxima[self._class_groups], unanswered.max() if unanswered.size else -1.0)
        values = embedding @ self._w_embedding + self._intercepts
        for contribution in (self.ngram_contributions(normalized) if contributions is None else contributions):
            values += contribution
        return values

    def ngram_contributions(self, normalized: str) -> tuple[np.ndarray, ...]:
        """What each n-gram block of the SVM adds to each class's score (none for the "nearest" classifier)."""
        return tuple(block.contribution(normalized) for block in self._ngram_blocks) if self.kind == "svm" else ()

    def ngram_scores(self, contributions: Sequence[np.ndarray]) -> np.ndarray | None:
        """The SVM's score per class without the embedding's part, its intercepts and n-gram weights (what is known
        of a question before the embedding model runs), from `ngram_contributions`; None for "nearest"."""
        if self.kind == "nearest":
            return None
        values = self._intercepts.copy()
        for contribution in contributions:
            values += contribution
        return values

    def ngram_features(self, normalized: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The question's tf-idf features per block (columns, values), as scoring computes them."""
        return [block.features(normalized) for block in self._ngram_blocks]

    def vectorizers(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        """The fitted scikit-learn vectorizers, for a classifier trained in this process (tests compare them)."""
        if self._vectorizers is None:
            raise ValueError("this classifier was not trained here: it was kept from an earlier start")
        return self._vectorizers

    def nearest(self, embedding: np.ndarray) -> np.ndarray:
        """Cosine similarity to the closest phrasing of each group of `group_names`: entry ids,
        NEAR_MISS_GROUP + id and OUT_OF_SCOPE (the out-of-scope file's examples). Beyond EXACT_ROWS
        phrasings, only the SHORTLIST groups with the closest centroids are exact; the others get their
        centroid's similarity, which is lower than their closest phrasing's would be."""
        if not len(self._grouped):
            return np.zeros(0, dtype=np.float32)
        if not self._shortlisting:
            return np.maximum.reduceat(self._grouped @ embedding, self._group_starts)
        # A large FAQ: every group's centroid similarity, then the closest SHORTLIST groups' phrasings exactly.
        maxima = self._centroids @ embedding
        closest = np.argpartition(-maxima, SHORTLIST)[:SHORTLIST] if len(maxima) > SHORTLIST else np.arange(len(maxima))
        shortlist = np.union1d(closest, self._always_exact)
        starts, ends = self._group_starts[shortlist], self._group_ends[shortlist]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
        offsets = np.cumsum(np.append(0, (ends - starts)[:-1]))
        maxima[shortlist] = np.maximum.reduceat(self._grouped[rows] @ embedding, offsets)
        return maxima
