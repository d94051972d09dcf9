"""The passages of the documents closest to a question, by the matcher's embedding model: what an entry written for
the question could cite. The passages' embeddings are computed once per set of documents (and kept in the embedder's
cache, on disk too when it has one, like the FAQ's phrasings')."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .content.model import Document
from .content.passages import Passage, document_passages
from .decision.embedding import Embedder
from .forking import renew_after_fork
from .matching.normalize import normalize

CLOSEST = 5  # passages offered for a question


@dataclass(frozen=True)
class Near:
    """A passage and how close it is to the question (cosine similarity of their embeddings)."""

    passage: Passage
    similarity: float


class PassageIndex:
    """The documents' passages and their embeddings, computed when first asked for (a second or so the first time
    without a cache; a few milliseconds from the cache)."""

    def __init__(self, documents: Mapping[str, Document], embedder: Embedder) -> None:
        self.documents = documents
        self.embedder = embedder
        self._passages: tuple[Passage, ...] | None = None
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")

    @property
    def passages(self) -> tuple[Passage, ...]:
        with self._lock:
            if self._passages is None:
                self._passages = document_passages(self.documents)
            return self._passages

    def _matrix(self) -> np.ndarray:
        passages = self.passages
        with self._lock:
            if self._vectors is None:
                self._vectors = self.embedder.embed_cached([normalize(p.text) for p in passages])
            return self._vectors

    def by_key(self, key: str) -> Passage | None:
        """The passage `Passage.key` names, if the documents still hold it."""
        return next((p for p in self.passages if p.key == key), None)

    def closest(self, question: str, count: int = CLOSEST) -> list[Near]:
        """The `count` passages closest to `question`, closest first; none for a question without words."""
        query = normalize(question)
        if not query.strip() or not self.passages:
            return []
        similarities = self._matrix() @ self.embedder.embed_one(query)
        order = np.argsort(-similarities, kind="stable")[:count]
        return [Near(self.passages[i], float(similarities[i])) for i in order]
