"""From normalised text to weighted terms: typo correction, synonyms, stop words, stemming."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA
from wordfreq import get_frequency_dict
from yaml.nodes import SequenceNode

from ..content.files import KnowledgeError, Problem, display, is_text, kind, line, only_field, read_yaml
from .normalize import FILLER, normalize, words_without_filler

SYNONYMS_FILE = Path(__file__).resolve().parents[1] / "synonyms.yaml"

STOPWORDS = frozenset("""
a about above actually after again against all also am an and any anybody anything are arent as at be because been
before being below between both but by can cant could couldnt did didnt do does doesnt doing dont down during each
either else even ever every few for from further get gets getting go goes going gonna got had hadnt has hasnt have
havent having he her here hers herself him himself his how hows i id ill im ive if in into is isnt it its itself just
kind kinds sort sorts know let lets like likely me mean might more most much must my myself no nor not now of off
on once one ones only
or other others our ours ourselves out over own per pretty quite rather re really right same say says see seem shall
she should shouldnt so some something such sure tell than that thats the their theirs them themselves then there
theres these they theyre thing things think this those though through to too under until up us
very vs via want wants was wasnt way we well were werent weve what whats when whens whether which while
who whos whom whose will with within without wonder wondering would wouldnt yes yet you youd youll your
youre yours yourself yourselves
wat wht waht abt hw u ur r ya gud ppl pple plz tho
""".split())

# Filler is dropped before analysis; here it is for a typo of it ("sombody") read as what it is.
_NOT_TERMS = STOPWORDS | FILLER

_stemmer = snowballstemmer.stemmer("english")


# Words the stemmer would merge with an unrelated word ("customer" and "custom").
STEM_EXCEPTIONS = {"customer": "customer", "customers": "customer"}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return STEM_EXCEPTIONS.get(word) or _stemmer.stemWord(word)


@lru_cache(maxsize=1)
def _english_frequencies() -> dict[str, float]:
    return get_frequency_dict("en", wordlist="best")


@lru_cache(maxsize=65536)
def english_zipf(word: str) -> float:
    """How common `word` is in English on the Zipf scale (0 unknown, ~7 for 'the')."""
    # The table lookup equals zipf_frequency for a normalised word, without re-tokenising it; words
    # with digits ("70b", "fp16") are not in the table and so read as rare, which is what they are.
    frequency = _english_frequencies().get(word, 0.0)
    return round(math.log10(frequency * 1e9), 2) if frequency else 0.0


def load_synonyms(path: Path = SYNONYMS_FILE) -> dict[tuple[str, ...], str]:
    """Each member phrase (as a word tuple) mapped to its group's canonical single token (the first member's
    words run together). The file is checked like the FAQ: a KnowledgeError lists every problem by line."""
    shown = display(path)
    root = read_yaml(path, shown)
    problems: list[Problem] = []
    groups = only_field(root, "groups", "synonyms.yaml", shown, problems)
    if not isinstance(groups, SequenceNode):
        where = line(groups) if groups is not None else 1
        raise KnowledgeError([*problems, Problem(shown, where, "expected a top-level 'groups:' list, each group "
                                                               "a list of words or phrases that mean the same")])
    table: dict[tuple[str, ...], str] = {}
    owner: dict[tuple[str, ...], int] = {}  # the line of the group each member is in
    for group in groups.value:
        if not isinstance(group, SequenceNode) or len(group.value) < 2:
            problems.append(Problem(shown, line(group), f"a group must be a list of two words or phrases or more, "
                                                        f"not {kind(group)}"))
            continue
        members: list[tuple[str, ...]] = []
        for node in group.value:
            if not is_text(node):
                problems.append(Problem(shown, line(node), f"{kind(node)} is not text (quote it)"))
                continue
            member = tuple(words_without_filler(normalize(node.value)))
            if not member:
                problems.append(Problem(shown, line(node), f"{node.value!r} has no words but chat filler, which is "
                                                           "ignored anyway"))
            elif member in owner:
                place = "this group" if owner[member] == line(group) else f"the group on line {owner[member]}"
                problems.append(Problem(shown, line(node), f"{node.value!r} is already in {place}"))
            else:
                owner[member] = line(group)
                members.append(member)
        canonical = "".join(members[0]) if members else ""
        for member in members:
            table[member] = canonical
    if problems:
        raise KnowledgeError(problems)
    return table


class Term(NamedTuple):
    """One term of analysed text: the word as written, what it was read as, and the term matched on."""

    surface: str
    read_as: str
    term: str
    synonym: bool = False


class Analyzer:
    """Analyses FAQ text and questions the same way; questions also get typo correction."""

    def __init__(self, synonyms: dict[tuple[str, ...], str]) -> None:
        self.synonyms = synonyms
        self.max_phrase = max((len(k) for k in synonyms), default=1)
        self._phrase_starts = frozenset(k[0] for k in synonyms if len(k) > 1)
        self._singles: dict[str, Term | None] = {}
        self._term_strings: dict[str, str | None] = {}
        self.vocabulary: tuple[str, ...] = ()
        self._by_initial: dict[str, tuple[str, ...]] = {}
        self._known: frozenset[str] = frozenset()
        self._correct = lru_cache(maxsize=65536)(self._correct_uncached)

    def set_vocabulary(self, known_words: Iterable[str]) -> None:
        """The words typos are corrected towards: every word of the FAQ and of the synonym list."""
        known = set(known_words)
        for phrase in self.synonyms:
            known.update(phrase)
        known |= _NOT_TERMS  # so "actualy" is read as a stop word and "sombody" as filler, not as unknown words
        self._known = frozenset(known)
        self.vocabulary = tuple(sorted(w for w in known if len(w) >= 3 and not w.isdigit()))
        by_initial: dict[str, list[str]] = {}
        for w in self.vocabulary:
            by_initial.setdefault(w[0], []).append(w)
        self._by_initial = {k: tuple(v) for k, v in by_initial.items()}
        self._correct.cache_clear()

    def _correct_uncached(self, word: str) -> str:
        if word in self._known or len(word) < 4 or any(c.isdigit() for c in word):
            return word
        # A real English word that the FAQ lacks is not a typo ("rain" is not "train").
        if english_zipf(word) >= 3.0:
            return word
        max_edits = 1 if len(word) < 8 else 2
        # Typos rarely change the first letter; names that extend a known word ("ollama") are not typos.
        found = process.extractOne(word, self._by_initial.get(word[0], ()), scorer=OSA.distance,
                                   score_cutoff=max_edits)
        return found[0] if found else word

    def terms(self, text: str, correct: bool = False) -> list[Term]:
        return self.analyse(text, correct)[0]

    def single(self, word: str) -> Term | None:
        """The term of a word standing alone (None for a stop word); cached, as words repeat."""
        if word in self._singles:
            return self._singles[word]
        canonical = self.synonyms.get((word,))
        if canonical is not None:
            term: Term | None = Term(word, word, stem(canonical), True)
        else:
            term = None if word in _NOT_TERMS else Term(word, word, stem(word))
        if len(self._singles) < 200_000:
            self._singles[word] = term
        return term

    def index_terms(self, text: str) -> tuple[list[str], list[str]]:
        """Just the term strings of FAQ text, and its words: the fast path for building an index."""
        ws = words_without_filler(normalize(text))
        if not self._phrase_starts.isdisjoint(ws):
            return [t.term for t in self._analyse_words(ws, False)], ws
        cache = self._term_strings
        for word in [w for w in ws if w not in cache]:
            term = self.single(word)
            cache[word] = term.term if term is not None else None
        return [t for t in map(cache.__getitem__, ws) if t is not None], ws

    def analyse(self, text: str, correct: bool = False) -> tuple[list[Term], list[str]]:
        """The terms of `text` and its words (filler aside), as written."""
        ws = words_without_filler(normalize(text))
        return self._analyse_words(ws, correct), ws

    def _analyse_words(self, ws: list[str], correct: bool) -> list[Term]:
        singles, starts, synonyms = self._singles, self._phrase_starts, self.synonyms
        read = [self._correct(w) for w in ws] if correct else ws
        out: list[Term] = []
        i, n = 0, len(read)
        while i < n:
            word = read[i]
            if word in starts:
                for size in range(min(self.max_phrase, n - i), 1, -1):
                    canonical = synonyms.get(tuple(read[i:i + size]))
                    if canonical is not None:
                        out.append(Term(" ".join(ws[i:i + size]), " ".join(read[i:i + size]), stem(canonical), True))
                        i += size
                        break
                else:
                    canonical = None
                if canonical is not None:
                    continue
            term = singles[word] if word in singles else self.single(word)
            if term is not None:
                out.append(term if not correct or ws[i] == word else term._replace(surface=ws[i]))
            i += 1
        return out
