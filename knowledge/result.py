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
    not hold, and `candidates` holds the entry about its topic). `also`, with `answer`: a second entry
    to answer, for a question about two things ("llama vs mistral")."""

    status: Status
    id: str | None
    score: float
    candidates: tuple[Candidate, ...]
    query: str
    explanation: tuple[str, ...] = field(default=(), compare=False)
    unsaid: str | None = None
    also: str | None = None

    @property
    def answered(self) -> tuple[str, ...]:
        """The entries answered: none, one, or two for a question about two things."""
        return tuple(i for i in (self.id, self.also) if i) if self.status == "answer" else ()

    def to_json(self) -> dict:
        out = {
            "status": self.status,
            "id": self.id,
            "score": round(self.score, 4),
            "candidates": [{"id": c.id, "score": round(c.score, 4)} for c in self.candidates],
        }
        if self.unsaid:
            out["unsaid"] = self.unsaid
        if self.also:
            out["also"] = self.also
        return out
