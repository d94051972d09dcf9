"""The knowledge the bot answers from: the FAQ, its matcher and its source links together."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TypeVar

from .citing import CLOSEST, Near, PassageIndex
from .content.files import KnowledgeError, Problem
from .content.links import SourceLink, source_link
from .content.loader import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, load_knowledge
from .content.model import Entry, Knowledge, Source
from .content.phrasings import Phrasing, load_out_of_scope
from .content.taught import Skipped, Taught, check_taught, with_taught
from .content.written import NewEntry, SkippedWritten, Written, WrittenKnowledge, check_written, with_written
from .decision.asks import Asks, load_asks
from .decision.classifier import ClassifierSettings
from .decision.decide import POLICY_FILES, Policy, load_policy
from .decision.embedding import Embedder, shared_embedder
from .decision.hybrid import HybridMatcher
from .decision.pairs import Joins, load_joins
from .matching.analysis import load_synonyms
from .matching.language import in_other_language, load_word_lists
from .matching.matcher import Thresholds
from .matching.normalize import normalize, words_key, words_without_filler
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
    # The entries and answers written from Slack, applied to the FAQ before the taught phrasings (None: none).
    _written: WrittenKnowledge | None = field(default=None, repr=False, compare=False)
    _passages: PassageIndex | None = field(default=None, repr=False, compare=False)
    # The taught phrasings that mean an entry, as the matcher reads them: answered with it (see `ask`).
    _meant: Mapping[str, str] = field(init=False, repr=False, compare=False)
    # The questions (and alternates) of the entries written from Slack, likewise: answered with their entry always.
    _written_for: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _links: dict[tuple[Source, ...], tuple[SourceLink, ...]] = field(default_factory=dict, init=False, repr=False,
                                                                     compare=False)

    def __post_init__(self) -> None:
        meant = {_same_question(t.text): t.entry_id for t in self.taught if t.entry_id is not None}
        object.__setattr__(self, "_meant", meant)
        written_for = {_same_question(text): item.id for item in self.written if isinstance(item, NewEntry)
                       for text in (item.question, *item.alternates)}
        object.__setattr__(self, "_written_for", written_for)

    @classmethod
    def load(cls, faq_dir: Path | str = DEFAULT_FAQ_DIR, seeds_dir: Path | str = DEFAULT_SEEDS_DIR,
             thresholds: Thresholds | None = None, source_base_url: str | None = None,
             policy: Policy | None = None, taught: Sequence[Taught] = (),
             embedding_cache: Path | None = None, written: Sequence[Written] = ()) -> KnowledgeBase:
        """Load, validate and train the matcher; raises `KnowledgeError` on an invalid FAQ.

        `policy` replaces the calibrated one (policy.yaml); `thresholds` overrides its answer and suggest
        thresholds. `taught` and `written` are applied as `with_taught` does. `embedding_cache`: the folder where
        the phrasings' embeddings are kept between runs (None: computed at every start)."""
        knowledge, policy, asks, joins, examples = _read_every_file(faq_dir, seeds_dir, policy)
        if thresholds is not None:
            policy = policy.with_thresholds(thresholds.answer, thresholds.suggest)
        return cls._trained(knowledge, examples, taught, source_base_url, policy,
                            embedder=shared_embedder(embedding_cache), asks=asks, joins=joins,
                            written=with_written(knowledge, written))

    @property
    def faq(self) -> Knowledge:
        """The FAQ as loaded, without taught phrasings."""
        return self._faq if self._faq is not None else self.knowledge

    @property
    def written(self) -> tuple[Written, ...]:
        """The entries and answers written from Slack that were applied, in order."""
        return self._written.applied if self._written is not None else ()

    @property
    def written_skipped(self) -> tuple[SkippedWritten, ...]:
        """Those that could not be, each with why."""
        return self._written.skipped if self._written is not None else ()

    @property
    def written_faq(self) -> Knowledge:
        """The FAQ with the entries and answers written from Slack, without taught phrasings."""
        return self._written.knowledge if self._written is not None else self.faq

    def with_taught(self, taught: Sequence[Taught], written: Sequence[Written] | None = None) -> KnowledgeBase:
        """A knowledge base of the same FAQ and policy whose matcher also knows `taught` (replacing the
        taught phrasings this one has) and, unless None, `written` (replacing the entries and answers written from
        Slack this one has); those that cannot be applied are in its `skipped` and `written_skipped`.

        Only the matcher is trained again (a second or two): the FAQ and its documents are not re-read."""
        applied = self._written if written is None else with_written(self.faq, written)
        return self._trained(self.faq, self._examples(), taught, self.source_base_url, self.matcher.policy,
                             like=self.matcher, written=applied, passages=self._passages)

    def check_taught(self, taught: Taught) -> str | None:
        """None when `taught` can be taught after this knowledge base's, else the one-line reason why not."""
        return check_taught(self.written_faq, taught, self.taught, out_of_scope=self._examples(), key=_same_question)

    def check_written(self, written: Written) -> Entry:
        """The entry `written` makes (a new one, or an entry with its new answer) after what was written before,
        checked as an entry of knowledge/faq/ is; raises `WrittenRefused` saying why not, field by field."""
        return check_written(self.written_faq, written)

    def closest_passages(self, question: str, count: int = CLOSEST) -> list[Near]:
        """The passages of the documents closest to `question` (by the matcher's embedding model), closest first."""
        return self.passages.closest(question, count)

    @property
    def passages(self) -> PassageIndex:
        """The documents' passages, with their embeddings once asked for."""
        if self._passages is None:  # built without one (a test's replace()): made now
            object.__setattr__(self, "_passages", PassageIndex(self.knowledge.documents, self.matcher.embedder))
        assert self._passages is not None
        return self._passages

    @classmethod
    def _trained(cls, faq: Knowledge, examples: tuple[Phrasing, ...], taught: Sequence[Taught],
                 source_base_url: str | None, policy: Policy, like: HybridMatcher | None = None,
                 embedder: Embedder | None = None, asks: Asks | None = None, joins: Joins | None = None,
                 written: WrittenKnowledge | None = None, passages: PassageIndex | None = None) -> KnowledgeBase:
        """`like`: the matcher whose answerability rules, joining words, embedder and classifier settings to keep
        (the files are read once, at load). `written`: the FAQ with what was written from Slack applied, which the
        taught phrasings are applied to; `passages`: the documents' passages to keep (those of the same documents)."""
        base = written.knowledge if written is not None else faq
        result = with_taught(base, taught, out_of_scope=examples, key=_same_question)
        matcher = HybridMatcher(result.knowledge, policy=policy, out_of_scope=examples + result.out_of_scope,
                                asks=like.asks if like else asks, embedder=like.embedder if like else embedder,
                                settings=like.settings if like else None, joins=like.joins if like else joins)
        passages = passages or PassageIndex(faq.documents, matcher.embedder)
        return cls(result.knowledge, matcher, source_base_url, result.applied, result.skipped, faq, examples,
                   written if written is not None and (written.applied or written.skipped) else None, passages)

    def _examples(self) -> tuple[Phrasing, ...]:
        # Kept from load time: the file may have changed since, and this FAQ is the one it was checked against.
        return self._out_of_scope if self._out_of_scope is not None else load_out_of_scope(knowledge=self.faq)

    def ask(self, text: str, explain: bool = False) -> MatchResult:
        result = self.matcher.match(text, explain=explain)
        # What an admin wrote an entry for is answered with it (even when an older entry is close), and what an admin
        # taught as meaning an entry is, as the admin Home promised, when the matcher would otherwise be unsure or
        # find that the entry lacks what it asks.
        entry = self._written_for.get(_same_question(text)) if self._written_for else None
        if entry is None and result.status != "answer" and self._meant:
            entry = self._meant.get(_same_question(text))
        if entry is not None and (result.status != "answer" or result.id != entry or result.also is not None):
            return replace(result, status="answer", id=entry, also=None, unsaid=None,
                           candidates=(Candidate(entry, 1.0), *(c for c in result.candidates if c.id != entry)))
        return result

    def in_other_language(self, text: str) -> bool:
        """The question is not in English (the only language the matcher and the documents speak)."""
        return in_other_language(text, self._own_words)

    def ready(self) -> None:
        """Do now what the first questions would otherwise wait for: the other languages' word lists and the FAQ's own
        words (a server calls it before it serves; a FAQ reloaded later only computes its own words again, ~7 ms)."""
        load_word_lists()
        _ = self._own_words

    @cached_property
    def _own_words(self) -> frozenset[str]:
        """The words of the entries' questions, answers and tags and of the documents, normalised: names such as
        "llama" (Spanish too) are never another language's. Not the alternates', whose typos ("wat r the risks")
        would make another language's words ("wat", Dutch) English."""
        texts = [t for e in self.knowledge.entries for t in (e.question, e.answer, *e.tags)]
        texts += [d.text for d in self.knowledge.documents.values()]
        return frozenset(w for text in texts for w in words_without_filler(normalize(text)))

    def entry(self, entry_id: str) -> Entry | None:
        return self.knowledge.get(entry_id)

    def links(self, entry: Entry) -> list[SourceLink]:
        """One link per cited passage, in the order the entry cites them (each answer shows them: made once)."""
        made = self._links.get(entry.sources)
        if made is None:
            made = tuple(source_link(self.knowledge.documents[s.doc], s, self.source_base_url) for s in entry.sources)
            self._links[entry.sources] = made
        return list(made)


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
    # A knowledge folder may carry the policy fitted for it beside its FAQ (knowledge/policy.yaml is the shipped
    # FAQ's): a test FAQ keeps the policy its scenarios were written against, whatever `make calibrate` fits.
    beside = Path(faq_dir).parent / POLICY_FILES[kind].name
    policy = policy or read(lambda: load_policy(beside if beside.is_file() else kind))
    asks = read(load_asks)
    read(load_synonyms)
    joins = read(load_joins)
    # Without the FAQ, the examples are checked alone (not against the FAQ's phrasings).
    examples = read(lambda: load_out_of_scope(knowledge=knowledge))
    if problems or knowledge is None or policy is None or asks is None or joins is None or examples is None:
        raise KnowledgeError(problems, unlisted)
    return knowledge, policy, asks, joins, examples
