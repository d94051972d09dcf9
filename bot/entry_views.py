"""The modals admins write the FAQ in from Slack: "New entry" (a question, its answer in the admin's words, the theme,
the passages to cite chosen from the documents' closest to the question) and "Edit answer" (another answer for an
entry); what a submission says, read defensively (anyone can forge one); and the metadata that proves a modal was
opened by this bot, for this admin."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from knowledge import Entry, KnowledgeBase, source_link
from knowledge.citing import Near
from knowledge.content.documents import IndexedText
from knowledge.content.loader import (
    MAX_ANSWER_CHARS,
    MAX_ID_CHARS,
    MAX_PHRASING_CHARS,
    MAX_QUOTE_CHARS,
)
from knowledge.content.passages import Passage
from knowledge.content.written import NewEntry, Refusal, id_from, themes

from . import blocks
from .blocks import Block, clip, escape

NEW_CALLBACK, ANSWER_CALLBACK = "entry_new", "entry_answer"  # the modals' callback ids
QUESTION_ACTION = "entry_question"  # Enter in the question: the passages closest to it are listed again
CHOOSE, CHOOSE_ACTION = "entry", "entry_choose"  # the entry whose answer to edit: chosen, the modal drawn again
# Input blocks (their ids name the field in a submission's state, and where an error is shown).
QUESTION, ALTERNATES, ANSWER, THEME, PASSAGES, PASTED, TAGS, ID = (
    "entry_question", "entry_alternates", "entry_answer", "entry_theme", "entry_passages:", "entry_pasted",
    "entry_tags", "entry_id")
TEXT = "text"  # the action id of every text input but the question's
MAX_PASSAGES_OFFERED = 10  # Slack's limit on a checkbox group's options
MAX_ALTERNATES_CHARS = 3000  # Slack's limit on a text input
MAX_ERROR_CHARS = 300
MODAL_TITLE_CHARS = 24
MAX_METADATA_CHARS = 3000
MODAL_HOURS = 24  # a modal submitted later than this after it opened is refused: open it again


# ---- Metadata: which modal this is, for whom, signed

def modal_key(*secrets_shared: str | None) -> bytes:
    """The key modals are signed with: from the first of `secrets_shared` (the signing secret, an app or bot token:
    what every replica of the bot shares) that is set, so that a modal opened on one replica is accepted on another;
    random (this process only) when none is."""
    shared = next((s for s in secrets_shared if s), None)
    if shared is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"openllm-bot modal\0" + shared.encode()).digest()


def _mac(key: bytes, fields: Mapping[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]


def signed(key: bytes, kind: str, admin: str, entry: str | None = None, now: float | None = None) -> str:
    """The private metadata of a modal of `kind` (NEW_CALLBACK or ANSWER_CALLBACK) opened for `admin` (about `entry`,
    for ANSWER_CALLBACK): what a submission must carry back, signed with `key`."""
    fields: dict[str, Any] = {"kind": kind, "admin": admin, "at": int(time.time() if now is None else now)}
    if entry is not None:
        fields["entry"] = entry
    return json.dumps({**fields, "mac": _mac(key, fields)}, separators=(",", ":"))


def opened(key: bytes, metadata: object, kind: str, user: object, now: float | None = None) -> dict[str, Any] | None:
    """The fields of `metadata` when this bot signed it for a modal of `kind` opened for `user` less than MODAL_HOURS
    ago; None otherwise (a view the bot never opened, another admin's, another kind, too old, or changed)."""
    if not isinstance(metadata, str) or len(metadata) > MAX_METADATA_CHARS:
        return None
    try:
        fields = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(fields, dict) or not isinstance(mac := fields.pop("mac", None), str):
        return None
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), _mac(key, fields).encode()):
        return None
    at = fields.get("at")
    moment = time.time() if now is None else now
    if fields.get("kind") != kind or fields.get("admin") != user or not isinstance(at, int) \
            or not moment - MODAL_HOURS * 3600 <= at <= moment + 60:
        return None
    return fields


# ---- What a modal holds

