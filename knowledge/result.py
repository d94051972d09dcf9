"""What matching a question produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

# What the bot did with a question; the store records it, the report counts it.
Status = Literal["answer", "suggest", "none"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True)
class Candidate:
    id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    """`answer`: `id` is the entry to answer; `suggest`: `candidates` (at most three)
    are the best guesses; `none`: out of scope. `query` is the normalised text. `unsaid`, with
    `suggest`, completes "My documents don't ..." (the question asks for something the documents do
    not hold, and `candidates` holds the entry about its topic)."""

    status: Status
    id: str | None
    score: float
    candidates: tuple[Candidate, ...]
    query: str
    explanation: tuple[str, ...] = field(default=(), compare=False)
    unsaid: str | None = None

    def to_json(self) -> dict:
        out = {
            "status": self.status,
            "id": self.id,
            "score": round(self.score, 4),
            "candidates": [{"id": c.id, "score": round(c.score, 4)} for c in self.candidates],
        }
        if self.unsaid:
            out["unsaid"] = self.unsaid
        return out
