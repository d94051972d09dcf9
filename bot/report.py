"""What the store says about the FAQ over a period: unanswered questions (near-duplicates grouped), how each
entry fared, volume per day and per surface, what admins taught and how the answer rate moved after it. Pure: built
from records, rendered by `bot.report_formats`."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from rapidfuzz import fuzz, process

from knowledge.content.phrasings import phrasing_key
from knowledge.matching.analysis import STOPWORDS
from knowledge.matching.normalize import words_without_filler
from knowledge.result import STATUSES

from .store import (
    CLICK,
    REASONS,
    SURFACES,
    QuestionRecord,
    Store,
    TaughtRecord,
    VoteReason,
    VoteRecord,
    as_utc,
    utcnow,
)

# Wordings at least this similar (rapidfuzz token_sort_ratio, 0-100) count as the same question asked again.
SAME_QUESTION = 85
# A new wording is compared with at most this many earlier groups: those sharing its rarest words (two wordings this
# similar share most of their words). Grouping stays near-linear however many distinct questions the store holds.
MAX_COMPARED = 48
# Questions are shown (text, CSV, HTML, App Home) clipped to this many characters.
MAX_QUESTION_CHARS = 200
_SINCE = re.compile(r"^(\d+)\s*([hdw])$")


@dataclass(frozen=True)
class Group:
    """Unanswered questions that are near-duplicates of each other."""

    text: str  # the wording asked most
    count: int
    wordings: tuple[str, ...]  # every distinct wording, most asked first
    suggested: int
    declined: int
    guess: str | None  # the entry most often offered as a suggestion for them
    taught: bool = False  # an admin taught what its question means (it is answered, or declined, from then on)


@dataclass(frozen=True)
class EntryUse:
    id: str
    answered: int  # questions answered with it, and clicks that posted it
    helpful: int
    unhelpful: int
    clicked: int = 0  # of `answered`: posted by a click (a related question, a topic, a suggestion)

    @property
    def votes(self) -> int:
        return self.helpful + self.unhelpful


@dataclass(frozen=True)
class Day:
    day: date
    answer: int = 0
    suggest: int = 0
    none: int = 0

    @property
    def total(self) -> int:
        return self.answer + self.suggest + self.none


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    questions: int
    outcomes: dict[str, int]
    surfaces: dict[str, int]
    days: tuple[Day, ...]
    unanswered: tuple[Group, ...]
    entries: tuple[EntryUse, ...]
    helpful: int
    unhelpful: int
    text_not_kept: int  # unanswered questions recorded without their text (STORE_QUESTION_TEXT=false)
    not_grouped: int = 0  # older unanswered questions left out of the grouping (`max_grouped`)
    taught: int = 0  # phrasings taught in the period and not undone
    first_taught: datetime | None = None  # when the first of them was taught
    # The questions of the period asked before the first teaching and from it on, and how many of each were answered.
    asked_before: int = 0
    answered_before: int = 0
    asked_after: int = 0
    answered_after: int = 0
    clicked: int = 0  # answers posted by a click on a related question, a topic or a suggestion (not questions)
    reasons: tuple[VoteReason, ...] = ()  # why answers were found not helpful (of the 👎 still standing), oldest first

    @property
    def answer_rate(self) -> float:
        return self.outcomes["answer"] / self.questions if self.questions else 0.0

    @property
    def answer_rate_before(self) -> float | None:
        """The share of questions answered before the first teaching; None without teaching or questions then."""
        return self.answered_before / self.asked_before if self.asked_before else None

    @property
    def answer_rate_after(self) -> float | None:
        """The share of questions answered from the first teaching on; None without teaching or questions since."""
        return self.answered_after / self.asked_after if self.asked_after else None

    def least_helpful(self, limit: int = 5) -> list[EntryUse]:
        """Entries with a Not helpful vote, worst share first."""
        disliked = [e for e in self.entries if e.unhelpful]
        disliked.sort(key=lambda e: (-e.unhelpful / e.votes, -e.unhelpful, e.id))
        return disliked[:limit]

    def reasons_for(self, entry_id: str) -> list[VoteReason]:
        return [r for r in self.reasons if r.entry_id == entry_id]


# How each of REASONS reads to people.
REASON_LABELS = {"wrong": "wrong answer", "outdated": "outdated", "missing": "missing detail", "other": "other"}
assert set(REASON_LABELS) == set(REASONS)


def reason_counts(reasons: Iterable[VoteReason]) -> list[tuple[str, int]]:
    """How many times each reason was chosen (as REASON_LABELS reads it), most chosen first; text-only reasons
    are not counted here."""
    counted = Counter(r.reason for r in reasons if r.reason)
    return [(REASON_LABELS[reason], n) for reason, n in sorted(counted.items(), key=lambda i: (-i[1], i[0]))]


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `12h`, `2w` before `now`, or a date (`2026-11-01`) or ISO time; as naive UTC."""
    now = now or utcnow()
    if match := _SINCE.match(text.strip().lower()):
        amount, unit = int(match.group(1)), match.group(2)
        try:
            return now - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
        except OverflowError:
            raise ValueError(f"--since {text!r} reaches back before the year 1: give a shorter span or a "
                             "date like 2026-11-01") from None
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ValueError(f"--since {text!r}: give a span like 7d, 12h or 2w, or a date like 2026-11-01") from None