@dataclass(frozen=True)
class Draft:
    """A new entry as the modal holds it: typed, chosen, or filled in beforehand (from a question asked, an answer
    someone gave in the hand-off channel)."""

    question: str = ""
    answer: str = ""
    alternates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    theme: str | None = None
    id: str = ""
    pasted: str = ""
    chosen: tuple[str, ...] = ()  # the keys of the passages checked

    @classmethod
    def from_value(cls, value: object) -> Draft:
        """The draft a button's value (JSON: `question`, `answer`, `alternates`, each optional) fills in; anything
        else in it, or a value that is not such JSON, fills in nothing."""
        try:
            given = json.loads(value) if isinstance(value, str) and value else {}
        except ValueError:
            given = {}
        if not isinstance(given, dict):
            given = {}
        question, answer = given.get("question"), given.get("answer")
        alternates = given.get("alternates")
        return cls(question=clip(question.strip(), MAX_PHRASING_CHARS) if isinstance(question, str) else "",
                   answer=clip(answer.strip(), MAX_ANSWER_CHARS) if isinstance(answer, str) else "",
                   alternates=tuple(a.strip() for a in alternates if isinstance(a, str) and a.strip())
                   if isinstance(alternates, list) else ())


def unknown_wordings(kb: KnowledgeBase, draft: Draft) -> Draft:
    """`draft` without the other wordings the FAQ (with what was written from Slack) has as an entry's phrasing, or
    that are its question: what a form is filled in with is then taken as it is."""
    known = {" ".join(t.split()).casefold() for e in kb.written_faq.entries for t in (e.question, *e.alternates)}
    known.add(" ".join(draft.question.split()).casefold())
    return replace(draft, alternates=tuple(a for a in draft.alternates if " ".join(a.split()).casefold() not in known))


@dataclass(frozen=True)
class Submitted:
    """What a submission's state says: the draft, the block ids of its passages and its answer (if it had them), and
    every block id it had."""

    draft: Draft
    passages_block: str | None = None
    answer_block: str = ANSWER
    blocks: frozenset[str] = field(default_factory=frozenset)
    too_long: dict[str, str] = field(default_factory=dict)  # by block: what the form itself limits (a forged one not)


def _values(view: object) -> dict[str, dict[str, Any]]:
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, dict)}


def _element(values: Mapping[str, dict[str, Any]], block_id: str) -> dict[str, Any]:
    found = values.get(block_id) or {}
    element = next(iter(found.values()), None) if len(found) == 1 else None
    return element if isinstance(element, dict) else {}


def _text(values: Mapping[str, dict[str, Any]], block_id: str) -> str:
    value = _element(values, block_id).get("value")
    return value if isinstance(value, str) else ""


