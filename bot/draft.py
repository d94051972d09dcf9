"""Drafts of FAQ entries from the questions the bot did not answer: one per group of near-duplicate questions (as the
report groups them), its question the group's most representative wording (Slack markup and user ids removed), the
other wordings as alternates, the passages closest to it (by the matcher's embedding model) to cite, and an empty
answer for a person to write. Never an answer. The YAML is `knowledge.content.drafts`'."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from rapidfuzz import fuzz

from knowledge.content.drafts import Draft, Ids, cite, phrasings
from knowledge.content.headings import as_question
from knowledge.content.loader import MAX_PHRASING_CHARS
from knowledge.content.model import Knowledge, Source
from knowledge.content.phrasings import phrasing_key
from knowledge.matching.normalize import strip_slack_markup, words_key

from .report import Group, build_report, clip_question, content_words
from .store import QuestionRecord, TaughtRecord

LIMIT = 10  # groups drafted, most asked first
# A Slack user (or bot, workspace, enterprise) id written out bare, outside a <@…> mention: never copied.
_SLACK_ID = re.compile(r"\b[UWBTE][A-Z0-9]{8,}\b")
_LEADING = re.compile(r"^[\s,;:.!?)\]-]+")
# A greeting before the question ("hey all, how do I…"): said to people, not part of what is asked.
_GREETING = re.compile(r"^(?:(?:hey|hi|hello|hiya|heya|yo|howdy|morning|greetings)\b[\s,!.]*(?:(?:all|team|folks|"
                       r"guys|everyone|there|bot)\b[\s,!.]*)*)+", re.IGNORECASE)
_BEFORE_PUNCTUATION = re.compile(r"\s+([?!.,;:]+)(?=\s|$)")  # "at *work*?" loses its markers, not its spacing
_CUT = "…"  # how the report ends a wording clipped to its length

# A question -> the passages closest to it: (document, passage, cosine similarity of their embeddings), closest first.
Closest = Callable[[str], Sequence[tuple[str, str, float]]]
# A passage less similar than this to a question is not offered: MiniLM puts the documents' passages at 0.05-0.15
# from questions about something else ("what is the weather in berlin", "is pizza healthy") and at 0.5-0.8 from the
# best passage for a question they answer.
FAR = 0.2
Answers = Callable[[str], str | None]  # a question -> the entry the bot answers it with now, if any


@dataclass(frozen=True)
class Unanswered:
    """The drafts, and the groups left out, each with why."""

    drafts: tuple[Draft, ...]
    left_out: tuple[str, ...]
    groups: int  # groups of unanswered questions in the period


def clean_question(text: str) -> str:
    """A question as asked in Slack, as a person would write it in the FAQ: entities unescaped; mentions (<@U1>,
    <!here>), channel references, links (a labelled one reads as its label), emoji codes, mrkdwn markers, control and
    invisible characters, bare user ids and a greeting before it removed; on one line."""
    text = strip_slack_markup(text)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    text = _SLACK_ID.sub(" ", text)
    text = _LEADING.sub("", _BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split())))
    return _LEADING.sub("", _GREETING.sub("", text)) or text


def representative(wordings: Sequence[str], counts: Counter[str]) -> str:
    """Of a group's (cleaned) wordings, the one most like all the questions asked: the highest similarity to the
    others, each counted as often as it was asked; ties as `_preferred` orders them."""
    keys = {w: content_words(w) for w in wordings}

    def likeness(wording: str) -> float:
        return sum(counts[other] * fuzz.token_sort_ratio(keys[wording], keys[other]) for other in wordings)

    return min(wordings, key=lambda w: (-likeness(w), *_preferred(w, counts)))


def _preferred(wording: str, counts: Counter[str]) -> tuple[int, bool, bool, int, str]:
    """Of wordings alike, first the one asked most, then one that ends in "?", then one that opens as a question
    does, then the shorter."""
    return -counts[wording], not wording.endswith("?"), as_question(wording) is None, len(wording), wording


def unanswered_drafts(records: list[QuestionRecord], taught: Iterable[TaughtRecord], since: datetime,
                      knowledge: Knowledge, closest: Closest, answers: Answers, limit: int = LIMIT,
                      ids: Ids | None = None) -> Unanswered:
    """A draft for each of the `limit` most asked groups of questions not answered since `since`, leaving out those
    an admin taught since, those the FAQ has a phrasing of and those the bot answers now (`answers`). Questions and
    taught phrasings are cleaned (`clean_question`) before they are grouped as the report groups them: a mention of
    someone does not keep two wordings apart."""
    cleaned = [replace(r, text=clean_question(r.text)) for r in records if r.text]
    report = build_report(cleaned, [], since, taught=[replace(t, text=clean_question(t.text)) for t in taught])
    asked = Counter(r.text for r in cleaned if r.text and r.outcome != "answer" and since <= r.asked_at <= report.until)
    whole = {clip_question(text): text for text in asked}  # the report shows long wordings clipped
    ids = ids or Ids({e.id for e in knowledge.entries})
    owners = phrasings(knowledge)
    drafts: list[Draft] = []
    left_out: list[str] = []
    for group in report.unanswered:
        if len(drafts) >= limit:
            break
        draft, why = _draft(group, asked, whole, knowledge, owners, closest, answers, ids)
        if draft is not None:
            drafts.append(draft)
        else:
            left_out.append(why)
    return Unanswered(tuple(drafts), tuple(left_out), len(report.unanswered))


def _draft(group: Group, asked: Counter[str], whole: dict[str, str], knowledge: Knowledge,
           owners: dict[str, tuple[str, str]], closest: Closest, answers: Answers, ids: Ids
           ) -> tuple[Draft | None, str]:
    # The group's wordings, whole, within an entry's limits, each once as the matcher reads them (the one asked most,
    # counted as often as all of them were).
    counts: Counter[str] = Counter()
    alike: dict[str, list[str]] = {}
    for clipped in group.wordings:
        text = whole.get(clipped, clipped)
        key = words_key(text)
        if not key or text.endswith(_CUT) or len(text) > MAX_PHRASING_CHARS:
            continue
        counts[key] += asked[text] or 1
        alike.setdefault(key, []).append(text)
    kept = {key: min(texts, key=lambda t: _preferred(t, asked)) for key, texts in alike.items()}
    shown = clip_question(group.text, 80)
    if not kept:
        return None, f"'{shown}': no wording of it is a question an entry can hold (too long, or no words)"
    if group.taught:
        return None, f"'{shown}': an admin taught what it means since"
    candidates = list(kept.values())
    question = representative(candidates, Counter({kept[key]: n for key, n in counts.items()}))
    shown = clip_question(question, 80)
    owner = owners.get(phrasing_key(question))
    if owner is not None:
        return None, f"'{shown}': already the {owner[1]} of entry '{owner[0]}'"
    answered = answers(question)
    if answered is not None:
        return None, f"'{shown}': the bot answers it now, with entry '{answered}'"
    alternates = tuple(w for w in candidates if w != question and phrasing_key(w) not in owners)
    sources: list[Source] = []
    for doc, text, similarity in closest(question):
        document = knowledge.documents.get(doc)
        if document is None or similarity < FAR or text.rstrip().endswith("?"):  # a question supports nothing
            continue
        for source in cite(document, text):
            if source not in sources:
                sources.append(source)
    how = f"{group.suggested} offered an entry, {group.declined} declined" if group.suggested else "declined"
    notes = [f"asked {group.count} time{'s' if group.count != 1 else ''} ({how})"
             + (f"; the entry offered most: {group.guess}" if group.guess else "")]
    return Draft(ids.new(question), question, tuple(sources), alternates=alternates, notes=tuple(notes),
                 question_note="the wording most like the others, as asked (Slack markup removed)",
                 alternates_note="the group's other wordings: keep those the answer answers",
                 sources_note="the passages closest to the question: keep those the answer rests on, delete the "
                              "others" if sources else "no passage of the documents is close to it: they may not "
                              "answer it (delete the draft, or teach the question as not covered)"), ""
