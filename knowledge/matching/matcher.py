"""Match a question to FAQ entries: answer, suggest up to three, or decline.

Each entry is indexed as phrasings (its question and alternates), a bag of strong terms
(phrasings, tags, id) and a bag of weak terms (its answer). A question's terms are weighted
by how well they tell entries apart (inverse document frequency over the FAQ); words the FAQ
does not know weigh by how rare they are in English, so "what's the context window on
llama 3 70b" is mostly made of things the FAQ cannot answer. An entry scores by how much of
the question it explains (coverage) and how completely one of its phrasings is matched
(focus). Long messages are also scored sentence by sentence.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

import numpy as np

from ..content.model import Knowledge
from ..result import Candidate, MatchResult, Status
from .analysis import Analyzer, Term, english_zipf, load_synonyms
from .normalize import clip_question, emphasised, normalize, segments


@dataclass(frozen=True)
class Thresholds:
    """Calibrated on the dev set (see docs/quality.md): answer at or above `answer` with a lead
    of at least `margin` over the runner-up; suggest at or above `suggest`; otherwise decline."""

    answer: float = 0.60
    suggest: float = 0.40
    margin: float = 0.04


@dataclass(frozen=True)
class LexicalSettings:
    """The lexical matcher's tuning, in one place."""

    answer_term_weight: float = 0.5  # a word found only in an entry's answer is weaker evidence than in its phrasings
    coverage_exponent: float = 0.7  # score = coverage^this x focus^(1 - this)
    # English frequency band (zipf) over which a word the FAQ does not know goes from light to full weight.
    common_zipf: float = 5.5
    rare_zipf: float = 4.0
    min_unknown_share: float = 0.2
    # A word in only one entry has the highest IDF even when it is everyday English ("worth", "inside");
    # damping IDF by English frequency keeps such words from deciding a match on their own.
    damp_from_zipf: float = 4.0
    damp_to_zipf: float = 6.5
    min_damping: float = 0.3
    tag_extra_words: int = 1  # a message matches a tag exactly only if it is at most this many words longer
    # Terms in more entries than this only add to candidates that rarer terms found (a large FAQ's
    # common words would otherwise make every question touch most entries).
    common_term_share: float = 0.05
    min_common_df: int = 200
    max_focus_candidates: int = 256  # at most this many best-bounded entries get their phrasings compared
    max_segments: int = 16
    min_part_terms: int = 2  # a one-word fragment ("Anyway,") is not a question on its own, unless it asks
    aside_factor: float = 0.85  # in a message with a question sentence, the rest (and the whole) counts less
    emphasis_boost: float = 2.0  # weight multiplier for terms the user set in *bold*, `code` or _italics_

    @property
    def focus_exponent(self) -> float:
        return 1 - self.coverage_exponent


LEXICAL = LexicalSettings()


@dataclass
class _Indexed:
    id: str
    phrases: list[tuple[str, frozenset[str]]]
    strong: frozenset[str]
    weak: frozenset[str]
    tags: frozenset[tuple[str, ...]]


class _Score(NamedTuple):
    score: float
    coverage: float
    focus: float
    phrase: str


def _damping(zipf: float, s: LexicalSettings) -> float:
    share = (s.damp_to_zipf - zipf) / (s.damp_to_zipf - s.damp_from_zipf)
    return min(1.0, max(s.min_damping, share))


