"""Taught phrasings: what admins said about questions the bot did not answer, joined to the FAQ.

An admin says a question is a phrasing of an entry (it becomes one more alternate of that entry) or that
the documents do not cover it (a near miss of the entry the bot took it for, else an out-of-scope
example). The FAQ's own rules hold for them too: a phrasing is answered by one entry or by none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from .documents import collapse_whitespace
from .loader import slack_ping
from .model import Knowledge
from .phrasings import OUT_OF_SCOPE, Phrasing, phrasing_key

# What makes two phrasings the same question. The matcher's own reading (its words, without case, markup,
# punctuation or filler: knowledge.matching.normalize.words_key) is what KnowledgeBase passes; this package,
# below the matcher, knows only case and whitespace.
Key = Callable[[str], str]

MAX_TAUGHT_CHARS = 300  # a question, not a pasted log; the loader sets no limit on phrasings
TAUGHT_KIND = "taught"  # the kind of a taught out-of-scope example (the file's are its groups)
_QUOTED_CHARS = 80  # how much of a phrasing a reason quotes


@dataclass(frozen=True)
class Taught:
    """A question an admin taught: a phrasing of entry `entry_id`, or not covered (`entry_id` None)."""

    text: str
    entry_id: str | None
    near: str | None = None  # not covered: the entry the bot had taken it for, if any

    def __post_init__(self) -> None:
        if self.entry_id is not None and self.near is not None:
            raise ValueError("only a question taught as not covered has a 'near' entry")

    def __str__(self) -> str:
        meaning = f"entry '{self.entry_id}'" if self.entry_id is not None else "not covered"
        return f"{_quoted(self.text)} → {meaning}"


@dataclass(frozen=True)
class Skipped:
    taught: Taught
    reason: str  # one line, for the admin who taught it

    def __str__(self) -> str:
        return f"{self.taught}: {self.reason}"


@dataclass(frozen=True)
class TaughtKnowledge:
    """The FAQ with the taught phrasings that could be applied, and the others with why not."""

    knowledge: Knowledge  # entries with their taught alternates and near misses
    out_of_scope: tuple[Phrasing, ...]  # taught as not covered, near no entry: extra out-of-scope examples
    applied: tuple[Taught, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class _Owner:
    """Who already has a phrasing: an entry (`entry_id`) or nobody (not covered)."""

    entry_id: str | None
    what: str  # how the reason says where it is


class _Owners:
    """Every phrasing of the FAQ and of the taught ones so far, by key."""

    def __init__(self, knowledge: Knowledge, out_of_scope: Iterable[Phrasing], key: Key = phrasing_key) -> None:
        self.knowledge = knowledge
        self.key = key
        self._owners: dict[str, _Owner] = {}
        for entry in knowledge.entries:
            for text in (entry.question, *entry.alternates):
                self._own(text, _Owner(entry.id, f"already a phrasing of entry '{entry.id}'"))
        for entry in knowledge.entries:
            # A tag is a phrasing the matcher is trained on too: taught as anything, it changes nothing or
            # contradicts the FAQ.
            for text in entry.tags:
                self._own(text, _Owner(entry.id, f"a tag of entry '{entry.id}', which the bot answers with that "
                                                 "entry"))
        for entry in knowledge.entries:
            for text in entry.near_misses:
                self._own(text, _Owner(None, f"already not covered: the FAQ has it as a near miss of entry "
                                             f"'{entry.id}'"))
        for example in out_of_scope:
            self._own(example.text, _Owner(None, "already not covered: the FAQ has it as an out-of-scope example"))

    def _own(self, text: str, owner: _Owner) -> None:
        self._owners.setdefault(self.key(text), owner)

    def add(self, taught: Taught) -> None:
        what = (f"already taught as a phrasing of entry '{taught.entry_id}'" if taught.entry_id is not None
                else "already taught as not covered")
        self._own(taught.text, _Owner(taught.entry_id, what))

    def refusal(self, taught: Taught) -> str | None:
        text = collapse_whitespace(taught.text)
        if not text:
            return "the question is empty"
        if slack_ping(text):
            # Not quoted: the reason is shown in Slack, where the mention would ping someone.
            return "the question holds a Slack mention (<@…>, <!here>, …): teach it without the mention"
        if len(text) > MAX_TAUGHT_CHARS:
            return f"{_quoted(text)} is longer than {MAX_TAUGHT_CHARS} characters: teach a shorter phrasing"
        key = self.key(text)
        if not key:
            # Not quoted: it may be invisible characters only.
            return ("the question has no words the bot could match (only filler, punctuation, emoji or invisible "
                    "characters): teach a question")
        if taught.entry_id is not None and taught.entry_id not in self.knowledge:
            return f"entry '{taught.entry_id}' is not in the FAQ (any more)"
        # Teaching what is already there, even for the same entry, is refused too: the admin learns it
        # changed nothing instead of a duplicate being stored.
        owner = self._owners.get(key)
        return f"{_quoted(text)} is {owner.what}" if owner else None


def check_taught(knowledge: Knowledge, taught: Taught, earlier: Sequence[Taught] = (), *,
                 out_of_scope: Sequence[Phrasing] = (), key: Key = phrasing_key) -> str | None:
    """None when `taught` can be taught after `earlier` (assumed accepted), else the one-line reason why not.

    `out_of_scope` are the out-of-scope file's examples, which a phrasing may not be either; `key` says which
    phrasings are the same question (see Key)."""
    owners = _Owners(knowledge, out_of_scope, key)
    for before in earlier:
        owners.add(before)
    return owners.refusal(taught)


def with_taught(knowledge: Knowledge, taught: Sequence[Taught], *,
                out_of_scope: Sequence[Phrasing] = (), key: Key = phrasing_key) -> TaughtKnowledge:
    """Apply `taught` in order to the FAQ, skipping what `check_taught` refuses given the ones before.

    `out_of_scope` (the out-of-scope file's examples) is only checked against, not returned; `key` as for
    `check_taught`."""
    owners = _Owners(knowledge, out_of_scope, key)
    alternates: dict[str, list[str]] = {}
    near_misses: dict[str, list[str]] = {}
    extra: list[Phrasing] = []
    applied: list[Taught] = []
    skipped: list[Skipped] = []
    for item in taught:
        reason = owners.refusal(item)
        if reason is not None:
            skipped.append(Skipped(item, reason))
            continue
        owners.add(item)
        applied.append(item)
        if item.entry_id is not None:
            alternates.setdefault(item.entry_id, []).append(item.text)
        elif item.near is not None and item.near in knowledge:
            # The entry's topic, not its answer: the bot can say so and still offer the entry.
            near_misses.setdefault(item.near, []).append(item.text)
        else:  # near no entry, or near one the FAQ no longer has
            extra.append(Phrasing(item.text, OUT_OF_SCOPE, TAUGHT_KIND))
    if alternates or near_misses:
        entries = tuple(
            replace(e, alternates=(*e.alternates, *alternates.get(e.id, ())),
                    near_misses=(*e.near_misses, *near_misses.get(e.id, ())))
            if e.id in alternates or e.id in near_misses else e
            for e in knowledge.entries)
        knowledge = Knowledge(entries=entries, documents=knowledge.documents)
    return TaughtKnowledge(knowledge, tuple(extra), tuple(applied), tuple(skipped))


def _quoted(text: str) -> str:
    text = collapse_whitespace(text)
    return f"“{text if len(text) <= _QUOTED_CHARS else text[:_QUOTED_CHARS - 1].rstrip() + '…'}”"
