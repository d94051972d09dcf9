"""Questions about two things at once: a comparison ("llama vs mistral, which is better?") or two questions in one
message. The question is split where the words of pairs.yaml join its parts, and each part is matched on its own:
when both are answered, each with an entry of its own, the answer gives both."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from yaml.nodes import MappingNode, SequenceNode

from ..content.files import INT, KnowledgeError, Problem, display, fields, is_text, kind, line, number, read_yaml
from ..content.loader import PACKAGE_DIR
from ..result import MatchResult
from .decide import NEAR_MISS_SAYS

PAIRS_FILE = PACKAGE_DIR / "pairs.yaml"
# Where the name on either side of a comparison word ends: a comma, colon, semicolon, question mark, or a dash between
# spaces ("llama vs mistral - which is better?").
_CLAUSE = re.compile(r"[,:;?]|\s[-–—]\s")
# A list of two: "1) … 2) …", "1. … 2. …", or two items each after the same bullet, the first at the start or after a
# colon ("two things: - … - …"); line breaks are spaces once normalised.
_NUMBERED = re.compile(r"(?:^|\s)\(?1[.)]\s+(?P<left>.+?)\s+\(?2[.)]\s+(?P<right>.+)$")
_BULLETED = re.compile(r"(?:^|:\s*)(?P<bullet>[-•*])\s+(?P<left>.+?)\s+(?P=bullet)\s+(?P<right>.+)$")
# Quoted text ("from the abstract: 'we map motivations and governance …' what's the takeaway?") is not split: a
# quote opens at the start of a word and closes at the end of one.
_QUOTED = re.compile(r"""(?:^|(?<=[\s:(]))(["'“‘]).+?["'”’](?=[\s.,;:?!)]|$)""")

_PUNCTUATION = "\"'“”‘’()[]{}*_`,;:.!?"
_JOINS = " ,;:-+&"  # stripped from either part where a question splits
# The end of a sentence followed by another ("… for the board paper. then the cons."), or a dash between spaces
# ("where does falcon come from - what other models are popular").
_SENTENCES = re.compile(r"(?<=\w)([.!;])\s+(?=\w)|\s[-–—]\s(?=\w)")

Kind = Literal["compare", "ask", "sentences"]


@dataclass(frozen=True)
class Joins:
    """The words that join two things compared and two questions, and the limits on splitting."""

    compare: tuple[str, ...]
    ask: tuple[str, ...]
    max_chars: int
    max_splits: int
    confident_names: float  # a comparison declined whole, or taken for a near miss: both names at least this likely
    confident_parts: float  # a question the matcher is unsure of: both parts at least this likely
    runner_up: float  # a question whose second candidate is less likely than this is about one entry: not split
    name_ends: tuple[str, ...] = ()  # words that end the second name compared ("llama or gpt-3 for a chatbot?")
    name_words: int = 0  # two things compared, each side this many words at most, are split even when about one entry
    sentence_runner_up: float = 1.0  # two sentences are split only when the second candidate is at least this likely
    question_words: tuple[str, ...] = ()  # words that start a second question run on without a mark
    embedded_after: tuple[str, ...] = ()  # words after which a question word starts an embedded question
    between: tuple[str, ...] = ()  # words before "between X and Y" that compare X and Y ("the difference between")

    @cached_property
    def compare_at(self) -> tuple[re.Pattern[str], ...]:
        """Where each comparison word stands as a word of its own (compiled once: every question is split)."""
        return tuple(re.compile(rf"\s{re.escape(word)}\s") for word in self.compare)

    @cached_property
    def between_at(self) -> re.Pattern[str] | None:
        """"<word> between X and Y": X and Y, each up to the nearest comma, colon, semicolon or question mark."""
        if not self.between:
            return None
        words = "|".join(re.escape(word) for word in self.between)
        return re.compile(rf"\b(?:{words})\s+between\s+(?P<left>[^,:;?]+?)\s+and\s+(?P<right>[^,:;?]+)")

    @cached_property
    def ask_at(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(rf"\s{re.escape(word)}\s") for word in self.ask)


@dataclass(frozen=True)
class Split:
    left: str
    right: str
    kind: Kind


_JOIN_FIELDS = ("compare", "between", "ask", "name_ends", "question_words", "embedded_after", "max_chars", "max_splits",
                "name_words", "confident_names", "confident_parts", "runner_up", "sentence_runner_up")


def load_joins(path: Path = PAIRS_FILE) -> Joins:
    """pairs.yaml, checked: a KnowledgeError lists every problem as `file:line: reason`."""
    shown = display(path)
    root = read_yaml(path, shown)
    if not isinstance(root, MappingNode):
        raise KnowledgeError([Problem(shown, 1, "expected `compare`, `between`, `ask`, `name_ends`, `question_words` "
                                                "and `embedded_after` (lists of words), "
                                                "`max_chars`, `max_splits`, `name_words`, `confident_names`, "
                                                "`confident_parts`, `runner_up` and `sentence_runner_up` "
                                                "(numbers)")])
    problems: list[Problem] = []
    given = fields(root, "pairs.yaml", shown, problems)
    for name, (key, _) in given.items():
        if name not in _JOIN_FIELDS:
            problems.append(Problem(shown, line(key), f"unknown field '{name}' (allowed: {', '.join(_JOIN_FIELDS)})"))
    for name in _JOIN_FIELDS:
        if name not in given:
            problems.append(Problem(shown, 1, f"missing '{name}'"))

    def words(name: str) -> tuple[str, ...]:
        node = given[name][1] if name in given else None
        if node is None:
            return ()
        if not isinstance(node, SequenceNode) or not node.value:
            problems.append(Problem(shown, line(node), f"'{name}' must be a non-empty list of joining words"))
            return ()
        out = []
        for item in node.value:
            if not is_text(item) or not item.value.strip():
                problems.append(Problem(shown, line(item), f"'{name}': a joining word must be text, not "
                                                           f"{kind(item)}"))
            else:
                out.append(item.value.strip().lower())
        return tuple(out)

    def count(name: str, least: int) -> int:
        node = given[name][1] if name in given else None
        value = number(node) if node is not None and node.tag == INT else None
        if node is not None and (value is None or value < least):
            problems.append(Problem(shown, line(node), f"'{name}' must be a whole number, {least} or more, not "
                                                       f"{kind(node)}"))
        return int(value or 0)

    def share(name: str) -> float:
        node = given[name][1] if name in given else None
        value = number(node) if node is not None else None
        if node is not None and (value is None or not 0.0 <= value <= 1.0):
            problems.append(Problem(shown, line(node), f"'{name}' must be a number from 0 to 1, not {kind(node)}"))
        return float(value or 0.0)

    compare, ask, name_ends = words("compare"), words("ask"), words("name_ends")
    question_words, embedded_after, between = words("question_words"), words("embedded_after"), words("between")
    max_chars, max_splits, name_words = count("max_chars", 1), count("max_splits", 0), count("name_words", 0)
    confident_names, confident_parts, runner_up = share("confident_names"), share("confident_parts"), share("runner_up")
    sentence_runner_up = share("sentence_runner_up")
    if problems:
        raise KnowledgeError(problems)
    return Joins(compare, ask, max_chars, max_splits, confident_names, confident_parts, runner_up, name_ends,
                 name_words, sentence_runner_up, question_words, embedded_after, between)


def _words(part: str) -> bool:
    return bool(re.search(r"\w\w", part))


def _names(split: Split, joins: Joins) -> bool:
    """Whether both sides of a comparison are short enough to be the names of two things ("gpt-3", "is falcon
    better"), rather than a question with "or" in it ("is gpt 3 open source or just an api")."""
    return max(len(split.left.split()), len(split.right.split())) <= joins.name_words


def _name(clause: str, joins: Joins) -> str:
    """The second name compared, up to the first of `name_ends` ("gpt-3 for a support bot" is "gpt-3")."""
    for word in joins.name_ends:
        clause = re.split(rf"\s{re.escape(word)}\s", f" {clause} ", maxsplit=1)[0]
    return clause.strip()


def splits(query: str, joins: Joins) -> list[Split]:
    """Where the normalised `query` may split into two parts: first between the items of a list of two, then between
    two questions, then at a comparison word (each part the name on its side) or around "the difference between X and
    Y" (X and Y), then at a word joining two questions;
    never inside quoted text; at most `max_splits`, none for a long query."""
    if len(query) > joins.max_chars:
        return []
    found: list[Split] = []
    quoted = [m.span() for m in _QUOTED.finditer(query)]

    def add(at: int, split: Split) -> None:
        if (_words(split.left) and _words(split.right)
                and not any((f.left, f.right) == (split.left, split.right) for f in found)
                and not any(start < at < end for start, end in quoted)):
            found.append(split)

    for listed in (_NUMBERED.search(query), _BULLETED.search(query)):
        if listed:
            add(listed.start("right"), Split(listed["left"].strip(), listed["right"].strip(), "ask"))
    for match in re.finditer(r"\?\s*(?=\w)", query):
        add(match.start(), Split(query[:match.start()].strip() + "?", query[match.end():].strip(), "ask"))
    for word_at in joins.compare_at:
        for match in word_at.finditer(query):
            left = _CLAUSE.split(query[:match.start()])[-1].strip()
            right = _name(_CLAUSE.split(query[match.end():])[0], joins)
            add(match.start(), Split(left, right, "compare"))
    if joins.between_at is not None:  # "the difference between falcon and llama"
        for match in joins.between_at.finditer(query):
            add(match.start("right"), Split(match["left"].strip(), _name(match["right"], joins), "compare"))
    for word_at in joins.ask_at:
        for match in word_at.finditer(query):
            add(match.start(), Split(query[:match.start()].strip(_JOINS), query[match.end():].strip(_JOINS), "ask"))
    # Last, two sentences, or two clauses a spaced dash joins ("where does falcon come from - what other models are
    # popular"): the weakest sign of two questions (most messages of two sentences are context and a question).
    for match in _SENTENCES.finditer(query):
        add(match.start(), Split(query[:match.start()].strip(_JOINS) + (match[1] if match[1] in (".", "!") else ""),
                                 query[match.end():].strip(_JOINS), "sentences"))
    # And two questions run together without a mark ("which industries use open llms what are the biggest problems
    # with them", "what's mixtral what's pythia"): before a question word that follows at least two words and no
    # mark, unless the word before it embeds it ("explain what …", "not sure how …"). After a comma the first
    # clause is mostly a part of the same question ("other than saving money, what's actually good about them?").
    words = [(m.start(), m[0]) for m in re.finditer(r"\S+", query)]
    for n in range(2, len(words)):
        (at, word), before = words[n], words[n - 1][1]
        if (word.strip(_PUNCTUATION) in joins.question_words and before[-1].isalnum()
                and before.strip(_PUNCTUATION) not in joins.embedded_after):
            add(at, Split(query[:at].strip(_JOINS), query[at:].strip(), "sentences"))
    return found[:joins.max_splits]


def _least_runner_up(split: Split, joins: Joins) -> float:
    """How likely the whole question's second candidate must be for `split` to be tried: two names compared are
    always tried, two sentences only past `sentence_runner_up` (a sentence of context is often answered with an
    entry of its own), the rest past `runner_up`."""
    if split.kind == "sentences":
        return joins.sentence_runner_up
    return 0.0 if split.kind == "compare" and _names(split, joins) else joins.runner_up


def one_entry_below(found: Sequence[Split], joins: Joins) -> float | None:
    """How unlikely the runner-up candidate of a question split at `found` must be for it to be about one entry, and
    so to be decided without looking at its parts; None when it does not split. Below `runner_up` the first stage
    decides even two names compared: their parts are still tried on its answer."""
    if not found:
        return None
    return min(max(_least_runner_up(s, joins), joins.runner_up) for s in found)


def pair(query: str, whole: MatchResult, joins: Joins, match: Callable[[str], MatchResult],
         listed: Callable[[], bool] = lambda: False, known: Sequence[Split] | None = None,
         answered: Callable[[str], MatchResult | None] = lambda text: None) -> tuple[str, str] | None:
    """The two entries a question about two things asks for (in the order it names them), or None.

    `whole` is the question matched as it is; both entries must be among its candidates (so that a part matched on
    too few words cannot bring in an entry the question is not about), and the entry it answers must be one of the
    two (a split never replaces an answer, it can only add to it). A question it is unsure of is answered only when
    both parts are answered with at least `confident_parts`. One it declines stays declined, unless it compares two
    names answered with at least `confident_names`; so does one it takes for a near miss ("falcon vs llama, who's
    behind them?" is close to "falcon vs llama 2 benchmarks"), when the entry it offers is one of the two. Neither
    is answered when `listed()`: the knowledge lists the question itself as out of scope or as a near miss (it
    costs matching the whole question with the embedding model, so it is asked last). One asking what the
    documents do not hold stays unanswered. `match` matches a part; `known` is `splits(query, joins)` when the caller
    has it already; `answered` is a part's answer when it can be had without the embedding model (else None), enough
    when the whole question is answered (its parts then need only be answered, at any probability)."""
    near_miss = whole.status == "suggest" and whole.unsaid == NEAR_MISS_SAYS and len(whole.candidates) == 1
    if whole.unsaid and not near_miss:
        return None
    ranked = sorted((c.score for c in whole.candidates), reverse=True)
    # With its second candidate unlikely the matcher sees one entry in it: a split would cost two matches for nothing
    # (but two names compared: "GPT-3 vs Llama: which one is actually open?" reads as about GPT-3 alone).
    runner_up = ranked[1] if len(ranked) > 1 else 0.0
    near = {c.id for c in whole.candidates} | ({whole.id} if whole.id else set())
    least = joins.confident_names if whole.status == "none" or near_miss else (
        joins.confident_parts if whole.status == "suggest" else 0.0)
    decided: dict[str, MatchResult] = {}  # a part shared by two splits is matched once

    def part(text: str) -> MatchResult | None:
        """The part, matched, if it can be one of the two: answered with an entry of its own, likely enough, and
        among the whole question's candidates unless the whole question was declined or a near miss."""
        if text not in decided:
            decided[text] = (least == 0.0 and answered(text)) or match(text)
        found = decided[text]
        if (found.status != "answer" or found.id is None or found.score < least
                or (found.id not in near and whole.status != "none" and not near_miss)):
            return None
        return found

    for split in splits(query, joins) if known is None else known:
        if (whole.status == "none" or near_miss) and split.kind != "compare":
            continue
        if whole.status != "none" and not near_miss and runner_up < _least_runner_up(split, joins):
            continue
        # The second part is not matched when the first cannot be one of the two (each costs the embedding model).
        if (first := part(split.left)) is None or (second := part(split.right)) is None or first.id == second.id:
            continue
        both = (str(first.id), str(second.id))
        if whole.status == "answer":
            if whole.id in both:
                # The entry the whole question is answered with comes first: the other is added to it.
                return both if whole.id == first.id else (both[1], both[0])
            continue
        unsure = whole.status == "suggest" and not near_miss
        if unsure or ((whole.status == "none" or whole.candidates[0].id in both) and not listed()):
            return both
    return None
