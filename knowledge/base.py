"""The knowledge the bot answers from: the FAQ, its matcher and its source links together."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from .content.files import KnowledgeError, Problem
from .content.links import SourceLink, source_link
from .content.loader import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, load_knowledge
from .content.model import Entry, Knowledge
from .content.phrasings import Phrasing, load_out_of_scope
from .content.taught import Skipped, Taught, check_taught, with_taught
from .decision.asks import Asks, load_asks
from .decision.classifier import ClassifierSettings
from .decision.decide import Policy, load_policy
from .decision.embedding import Embedder, shared_embedder
from .decision.hybrid import HybridMatcher
from .decision.pairs import Joins, load_joins
from .matching.analysis import load_synonyms
from .matching.language import in_other_language
from .matching.matcher import Thresholds
from .matching.normalize import words_key
from .result import Candidate, MatchResult

T = TypeVar("T")

# Which phrasings are the same question to the matcher: taught phrasings are checked against every phrasing of
# the FAQ at each teach and each retrain, so each phrasing is read once (a check takes 1 ms instead of 9).
_same_question = lru_cache(maxsize=32_768)(words_key)


@dataclass(frozen=True)
class KnowledgeBase:
    knowledge: Knowledge  # what the bot answers from: the FAQ with the taught phrasings applied
    matcher: HybridMatcher
    source_base_url: str | None = None
    taught: tuple[Taught, ...] = ()  # the taught phrasings applied, in order
    skipped: tuple[Skipped, ...] = ()  # the others, each with why
    # The FAQ as loaded and its out-of-scope examples: taught phrasings are applied to them afresh as
    # they change. None: `knowledge` is the FAQ, and the examples are read when first needed.
    _faq: Knowledge | None = field(default=None, repr=False, compare=False)
    _out_of_scope: tuple[Phrasing, ...] | None = field(default=None, repr=False, compare=False)
    # The taught phrasings that mean an entry, as the matcher reads them: answered with it (see `ask`).
    _meant: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        meant = {_same_question(t.text): t.entry_id for t in self.taught if t.entry_id is not None}
        object.__setattr__(self, "_meant", meant)

    @classmethod
    def load(cls, faq_dir: Path | str = DEFAULT_FAQ_DIR, seeds_dir: Path | str = DEFAULT_SEEDS_DIR,
             thresholds: Thresholds | None = None, source_base_url: str | None = None,
             policy: Policy | None = None, taught: Sequence[Taught] = (),
             embedding_cache: Path | None = None) -> KnowledgeBase:
        """Load, validate and train the matcher; raises `KnowledgeError` on an invalid FAQ.

        `policy` replaces the calibrated one (policy.yaml); `thresholds` overrides its answer and suggest
        thresholds. `taught` are applied as `with_taught` does. `embedding_cache`: the folder where the
        phrasings' embeddings are kept between runs (None: computed at every start)."""
        knowledge, policy, asks, joins, examples = _read_every_file(faq_dir, seeds_dir, policy)
        if thresholds is not None:
            policy = policy.with_thresholds(thresholds.answer, thresholds.suggest)
        return cls._trained(knowledge, examples, taught, source_base_url, policy,
                            embedder=shared_embedder(embedding_cache), asks=asks, joins=joins)

    @property
    def faq(self) -> Knowledge:
        """The FAQ as loaded, without taught phrasings."""
        return self._faq if self._faq is not None else self.knowledge

    def with_taught(self, taught: Sequence[Taught]) -> KnowledgeBase:
        """A knowledge base of the same FAQ and policy whose matcher also knows `taught` (replacing the
        taught phrasings this one has); those that cannot be taught are in its `skipped`.

        Only the matcher is trained again (a second or two): the FAQ and its documents are not re-read."""
        return self._trained(self.faq, self._examples(), taught, self.source_base_url, self.matcher.policy,
                             like=self.matcher)

    def check_taught(self, taught: Taught) -> str | None:
        """None when `taught` can be taught after this knowledge base's, else the one-line reason why not."""
        return check_taught(self.faq, taught, self.taught, out_of_scope=self._examples(), key=_same_question)

    @classmethod
    def _trained(cls, faq: Knowledge, examples: tuple[Phrasing, ...], taught: Sequence[Taught],
                 source_base_url: str | None, policy: Policy, like: HybridMatcher | None = None,
                 embedder: Embedder | None = None, asks: Asks | None = None, joins: Joins | None = None
                 ) -> KnowledgeBase:
        """`like`: the matcher whose answerability rules, joining words, embedder and classifier settings to keep
        (the files are read once, at load)."""
        result = with_taught(faq, taught, out_of_scope=examples, key=_same_question)
        matcher = HybridMatcher(result.knowledge, policy=policy, out_of_scope=examples + result.out_of_scope,
                                asks=like.asks if like else asks, embedder=like.embedder if like else embedder,
                                settings=like.settings if like else None, joins=like.joins if like else joins)
        return cls(result.knowledge, matcher, source_base_url, result.applied, result.skipped, faq, examples)

    def _examples(self) -> tuple[Phrasing, ...]:
        # Kept from load time: the file may have changed since, and this FAQ is the one it was checked against.
        return self._out_of_scope if self._out_of_scope is not None else load_out_of_scope(knowledge=self.faq)

    def ask(self, text: str, explain: bool = False) -> MatchResult:
        result = self.matcher.match(text, explain=explain)
        if result.status != "answer" and self._meant:
            # What an admin taught as meaning an entry is answered with it, as the admin Home promised, even when
            # the matcher would otherwise be unsure or find that the entry lacks what it asks.
            entry = self._meant.get(_same_question(text))
            if entry is not None:
                return replace(result, status="answer", id=entry, also=None, unsaid=None,
                               candidates=(Candidate(entry, 1.0), *(c for c in result.candidates if c.id != entry)))
        return result

    def in_other_language(self, text: str) -> bool:
        """The question is not in English (the only language the matcher and the documents speak)."""
        return in_other_language(text, self.matcher.lexical.known_words)

    def entry(self, entry_id: str) -> Entry | None:
        return self.knowledge.get(entry_id)

    def links(self, entry: Entry) -> list[SourceLink]:
        """One link per cited passage, in the order the entry cites them."""
        return [source_link(self.knowledge.documents[s.doc], s, self.source_base_url) for s in entry.sources]