def _lines(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def submitted(view: object) -> Submitted:
    """The draft a submitted modal's state holds (fields missing or of the wrong kind read as left empty)."""
    values = _values(view)
    passages_block = next((b for b in values if b.startswith(PASSAGES)), None)
    answer_block = next((b for b in values if b == ANSWER or b.startswith(ANSWER + ":")), ANSWER)
    chosen: list[str] = []
    if passages_block is not None:
        options = _element(values, passages_block).get("selected_options")
        for option in options if isinstance(options, list) else []:
            value = option.get("value") if isinstance(option, dict) else None
            if isinstance(value, str) and value not in chosen:
                chosen.append(value)
    theme = _element(values, THEME).get("selected_option")
    theme_value = theme.get("value") if isinstance(theme, dict) else None
    tags = tuple(dict.fromkeys(t.strip().lower() for t in _text(values, TAGS).split(",") if t.strip()))
    draft = Draft(question=_text(values, QUESTION).strip(), answer=_text(values, answer_block).strip(),
                  alternates=_lines(_text(values, ALTERNATES)), tags=tags,
                  theme=theme_value if isinstance(theme_value, str) else None, id=_text(values, ID).strip(),
                  pasted=_text(values, PASTED).strip(), chosen=tuple(chosen))
    too_long = {block: f"At most {limit:,} characters." for block, limit in ((ALTERNATES, MAX_ALTERNATES_CHARS),
                                                                             (TAGS, MAX_PHRASING_CHARS))
                if len(_text(values, block)) > limit}
    return Submitted(draft, passages_block, answer_block, frozenset(values), too_long)


def locate(kb: KnowledgeBase, quote: str) -> str:
    """The document that holds `quote` verbatim (whitespace collapsed); none holding it, the one that holds the longest
    start of it (where the loader says the quote leaves it)."""
    best, longest = next(iter(kb.knowledge.documents), ""), -1
    for name, document in kb.knowledge.documents.items():
        text = IndexedText.of(document.text)
        if text.locate(quote) is not None:
            return name
        found, _ = text.divergence(quote)
        if found > longest:
            best, longest = name, found
    return best


class Unresolved(Exception):
    """A submission names what cannot be taken: `errors` by block id."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def new_entry(kb: KnowledgeBase, form: Submitted) -> NewEntry:
    """The entry a submitted "New entry" modal asks for (its id made from the question when none is given); raises
    Unresolved for what only the modal can say (a theme that is not the FAQ's, a passage the documents no longer
    hold). Everything else is the loader's to check (`KnowledgeBase.check_written`)."""
    draft = form.draft
    errors: dict[str, str] = dict(form.too_long)
    if draft.theme is None:
        errors[THEME] = "Choose the FAQ file the entry goes into."
    elif draft.theme not in themes(kb.written_faq):
        errors[THEME] = "That is not one of the FAQ's files: choose one from the list."
    sources: list[tuple[str, str]] = []
    for key in draft.chosen:
        passage = kb.passages.by_key(key)
        if passage is None:
            errors[form.passages_block or PASTED] = ("A passage chosen is no longer in the documents (they changed "
                                                     "since the form opened): choose again.")
            break
        sources.append((passage.doc, passage.text))
    if draft.pasted:
        sources.append((locate(kb, draft.pasted), draft.pasted))
    if errors:
        raise Unresolved(errors)
    return NewEntry(id=draft.id or id_from(draft.question) or "entry", theme=draft.theme or "",
                    question=draft.question, answer=draft.answer, sources=tuple(sources),
                    alternates=draft.alternates, tags=draft.tags)


def errors_of(refusals: Iterable[Refusal], form: Submitted, chosen: int) -> dict[str, str]:
    """The loader's refusals of a submitted modal's entry, by the block each is about (`chosen`: how many sources
    came from the checked passages, before the pasted one), as `response_action="errors"` shows them."""
    where = {"question": QUESTION, "alternates": ALTERNATES, "tags": TAGS, "answer": form.answer_block,
             "theme": THEME, "id": ID, "entry": CHOOSE if CHOOSE in form.blocks else form.answer_block}
    errors: dict[str, list[str]] = {}
    for refusal in refusals:
        if refusal.field == "sources":
            block = PASTED if refusal.source is not None and refusal.source >= chosen else form.passages_block
        else:
            block = where.get(refusal.field, QUESTION)
        if not block or block not in form.blocks:  # a form without that field (forged): shown where one is
            block = next((b for b in (QUESTION, form.answer_block, CHOOSE) if b in form.blocks), block or QUESTION)
        errors.setdefault(block, []).append(refusal.reason)
    return {block: clip("; ".join(reasons), MAX_ERROR_CHARS) for block, reasons in errors.items()}


# ---- The modals

def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool = False, hint: str | None = None
           ) -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": _plain(label), "element": element,
                    "optional": optional}
    if hint:
        block["hint"] = _plain(hint)
    return block


def _text_input(action_id: str, value: str, limit: int, multiline: bool = False, placeholder: str | None = None
                ) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "multiline": multiline,
                               "max_length": limit}
    if value:
        element["initial_value"] = value[:limit]
    if placeholder:
        element["placeholder"] = _plain(placeholder)
    return element


