"""The knowledge the bot answers from: the FAQ, its matcher and its source links together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .classifier import ClassifierSettings
from .decide import Policy, load_policy
from .hybrid import HybridMatcher
from .language import in_other_language
from .links import SourceLink, source_link
from .loader import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, load_knowledge
from .matcher import Thresholds
from .model import Entry, Knowledge
from .result import MatchResult


@dataclass(frozen=True)
class KnowledgeBase:
    knowledge: Knowledge
    matcher: HybridMatcher
    source_base_url: str | None = None

    @classmethod
    def load(cls, faq_dir: Path | str = DEFAULT_FAQ_DIR, seeds_dir: Path | str = DEFAULT_SEEDS_DIR,
             thresholds: Thresholds | None = None, source_base_url: str | None = None,
             policy: Policy | None = None) -> KnowledgeBase:
        """Load, validate and train the matcher; raises `KnowledgeError` on an invalid FAQ.

        `policy` replaces the calibrated one (policy.yaml); `thresholds` overrides its answer and suggest
        thresholds."""
        knowledge = load_knowledge(faq_dir, seeds_dir)
        policy = policy or load_policy(ClassifierSettings.for_entries(len(knowledge)).kind)
        if thresholds is not None:
            policy = policy.with_thresholds(thresholds.answer, thresholds.suggest)
        return cls(knowledge, HybridMatcher(knowledge, policy=policy), source_base_url)

    def ask(self, text: str, explain: bool = False) -> MatchResult:
        return self.matcher.match(text, explain=explain)

    def in_other_language(self, text: str) -> bool:
        """The question is not in English (the only language the matcher and the documents speak)."""
        return in_other_language(text, self.matcher.lexical.known_words)

    def entry(self, entry_id: str) -> Entry | None:
        return self.knowledge.get(entry_id)

    def links(self, entry: Entry) -> list[SourceLink]:
        """One link per cited passage, in the order the entry cites them."""
        return [source_link(self.knowledge.documents[s.doc], s, self.source_base_url) for s in entry.sources]