def _read_every_file(faq_dir: Path | str, seeds_dir: Path | str, policy: Policy | None
                     ) -> tuple[Knowledge, Policy, Asks, Joins, tuple[Phrasing, ...]]:
    """The FAQ and its documents, the policy (unless given), the answerability rules, the joining words and the
    out-of-scope examples, each file checked; the synonym list is checked too (the matcher reads it). A
    KnowledgeError lists the problems of every file at once."""
    problems: list[Problem] = []
    unlisted = 0

    def read(load: Callable[[], T]) -> T | None:
        nonlocal unlisted
        try:
            return load()
        except KnowledgeError as exc:
            problems.extend(exc.listed)
            unlisted += exc.unlisted
            return None

    knowledge = read(lambda: load_knowledge(faq_dir, seeds_dir))
    kind = ClassifierSettings.for_entries(len(knowledge) if knowledge is not None else 0).kind
    policy = policy or read(lambda: load_policy(kind))
    asks = read(load_asks)
    read(load_synonyms)
    joins = read(load_joins)
    # Without the FAQ, the examples are checked alone (not against the FAQ's phrasings).
    examples = read(lambda: load_out_of_scope(knowledge=knowledge))
    if problems or knowledge is None or policy is None or asks is None or joins is None or examples is None:
        raise KnowledgeError(problems, unlisted)
    return knowledge, policy, asks, joins, examples