def content_words(text: str) -> str:
    """`text` without stop words or filler: "how do I bake bread?" and "how to bake bread" are alike."""
    found = words_without_filler(text)
    kept = [w for w in found if w not in STOPWORDS]
    return " ".join(kept or found)


def clip_question(text: str, limit: int = MAX_QUESTION_CHARS) -> str:
    """`text` on one line and at most `limit` characters, ending in "…" when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def group_questions(records: Iterable[QuestionRecord], cutoff: int = SAME_QUESTION,
                    max_compared: int = MAX_COMPARED) -> list[Group]:
    """Group near-duplicate wordings (most asked first, each joining the first group it is close enough to),
    ranked by how often the group was asked. Each wording is compared only with the groups sharing its rarest
    content words (`max_compared` at most), so the work grows about linearly with the number of wordings. Texts
    are clipped to MAX_QUESTION_CHARS: wordings the same once clipped count as one."""
    by_text: dict[str, list[QuestionRecord]] = defaultdict(list)
    for record in records:
        if record.text:
            by_text[clip_question(record.text)].append(record)
    wordings = sorted(by_text, key=lambda t: (-len(by_text[t]), t))
    heads: list[str] = []
    keys: list[str] = []  # each head's content words, what the comparison is made on
    members: dict[str, list[str]] = {}
    exact: dict[str, int] = {}  # content words -> the head that has exactly them
    postings: dict[str, list[int]] = defaultdict(list)  # word -> the heads whose content words include it
    for text in wordings:
        key = content_words(text)
        head = exact.get(key)
        if head is None:
            candidates: dict[int, None] = {}
            for word in sorted(set(key.split()), key=lambda w: len(postings.get(w, ()))):
                for index in postings.get(word, ()):
                    candidates.setdefault(index)
                    if len(candidates) >= max_compared:
                        break
                if len(candidates) >= max_compared:
                    break
            order = sorted(candidates)  # earlier heads (asked more) first, as before
            found = process.extractOne(key, [keys[i] for i in order], scorer=fuzz.token_sort_ratio,
                                       score_cutoff=cutoff)
            head = order[found[2]] if found is not None else None
        if head is None:
            exact[key] = len(heads)
            for word in set(key.split()):
                postings[word].append(len(heads))
            heads.append(text)
            keys.append(key)
            members[text] = [text]
        else:
            members[heads[head]].append(text)
    groups = []
    for head_text in heads:
        asked = [r for text in members[head_text] for r in by_text[text]]
        guesses = Counter(r.entry_id for r in asked if r.outcome == "suggest" and r.entry_id)
        groups.append(Group(text=head_text, count=len(asked), wordings=tuple(members[head_text]),
                            suggested=sum(r.outcome == "suggest" for r in asked),
                            declined=sum(r.outcome == "none" for r in asked),
                            guess=guesses.most_common(1)[0][0] if guesses else None))
    groups.sort(key=lambda g: (-g.count, g.text))
    return groups


def build_report(questions: list[QuestionRecord], votes: list[VoteRecord], since: datetime,
                 until: datetime | None = None, entry_ids: Iterable[str] = (), max_grouped: int | None = None,
                 taught: Iterable[TaughtRecord] = (), reasons: Iterable[VoteReason] = ()) -> Report:
    """The report on `questions`, `votes` and `taught` phrasings between `since` and `until` (naive UTC);
    `entry_ids` (the FAQ's) are listed even when nobody got them. Only the most recent `max_grouped` unanswered
    questions (default: all) are grouped; every question is counted. Answers posted by clicks (recorded as
    questions of the surface CLICK) count for their entry, apart from the questions. Unanswered questions taught
    since (by any of `taught`, whenever it was taught) are marked so; `reasons` (for votes in the period that are
    still 👎) are kept as they are."""
    until = until or utcnow()
    within = [q for q in questions if since <= q.asked_at <= until]
    clicks = [q for q in within if q.surface == CLICK]
    questions = [q for q in within if q.surface != CLICK]
    votes = [v for v in votes if since <= v.voted_at <= until]
    taught = list(taught)
    taught_keys = {phrasing_key(t.text) for t in taught if not t.undone}
    taught_at = sorted(t.taught_at for t in taught if since <= t.taught_at <= until and not t.undone)
    first_taught = taught_at[0] if taught_at else None
    before = [q for q in questions if first_taught is not None and q.asked_at < first_taught]
    after = [q for q in questions if first_taught is not None and q.asked_at >= first_taught]
    outcomes = Counter(q.outcome for q in questions)
    surfaces = Counter(q.surface for q in questions)
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for q in questions:
        per_day[q.asked_at.date()][q.outcome] += 1
    days = []
    day = since.date()
    while day <= until.date():
        days.append(Day(day, **{o: per_day[day][o] for o in STATUSES}))
        day += timedelta(days=1)
    answered = Counter(q.entry_id for q in questions if q.outcome == "answer" and q.entry_id)
    clicked = Counter(q.entry_id for q in clicks if q.entry_id)
    helpful = Counter(v.entry_id for v in votes if v.helpful)
    unhelpful = Counter(v.entry_id for v in votes if not v.helpful)
    ids = dict.fromkeys([*entry_ids, *answered, *clicked, *helpful, *unhelpful])
    entries = [EntryUse(i, answered[i] + clicked[i], helpful[i], unhelpful[i], clicked[i]) for i in ids]
    entries.sort(key=lambda e: (-e.answered, -e.votes, e.id))
    unanswered = [q for q in questions if q.outcome != "answer"]
    with_text = sorted((q for q in unanswered if q.text), key=lambda q: q.asked_at)
    grouped = with_text if max_grouped is None else with_text[len(with_text) - max_grouped:] if max_grouped else []
    return Report(since=since, until=until, questions=len(questions),
                  outcomes={o: outcomes[o] for o in STATUSES}, surfaces={s: surfaces[s] for s in SURFACES},
                  days=tuple(days), entries=tuple(entries),
                  unanswered=tuple(replace(g, taught=True) if {phrasing_key(w) for w in g.wordings} & taught_keys
                                   else g for g in group_questions(grouped)),
                  helpful=sum(helpful.values()), unhelpful=sum(unhelpful.values()),
                  text_not_kept=sum(1 for q in unanswered if not q.text),
                  not_grouped=len(with_text) - len(grouped),
                  taught=len(taught_at), first_taught=first_taught,
                  asked_before=len(before), answered_before=sum(q.outcome == "answer" for q in before),
                  asked_after=len(after), answered_after=sum(q.outcome == "answer" for q in after),
                  clicked=len(clicks),
                  reasons=tuple(r for r in reasons if since <= r.given_at <= until and r.entry_id in unhelpful))


def report_from_store(store: Store, since: datetime, until: datetime | None = None,
                      entry_ids: Iterable[str] = (), max_grouped: int | None = None, team: str | None = None
                      ) -> Report:
    """The report on what `store` holds from `since` on; with `team`, on that installation's rows only (a workspace,
    or an org for an org-wide installation), else on every row."""
    return build_report(store.questions_since(since, team), store.votes_since(since, team), since, until, entry_ids,
                        max_grouped, store.taught(team=team), store.vote_reasons_since(since, team))


# Workspaces named in a message about choosing one, at most.
MAX_NAMED_WORKSPACES = 10


def chosen_workspace(held: Iterable[tuple[str | None, str | None]], team: str | None) -> str | None:
    """Whose rows a reading command reads (`Store` reads' `team`): `team` (`--team`: a workspace's id, or an org's
    for an org-wide installation), which must be one of those the store holds (`held`: `Store.workspaces()`), and
    must be given when it holds more than one; None, every row, when it holds one at most (with a single-token
    install's rows that name none, which are that workspace's). ValueError saying why, in one line, otherwise."""
    pairs = set(held)
    teams = sorted({t for t, _ in pairs if t})
    orgs = sorted({e for _, e in pairs if e})
    org_wide = sorted({e for t, e in pairs if t is None and e})
    named = [f"{t} (org {e})" if e else t for t, e in sorted((t, e) for t, e in pairs if t)]
    named += [f"{e} (org-wide)" for e in org_wide]
    listed = ", ".join(named[:MAX_NAMED_WORKSPACES]) + (f" and {len(named) - MAX_NAMED_WORKSPACES} more"
                                                        if len(named) > MAX_NAMED_WORKSPACES else "")
    if team is not None and team not in teams and team not in orgs:
        raise ValueError(f"--team {team}: the store holds nothing of that workspace or org"
                         + (f"; it holds {listed}" if named else "; it holds no workspace's rows yet"))
    if len(teams) + len(org_wide) <= 1:  # the one workspace's, with its rows from before it was named
        return None
    if team is None:
        raise ValueError(f"the store holds {len(teams) + len(org_wide)} workspaces ({listed}): name one with --team "
                         "(a workspace's id, or an org's id for an org-wide installation)")
    return team