def _modal(callback_id: str, title: str, view_blocks: list[Block], metadata: str, submit: str | None = "Save"
           ) -> Block:
    view: Block = {"type": "modal", "callback_id": callback_id, "title": _plain(clip(title, MODAL_TITLE_CHARS)),
                   "close": _plain("Cancel" if submit else "Close"), "blocks": view_blocks,
                   "private_metadata": metadata}
    if submit:
        view["submit"] = _plain(submit)
    return view


def theme_option(theme: str) -> dict[str, Any]:
    return {"text": _plain(clip(f"{blocks.theme_name(theme)} ({theme}.yaml)", blocks.MAX_OPTION_TEXT)), "value": theme}


def passage_text(kb: KnowledgeBase, number: int, passage: Passage) -> str:
    """A passage as the modal shows it: verbatim (escaped), then its document, linked to the passage."""
    document = kb.knowledge.documents.get(passage.doc)
    if document is None:
        return f"*{number}.* {escape(passage.text)}\n{escape(passage.doc)}, line {passage.line}"
    link = source_link(document, passage.source, kb.source_base_url)
    where = blocks.source_text(link) + (f", line {passage.line}" if link.url else "")  # else said in it
    return f"*{number}.* {escape(passage.text)}\n{where}"


def offered(kb: KnowledgeBase, chosen: Sequence[str], near: Sequence[Near]) -> list[Passage]:
    """The passages a modal offers: those checked already (still in the documents), then the closest to the
    question, at most MAX_PASSAGES_OFFERED."""
    found = [p for key in chosen if (p := kb.passages.by_key(key)) is not None]
    found += [n.passage for n in near if n.passage not in found]
    return found[:MAX_PASSAGES_OFFERED]


def entry_modal(kb: KnowledgeBase, draft: Draft, metadata: str, near: Sequence[Near] | None) -> Block:
    """The "New entry" modal filled in with `draft`; `near`: the passages closest to its question (None: still being
    found)."""
    theme_list = themes(kb.written_faq)
    theme_select: dict[str, Any] = {"type": "static_select", "action_id": TEXT, "placeholder": _plain("Choose…"),
                                    "options": [theme_option(t) for t in theme_list[:blocks.MAX_OPTIONS]]}
    if draft.theme in theme_list:
        theme_select["initial_option"] = theme_option(draft.theme)
    question = _text_input(QUESTION_ACTION, draft.question, MAX_PHRASING_CHARS)
    question["dispatch_action_config"] = {"trigger_actions_on": ["on_enter_pressed"]}
    view_blocks: list[Block] = [
        {**_input(QUESTION, "Question", question, hint="Press Enter to list the passages closest to it."),
         "dispatch_action": True},
        _input(ALTERNATES, "Other ways people ask it", _text_input(TEXT, "\n".join(draft.alternates),
                                                                     MAX_ALTERNATES_CHARS, multiline=True),
               optional=True, hint="One a line."),
        _input(ANSWER, "Answer, in your own words", _text_input(TEXT, draft.answer, MAX_ANSWER_CHARS, multiline=True),
               hint="Slack formatting (*bold*, _italic_, • lists) shows as written."),
        _input(THEME, "Theme: the FAQ file it goes into", theme_select),
        blocks.section("*Passages to cite*: the documents' closest to the question, word for word. Check those the "
                       "answer rests on, or paste another below.", "entry-passages-lead"),
    ]
    if near is None:
        view_blocks.append(blocks.context([":mag: Finding the passages closest to the question…"], "entry-finding"))
        shown: list[Passage] = [p for key in draft.chosen if (p := kb.passages.by_key(key)) is not None]
    else:
        shown = offered(kb, draft.chosen, near)
        if not shown:
            view_blocks.append(blocks.context(["Type the question, then press Enter: the passages closest to it are "
                                               "listed here."], "entry-no-passages"))
    for number, passage in enumerate(shown, start=1):
        view_blocks.append(blocks.section(passage_text(kb, number, passage), f"entry-passage-{number}", verbatim=True))
    if shown:
        options = [{"text": _plain(clip(f"{n}. {p.text}", blocks.MAX_OPTION_TEXT)), "value": p.key}
                   for n, p in enumerate(shown, start=1)]
        checkboxes: dict[str, Any] = {"type": "checkboxes", "action_id": TEXT, "options": options}
        initial = [o for o, p in zip(options, shown, strict=True) if p.key in draft.chosen]
        if initial:
            checkboxes["initial_options"] = initial
        # A block id of its own for each set of passages: Slack would otherwise keep the boxes checked in the last.
        digest = hashlib.sha256("\0".join(p.key for p in shown).encode()).hexdigest()[:12]
        view_blocks.append(_input(PASSAGES + digest, "Cite", checkboxes, optional=True))
    view_blocks += [
        _input(PASTED, "Or paste a passage, word for word from a document", _text_input(
            TEXT, draft.pasted, MAX_QUOTE_CHARS, multiline=True), optional=True,
               hint="A sentence or more, exactly as the document has it; the document holding it is found."),
        _input(TAGS, "Topic words", _text_input(TEXT, ", ".join(draft.tags), MAX_PHRASING_CHARS), optional=True,
               hint="Comma-separated: what `/openllm TOPIC` answers with this entry."),
        _input(ID, "Id", _text_input(TEXT, draft.id, MAX_ID_CHARS, placeholder=id_from(draft.question) or None),
               optional=True, hint="kebab-case; left empty, it is made from the question."),
        blocks.context(["Checked as an entry of knowledge/faq/ is: the quotes must be in the documents word for word, "
                        "the id new, no @-mentions; `openllm-bot taught export` writes it into the FAQ file."],
                       "entry-rules"),
    ]
    return _modal(NEW_CALLBACK, "New FAQ entry", view_blocks, metadata)


