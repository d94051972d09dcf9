"""Match a question to FAQ entries (first version: fuzzy matching on questions and alternates)."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from .model import Knowledge
from .result import Candidate, MatchResult


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.80
    suggest: float = 0.55
    margin: float = 0.04


class Matcher:
    def __init__(self, knowledge: Knowledge, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._phrases: list[str] = []
        self._owners: list[str] = []
        for entry in knowledge.entries:
            for phrase in (entry.question, *entry.alternates, *entry.tags, entry.id.replace("-", " ")):
                self._phrases.append(phrase)
                self._owners.append(entry.id)

    def match(self, text: str, explain: bool = False) -> MatchResult:
        query = default_process(text)
        best: dict[str, float] = {}
        for _, score, index in process.extract(query, self._phrases, scorer=fuzz.WRatio,
                                               processor=default_process, limit=30):
            owner = self._owners[index]
            best[owner] = max(best.get(owner, 0.0), score / 100)
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        candidates = tuple(Candidate(i, s) for i, s in ranked[:3])
        t = self.thresholds
        if not ranked or ranked[0][1] < t.suggest:
            return MatchResult("none", None, ranked[0][1] if ranked else 0.0, candidates, query)
        top = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if top >= t.answer and top - second >= t.margin:
            return MatchResult("answer", ranked[0][0], top, candidates, query)
        return MatchResult("suggest", None, top, candidates, query)