class Matcher:
    def __init__(self, knowledge: Knowledge, thresholds: Thresholds | None = None,
                 analyzer: Analyzer | None = None, settings: LexicalSettings = LEXICAL) -> None:
        self.thresholds = thresholds or Thresholds()
        self.settings = settings
        self.analyzer = analyzer or Analyzer(load_synonyms())
        known_words: set[str] = set()
        self._entries: list[_Indexed] = []
        for entry in knowledge.entries:
            phrases = []
            for text in (entry.question, *entry.alternates):
                terms, ws = self.analyzer.index_terms(text)
                known_words.update(ws)
                phrases.append((text, frozenset(terms)))
            tag_terms = []
            for text in (*entry.tags, entry.id.replace("-", " ")):
                terms, ws = self.analyzer.index_terms(text)
                known_words.update(ws)
                tag_terms.append(tuple(terms))
            answer_terms, ws = self.analyzer.index_terms(entry.answer)
            known_words.update(ws)
            strong = frozenset().union(*(p for _, p in phrases), *(set(t) for t in tag_terms))
            weak = frozenset(answer_terms) - strong
            self._entries.append(_Indexed(entry.id, phrases, strong, weak, frozenset(t for t in tag_terms if t)))
        self.analyzer.set_vocabulary(known_words)
        self.known_words = frozenset(known_words)  # every word the FAQ uses, as normalised
        surfaces: dict[str, float] = {}
        for word in known_words:  # already normalised words: no need to analyse them as text
            term = self.analyzer.single(word)
            if term is not None:
                # A synonym group is a deliberate concept, however common its words are.
                zipf = 0.0 if term.synonym else english_zipf(word)
                surfaces[term.term] = max(surfaces.get(term.term, 0.0), zipf)
        n = len(self._entries)
        # Document frequency counts phrasings and tags (what an entry is about); a word that appears
        # only in answers counts there instead.
        # Postings make scoring proportional to the question's terms, not to the size of the FAQ.
        self._strong_postings: dict[str, list[int]] = defaultdict(list)
        self._weak_postings: dict[str, list[int]] = defaultdict(list)
        for i, indexed in enumerate(self._entries):
            for key in indexed.strong:
                self._strong_postings[key].append(i)
            for key in indexed.weak:
                self._weak_postings[key].append(i)
        df = {t: len(p) for t, p in self._weak_postings.items()}
        self._postings_size = df.copy()  # entries a term is in, by phrasings or answer: rare or common
        for t, p in self._strong_postings.items():
            self._postings_size[t] = self._postings_size.get(t, 0) + len(p)
        df.update((t, len(p)) for t, p in self._strong_postings.items())
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) * _damping(surfaces.get(t, 0.0), settings)
                    for t, d in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        self._tag_owner = {tag: i for i, ix in enumerate(self._entries) for tag in ix.tags}
        self._common_df = max(self.settings.min_common_df, int(self.settings.common_term_share * n))
        # Sets for the few common terms, so that their entries among those already reached are found by
        # one intersection, whichever is smaller.
        self._common_postings = {t: (frozenset(self._strong_postings.get(t, ())),
                                     frozenset(self._weak_postings.get(t, ())))
                                 for t, size in self._postings_size.items() if size > self._common_df}
        self._entry_phrases: list[list[int]] = [[] for _ in self._entries]
        # Arrays rather than lists of floats: scoring reads them at scattered entries, and one compact block
        # stays in the CPU's cache where float objects spread over the heap do not.
        self._min_phrase_total = array("d", [math.inf]) * len(self._entries)
        self._phrase_terms: list[frozenset[str]] = []
        self._phrase_text: list[str] = []
        self._phrase_total = array("d")
        for i, indexed in enumerate(self._entries):
            for text, phrase in indexed.phrases:
                total = sum(map(self.idf.__getitem__, phrase))
                if not total:
                    continue
                self._entry_phrases[i].append(len(self._phrase_total))
                if total < self._min_phrase_total[i]:
                    self._min_phrase_total[i] = total
                self._phrase_terms.append(phrase)
                self._phrase_text.append(text)
                self._phrase_total.append(total)
        # A phrasing's focus on a question is the idf its terms share with the question over its own: per term, the
        # phrasings it is in and its idf over theirs, so that a question's focus on every phrasing is a few array
        # additions instead of a set intersection and a sum per phrasing of each entry it reaches.
        by_term: dict[str, list[int]] = defaultdict(list)
        for at, phrase_terms in enumerate(self._phrase_terms):
            for key in phrase_terms:
                by_term[key].append(at)
        totals = np.frombuffer(self._phrase_total, dtype=np.float64) if len(self._phrase_total) else np.zeros(0)
        self._focus_postings = {t: (np.array(ps, dtype=np.intp), self.idf[t] / totals[ps]) for t, ps in by_term.items()}
        self._entry_span = [(ps[0], ps[-1] + 1) if ps else (0, 0) for ps in self._entry_phrases]

    def weight(self, term: Term) -> float:
        if term.term in self.idf:
            return self.idf[term.term]
        s = self.settings
        rarity = (s.common_zipf - english_zipf(term.read_as.split()[0])) / (s.common_zipf - s.rare_zipf)
        return self.max_idf * min(1.0, max(s.min_unknown_share, rarity))

    def _score_segment(self, terms: list[Term], n_words: int, boosted: frozenset[str],
                       pool: frozenset[int] | None = None) -> tuple[dict[int, _Score], list[int]]:
        """Scores of the best entries for one segment, and the best-bounded entries (a pool for its parts).

        With `pool`, only those entries are considered: a sentence of a long message is scored against
        the candidates of the whole message instead of the whole FAQ (and the entries returned with
        the scores are then only those visited)."""
        weights: dict[str, float] = {}
        for term in terms:
            weight = self.weight(term) * (self.settings.emphasis_boost if term.term in boosted else 1.0)
            weights[term.term] = max(weights.get(term.term, 0.0), weight)
        total = sum(weights.values())
        if not total:
            return {}, []
        as_tag = tuple(t.term for t in terms)
        if as_tag in self._tag_owner and n_words <= len(as_tag) + self.settings.tag_extra_words:
            owner = self._tag_owner[as_tag]
            return {owner: _Score(1.0, 1.0, 1.0, "tag: " + " ".join(t.surface for t in terms))}, [owner]
        size = self._postings_size
        rare = [t for t in weights if size.get(t, 0) <= self._common_df]
        common = [t for t in weights if size.get(t, 0) > self._common_df]
        if not rare and common:
            rare = [min(common, key=size.__getitem__)]
            common.remove(rare[0])
        if pool is not None:
            rare, common = [], [*rare, *common]
        # Per entry, in the order of the question's terms (so the sums are the same to the last bit
        # whichever way the entries are found): the weight of the question it covers, and the idf of
        # the question's terms among its phrasings. Lists indexed by entry are the cheapest to add to.
        strong_postings, weak_postings, idf = self._strong_postings, self._weak_postings, self.idf
        walks: list[tuple[str, Collection[int], Collection[int]]] = [
            (t, strong_postings.get(t, ()), weak_postings.get(t, ())) for t in rare]
        reached = pool if pool is not None else frozenset().union(*(w[1] for w in walks), *(w[2] for w in walks))
        # A common term only adds to the entries that rarer terms reached.
        strong: Collection[int]
        weak: Collection[int]
        for t in common:
            sets = self._common_postings.get(t)
            strong, weak = sets if sets else (strong_postings.get(t, ()), weak_postings.get(t, ()))
            walks.append((t, reached.intersection(strong), reached.intersection(weak)))
        covered = [0.0] * len(self._entries)
        in_phrasings = [0.0] * len(self._entries)
        phrased: set[int] = set()  # entries with some of the question's terms in their phrasings
        answer_term_weight = self.settings.answer_term_weight
        for key, strong_entries, weak_entries in walks:
            weight, term_idf = weights[key], idf.get(key, 0.0)
            for i in strong_entries:
                covered[i] += weight
                in_phrasings[i] += term_idf
            weak_weight = answer_term_weight * weight
            for i in weak_entries:
                covered[i] += weak_weight
            phrased.update(strong_entries)
        ranked = self._best_bounded(covered, in_phrasings, phrased, reached, total)
        scores: dict[int, _Score] = {}
        candidates: list[int] = []
        top3: list[float] = []
        query = frozenset(weights)
        coverage_exponent, focus_exponent = self.settings.coverage_exponent, self.settings.focus_exponent
        focus = np.zeros(len(self._phrase_total))
        for key in query:
            postings = self._focus_postings.get(key)
            if postings is not None:
                focus[postings[0]] += postings[1]
        spans = self._entry_span
        for bound, i in ranked:  # best bound first, until none left can beat the third best score
            candidates.append(i)
            if len(top3) == 3 and bound <= top3[-1]:
                break
            start, end = spans[i]
            best = start + int(focus[start:end].argmax()) if end > start else -1
            share = float(focus[best]) if best >= 0 else 0.0
            if share <= 0.0:
                best = -1
            coverage = covered[i] / total
            score = coverage ** coverage_exponent * share ** focus_exponent
            scores[i] = _Score(score, coverage, share, self._phrase_text[best] if best >= 0 else "")
            top3 = sorted((*top3, score), reverse=True)[:3]
        if pool is None:  # the parts of a message only need the pool of the whole
            candidates += (i for _, i in ranked)
        return scores, candidates

    def _best_bounded(self, covered: list[float], in_phrasings: list[float], phrased: set[int],
                      reached: frozenset[int], total: float) -> Iterator[tuple[float, int]]:
        """The settings' max_focus_candidates entries of highest (bound, index), best first, with their bounds.

        An entry's focus is at most min(1, in_phrasings / its shortest phrasing's weight), which bounds
        its score. Only entries with question terms in their phrasings can have a bound above 0; the
        others reached (with some covered weight) come after them, as sorting every (bound, index) would
        place them: by index, largest first. They are rarely needed, so they are sorted only if asked for."""
        min_total = self._min_phrase_total
        ids = list(phrased)
        coverage_exponent, focus_exponent = self.settings.coverage_exponent, self.settings.focus_exponent
        values = [(covered[i] / total) ** coverage_exponent  # (q if q < 1.0 else 1.0) is min(1.0, q) without a call
                  * (q if (q := in_phrasings[i] / min_total[i]) < 1.0 else 1.0) ** focus_exponent for i in ids]
        if len(values) > self.settings.max_focus_candidates:
            cut = sorted(values, reverse=True)[self.settings.max_focus_candidates - 1]
            if cut > 0.0:
                best = [(b, i) for b, i in zip(values, ids, strict=True) if b >= cut]
                return iter(sorted(best, reverse=True)[:self.settings.max_focus_candidates])
        positive = sorted([(b, i) for b, i in zip(values, ids, strict=True) if b > 0.0], reverse=True)

        def zero_bounded() -> Iterator[tuple[float, int]]:  # a generator: runs only once `positive` is used up
            seen = {i for _, i in positive}
            zero = sorted((i for i in reached if covered[i] and i not in seen), reverse=True)
            for i in zero[:self.settings.max_focus_candidates - len(positive)]:
                yield 0.0, i

        return chain(positive, zero_bounded())

    def unknown(self, text: str) -> tuple[float, float]:
        """How much of the question is about things the FAQ never mentions: the share of its term weight
        that is in no entry, and the heaviest such term's weight as a share of the most a term can weigh
        ("how do I fine-tune with LoRA" is mostly known words, but LoRA is rare and unknown)."""
        return self._unknown(self.analyzer.terms(clip_question(text), correct=True))

    def ranked_and_unknown(self, text: str) -> tuple[list[tuple[str, float, float]], tuple[float, float]]:
        """`ranked(text)` and `unknown(text)`, from one reading of the question's terms."""
        ranked, analysed = self._rank(clip_question(text))
        return [(self._entries[i].id, s.score, s.coverage) for i, s in ranked], self._unknown(analysed)

    def _unknown(self, terms: list[Term]) -> tuple[float, float]:
        weights = {t.term: self.weight(t) for t in terms}
        total = sum(weights.values())
        unknown = [w for t, w in weights.items() if t not in self.idf]
        if not total or not unknown:
            return 0.0, 0.0
        return sum(unknown) / total, max(unknown) / self.max_idf

    def ranked(self, text: str) -> list[tuple[str, float, float]]:
        """Every entry the question reaches, best first, with its lexical score and its coverage (the
        share of the question's term weight the entry explains)."""
        return self.ranked_and_unknown(text)[0]

    def match(self, text: str, explain: bool = False) -> MatchResult:
        """The best entries for the question `text` (of which the first MAX_QUESTION_CHARS characters are read)."""
        text = clip_question(text)
        query = normalize(text)
        ranked, analysed = self._rank(text)
        candidates = tuple(Candidate(self._entries[i].id, s.score) for i, s in ranked[:3])
        top = ranked[0][1].score if ranked else 0.0
        second = ranked[1][1].score if len(ranked) > 1 else 0.0
        t = self.thresholds
        status: Status
        if ranked and top >= t.answer and top - second >= t.margin:
            status, entry_id = "answer", self._entries[ranked[0][0]].id
        elif ranked and top >= t.suggest:
            status, entry_id = "suggest", None
        else:
            status, entry_id, candidates = "none", None, candidates if top > 0 else ()
        lines = self._explain(analysed, ranked) if explain else ()
        return MatchResult(status, entry_id, top, candidates if status != "none" else (), query, lines)

    def _rank(self, text: str) -> tuple[list[tuple[int, _Score]], list[Term]]:
        parts = segments(text)[:self.settings.max_segments]
        has_question = any(question for _, question in parts)
        aside = self.settings.aside_factor
        pieces = [(text, aside if has_question and len(parts) > 1 else 1.0, False)]
        pieces += [(part, 1.0 if question or not has_question else aside, question) for part, question in parts]
        boosted = frozenset(t.term for span in emphasised(text) for t in self.analyzer.terms(span, correct=True))
        best: dict[int, _Score] = {}
        analysed: list[Term] = []
        pool: frozenset[int] | None = None
        for n, (segment, factor, question) in enumerate(pieces):
            terms, ws = self.analyzer.analyse(segment, correct=True)
            if n and len(terms) < self.settings.min_part_terms and not question:
                continue
            scores, candidates = self._score_segment(terms, len(ws), boosted, pool)
            if n == 0:
                analysed, pool = terms, frozenset(candidates)
            for i, s in scores.items():
                if factor != 1.0:
                    s = _Score(s.score * factor, s.coverage, s.focus, s.phrase)
                if i not in best or s.score > best[i].score:
                    best[i] = s
        ranked = sorted(best.items(), key=lambda kv: kv[1].score, reverse=True)
        return ranked, analysed

    def _explain(self, terms: list[Term], ranked: list[tuple[int, _Score]]) -> tuple[str, ...]:
        lines = ["terms: " + ", ".join(
            f"{t.surface}" + (f"→{t.read_as}" if t.read_as != t.surface else "") + f" [{t.term}] "
            + f"w={self.weight(t):.2f}" + ("" if t.term in self.idf else " (unknown)") for t in terms)]
        for i, s in ranked[:3]:
            ix = self._entries[i]
            matched = [t.term for t in terms if t.term in ix.strong or t.term in ix.weak]
            exponent = self.settings.coverage_exponent
            lines.append(f"{self._entries[i].id}: score {s.score:.3f} = coverage {s.coverage:.2f}^{exponent} "
                         f"x focus {s.focus:.2f}^{1 - exponent:.1f}; best phrasing {s.phrase!r}; "
                         f"matched {', '.join(dict.fromkeys(matched))}")
        return tuple(lines)
