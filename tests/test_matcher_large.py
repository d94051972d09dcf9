"""Matching on a generated FAQ of 1,500 entries: the indexed, bounded search gives the scores that a
brute-force pass over every entry gives, ties keep a fixed order, and many entries with equal bounds
do not keep a question from getting its answer."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate

import pytest

from knowledge import Entry, Knowledge, Matcher
from knowledge.matching.matcher import LEXICAL

ANSWER_TERM_WEIGHT = LEXICAL.answer_term_weight
COMMON_TERM_SHARE = LEXICAL.common_term_share
COVERAGE_EXPONENT = LEXICAL.coverage_exponent
MAX_FOCUS_CANDIDATES = LEXICAL.max_focus_candidates
MIN_COMMON_DF = LEXICAL.min_common_df
TAG_EXTRA_WORDS = LEXICAL.tag_extra_words

TEMPLATES = ("what is {}", "how do i {}", "how does {} work", "can i use {} for {}", "where can i find {}",
             "what does {} mean", "which {} is best for {}", "difference between {} and {}", "tell me about {}")
SEED = 20261123


class FaqMaker:
    """Invented words (so English word frequencies do not come into it) drawn with Zipf-like weights:
    the most frequent are in the answers of most entries, which makes them common terms."""

    def __init__(self, seed: int, vocabulary: int) -> None:
        self.rng = random.Random(seed)
        words: set[str] = set()
        while len(words) < vocabulary:
            words.add("".join(self.rng.choice("bdfgklmnprstvz") + self.rng.choice("aeiou")
                              for _ in range(self.rng.randint(3, 4))))
        self.words = sorted(words)
        self.rng.shuffle(self.words)
        self.cum_weights = list(accumulate(1 / (rank + 1) for rank in range(len(self.words))))
        self.topics: dict[str, list[str]] = {}

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum_weights, k=k)

    def phrasing(self, topic: list[str], keep: int) -> str:
        content = self.rng.sample(topic, keep) + self.draw(self.rng.randint(0, 2))
        self.rng.shuffle(content)
        template = self.rng.choice(TEMPLATES)
        slots = template.count("{}")
        cut = sorted(self.rng.sample(range(1, len(content)), min(slots - 1, len(content) - 1))) if slots > 1 else []
        parts = [" ".join(content[a:b]) for a, b in zip([0, *cut], [*cut, len(content)], strict=True)]
        parts += self.draw(slots - len(parts))
        return template.format(*parts)

    def entry(self, n: int) -> Entry:
        topic = [self.rng.choice(self.words), self.rng.choice(self.words), *self.draw(1)]
        ident = f"{topic[0]}-{n}"
        self.topics[ident] = topic
        alternates = tuple(dict.fromkeys(self.phrasing(topic, self.rng.randint(1, 3)) for _ in range(6)))
        answer = " ".join(self.draw(30) + topic) + "."
        return Entry(ident, self.phrasing(topic, 3) + "?", alternates, (topic[0],), answer, (), ())

    def faq(self, n: int) -> Knowledge:
        return Knowledge(entries=tuple(self.entry(k) for k in range(n)), documents={})

    def paraphrase(self, ident: str) -> str:
        topic = self.topics[ident]
        return self.phrasing(topic, self.rng.randint(1, 3)) + "?"


@dataclass
class _Terms:
    strong: frozenset[str]
    weak: frozenset[str]
    phrasings: list[frozenset[str]]
    tags: list[tuple[str, ...]]


def _terms_of(matcher: Matcher, knowledge: Knowledge) -> list[_Terms]:
    analyzer = matcher.analyzer
    out = []
    for e in knowledge.entries:
        phrasings = [frozenset(analyzer.index_terms(text)[0]) for text in (e.question, *e.alternates)]
        tags = [tuple(analyzer.index_terms(text)[0]) for text in (*e.tags, e.id.replace("-", " "))]
        strong = frozenset().union(*phrasings, *tags)
        out.append(_Terms(strong, frozenset(analyzer.index_terms(e.answer)[0]) - strong, phrasings, tags))
    return out


def _brute_force(matcher: Matcher, knowledge: Knowledge, entries: list[_Terms], question: str) -> dict[str, float]:
    """Every entry's score for a one-sentence question, straight from the definitions: no postings, no
    bounds, no cut-off. Terms in more than COMMON_TERM_SHARE of the entries (and at least MIN_COMMON_DF)
    only count for entries that a rarer term of the question reached."""
    analyzer = matcher.analyzer
    terms, ws = analyzer.analyse(question, correct=True)
    weights: dict[str, float] = {}
    for term in terms:
        weights[term.term] = max(weights.get(term.term, 0.0), matcher.weight(term))
    total = sum(weights.values())
    if not total:
        return {}
    key = tuple(t.term for t in terms)
    for e, ix in zip(knowledge.entries, entries, strict=True):
        if key in ix.tags and len(ws) <= len(key) + TAG_EXTRA_WORDS:
            return {e.id: 1.0}
    df = {t: sum(t in ix.strong or t in ix.weak for ix in entries) for t in weights}
    common_df = max(MIN_COMMON_DF, int(COMMON_TERM_SHARE * len(entries)))
    rare = [t for t in weights if df[t] <= common_df] or [min(weights, key=df.__getitem__)]
    scores = {}
    for e, ix in zip(knowledge.entries, entries, strict=True):
        if not any(t in ix.strong or t in ix.weak for t in rare):
            continue
        covered = sum(w if t in ix.strong else ANSWER_TERM_WEIGHT * w if t in ix.weak else 0.0
                      for t, w in weights.items())
        share = 0.0
        for phrasing in ix.phrasings:
            weight = sum(matcher.idf[t] for t in phrasing)
            if weight:
                share = max(share, sum(matcher.idf[t] for t in phrasing if t in weights) / weight)
        scores[e.id] = (covered / total) ** COVERAGE_EXPONENT * share ** (1 - COVERAGE_EXPONENT)
    return scores


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (a search that never stops is one of the ways this can go wrong)."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still matching after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def generated() -> tuple[FaqMaker, Knowledge, Matcher]:
    maker = FaqMaker(SEED, 1_500)
    knowledge = maker.faq(1_500)
    return maker, knowledge, Matcher(knowledge)


def test_the_generated_faq_has_common_terms(generated: tuple[FaqMaker, Knowledge, Matcher]) -> None:
    """Otherwise the next test would not cover the way common terms are matched."""
    _, knowledge, matcher = generated
    answers = [set(matcher.analyzer.index_terms(e.answer)[0]) for e in knowledge.entries]
    most = max(sum(t in a for a in answers) for t in set().union(*answers))
    assert most > max(MIN_COMMON_DF, COMMON_TERM_SHARE * len(knowledge))


def test_scores_are_those_of_a_brute_force_pass_over_every_entry(
        generated: tuple[FaqMaker, Knowledge, Matcher]) -> None:
    maker, knowledge, matcher = generated
    entries = _terms_of(matcher, knowledge)
    rng = random.Random(SEED)
    checked = answered = 0
    for ident in rng.sample(sorted(maker.topics), 60):
        question = maker.paraphrase(ident)
        expected = _brute_force(matcher, knowledge, entries, question)
        with time_limit(10):
            result = matcher.match(question)
        best = sorted(expected.values(), reverse=True)
        assert result.score == pytest.approx(best[0] if best else 0.0, abs=1e-9), question
        for candidate in result.candidates:
            assert candidate.score == pytest.approx(expected[candidate.id], abs=1e-9), question
        assert [c.score for c in result.candidates] == pytest.approx(best[:len(result.candidates)], abs=1e-9)
        checked += 1
        answered += result.id == ident
    assert checked == 60 and answered >= 25  # the questions are about something: most get their entry


def test_entries_scoring_exactly_alike_are_listed_later_in_the_faq_first(
        generated: tuple[FaqMaker, Knowledge, Matcher]) -> None:
    """For a one-sentence question, candidates are listed by score, then by bound, then the entry later in
    the FAQ first (the order they have always had). Copies of an entry under another id score and bound
    exactly alike."""
    maker, knowledge, _ = generated
    originals = knowledge.entries[:40]
    copies = tuple(Entry(f"copy-{e.id}", e.question, e.alternates, e.tags, e.answer, (), ()) for e in originals)
    matcher = Matcher(Knowledge(entries=knowledge.entries + copies, documents={}))
    both = 0
    for original in originals:
        with time_limit(10):
            ids = [c.id for c in matcher.match(maker.paraphrase(original.id)).candidates]
        if original.id in ids and f"copy-{original.id}" in ids:
            both += 1
            assert ids.index(f"copy-{original.id}") < ids.index(original.id), ids
    assert both >= 20
    result = matcher.match(originals[0].question)
    assert result.status == "suggest"  # two entries alike: no margin for an answer
    assert [c.id for c in result.candidates[:2]] == [f"copy-{originals[0].id}", originals[0].id]
    assert result.candidates[0].score == result.candidates[1].score


def _alike(count: int) -> Knowledge:
    same = [Entry(f"same-{n}", "how do i tune the zorblat quixel?", ("zorblat quixel tuning", "tune a quixel"),
                  ("zorblat",), "Tune the zorblat quixel with care.", (), ()) for n in range(count)]
    other = [Entry("other", "what is a zorblat?", ("zorblat meaning",), (), "A zorblat is a thing.", (), ())]
    return Knowledge(entries=(*other, *same), documents={})


@pytest.mark.parametrize("count", [3, MAX_FOCUS_CANDIDATES - 1, MAX_FOCUS_CANDIDATES + 1, 600])
@pytest.mark.parametrize("question", ["how can i tune the zorblat quixel",
                                      "Well, it is what it is. How can I tune the zorblat quixel?"])
def test_many_entries_with_equal_bounds_end_the_search(count: int, question: str) -> None:
    matcher = Matcher(_alike(count))
    with time_limit(10):
        result = matcher.match(question)
    assert result.status == "suggest"
    assert [c.id for c in result.candidates] == [f"same-{n}" for n in range(count - 1, count - 4, -1)]
    assert len({c.score for c in result.candidates}) == 1