def _entry_option(entry: Entry) -> dict[str, Any]:
    return {"text": _plain(clip(entry.question, blocks.MAX_OPTION_TEXT)), "value": entry.id}


def answer_modal(kb: KnowledgeBase, entry: Entry | None, metadata: str) -> Block:
    """The "Edit answer" modal: the entry to edit, chosen from the FAQ's (choosing one draws the modal again with it),
    and `entry`'s answer as the bot gives it now, to edit."""
    select, _ = blocks.entry_select(kb)
    select = {**select, "action_id": CHOOSE_ACTION, "placeholder": _plain("Choose an entry…")}
    if entry is not None and len(entry.id) <= blocks.MAX_OPTION_VALUE:
        select["initial_option"] = _entry_option(entry)
    view_blocks: list[Block] = [{**_input(CHOOSE, "Entry", select), "dispatch_action": True}]
    if entry is None:
        view_blocks.append(blocks.context(["Choose the entry: its answer appears here, to edit."], "entry-edit-none"))
        return _modal(ANSWER_CALLBACK, "Edit answer", view_blocks, metadata)
    sources = blocks.sources_text(kb.links(entry))
    view_blocks += [
        blocks.section(f"*{escape(entry.question)}*", "entry-edit-question", verbatim=True),
        blocks.context([f"`{escape(entry.id)}` in {escape(entry.file or 'the FAQ')}", *sources][
                       :blocks.MAX_CONTEXT_ELEMENTS], "entry-edit-where"),
        # A block id of its own for each entry: Slack would otherwise keep the answer typed for another.
        _input(ANSWER + ":" + hashlib.sha256(entry.id.encode()).hexdigest()[:12], "Answer, in your own words",
               _text_input(TEXT, entry.answer, MAX_ANSWER_CHARS, multiline=True),
               hint="The bot answers with it instead of the FAQ's, citing the same passages."),
    ]
    return _modal(ANSWER_CALLBACK, "Edit answer", view_blocks, metadata)


def chosen_entry(view: object) -> str | None:
    """The entry chosen in a submitted (or changed) "Edit answer" modal."""
    option = _element(_values(view), CHOOSE).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def outcome_modal(callback_id: str, text: str, title: str = "New FAQ entry") -> Block:
    """What became of a submission (or that it is being stored), in place of the modal."""
    return _modal(callback_id, title, [blocks.section(text, "entry-outcome", verbatim=True)], "", submit=None)
