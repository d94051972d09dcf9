"""Block Kit replies: answers, suggestions, help and App Home, within Slack's limits and escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import PurePath
from typing import Any

from knowledge import Entry, KnowledgeBase, MatchResult
from knowledge.content.links import SourceLink

from .report import Group, Report, reason_counts
from .store import TaughtRecord

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_FALLBACK_TEXT = 3000
MAX_RELATED = 5

Block = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A message: Block Kit blocks and the plain `text` shown in notifications and to screen readers."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def escape(text: str) -> str:
    """Text safe to show as mrkdwn: `<!channel>` or `<@U1>` typed by someone stays inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, title: str) -> str:
    """`<url|title>`; a `|` or `>` in either cannot end the link early."""
    label = escape(title).replace("|", "∣")
    if not url:
        return label
    safe_url = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe_url}|{label}>"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_LINK_OR_ENTITY = re.compile(r"<[^>]*>|&[a-z]+;")
# Where text may be cut into sections, best first: between paragraphs, between sentences (after . ! or ?, and any
# closing quote, bracket or mrkdwn mark, before something that is not a lower-case word or a " · " list separator),
# between lines, between words. The whitespace at the boundary goes (the group is where the cut falls).
_BOUNDARIES = (
    re.compile(r"(\n[ \t]*\n)"),
    re.compile(r"[.!?][\"')\]*_~]*(\s+)(?=[^\s·a-z])"),
    re.compile(r"(\n)"),
    re.compile(r"(\s)"),
)


def _cut(text: str, limit: int) -> int:
    """Where to end the first piece of `text` (at most `limit` characters): the last boundary of the best kind that
    leaves a non-empty piece, never inside a `<link>` or an `&entity;`; at `limit` (or the link there) when the text
    has no boundary at all."""
    window = text[:limit + 1]  # whitespace just past the limit still ends a piece of `limit` characters
    protected = [m.span() for m in _LINK_OR_ENTITY.finditer(text, 0, limit + MAX_SECTION_TEXT)]

    def allowed(cut: int) -> bool:
        return cut > 0 and bool(window[:cut].strip()) and not any(start < cut < end for start, end in protected)

    for boundary in _BOUNDARIES:
        cuts = [m.start(1) for m in boundary.finditer(window) if allowed(m.start(1))]
        if cuts:
            return cuts[-1]
    cut = limit
    for start, end in protected:
        if start < cut < end and start > 0:
            return start
    return cut


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut between paragraphs, else between sentences, else between
    lines (only a sentence longer than `limit` is cut between words), never inside a `<link>` or an `&entity;`:
    no piece ends in the middle of a sentence and leaves its fragment to the next one."""
    parts: list[str] = []
    while len(text) > limit:
        cut = _cut(text, limit)
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text or not parts:
        parts.append(text)
    return parts


def section(text: str, block_id: str | None = None, verbatim: bool = False) -> Block:
    """A mrkdwn section; `verbatim` for text that holds what people wrote: Slack then does not turn the domains
    and channel names in it into links (the markup written here, such as a mention, still works)."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}}
    if verbatim:
        block["text"]["verbatim"] = True
    if block_id:
        block["block_id"] = clip(block_id, MAX_ID)
    return block


def sections(text: str, prefix: str) -> list[Block]:
    return [section(part, f"{prefix}-{i}") for i, part in enumerate(split_text(text))]


def context(texts: Iterable[str], block_id: str | None = None) -> Block:
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_SECTION_TEXT)} for t in texts][:MAX_CONTEXT_ELEMENTS]
    block: Block = {"type": "context", "elements": elements}
    if block_id:
        block["block_id"] = block_id
    return block


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": clip(action_id, MAX_ID),
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        element["style"] = style
    return element


def header(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "header",
                    "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}
    if block_id:
        block["block_id"] = clip(block_id, MAX_ID)
    return block


def actions(buttons: list[Block], block_id: str) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": buttons[:MAX_ACTIONS_ELEMENTS]}


def source_text(source: SourceLink) -> str:
    text = f":page_facing_up: {link(source.url, source.title)}"
    if not source.url:
        text += f" ({source.lines})"
    if source.related_title:
        text += f", summarising {link(source.related_url, source.related_title)}"
    return text


def sources_text(sources: Sequence[SourceLink]) -> list[str]:
    """One line per document cited, its passages under its title: "Title: passage 1, passage 2" (each a link to the
    passage), or "Title (line 5, lines 9-10)" for a document without an address; never the same passage twice."""
    by_document: dict[tuple[str, str | None, str | None], list[SourceLink]] = {}
    for source in sources:
        by_document.setdefault((source.title, source.related_title, source.related_url), []).append(source)
    lines = []
    for passages in by_document.values():
        first = passages[0]
        unique = list({(p.url, p.lines): p for p in passages}.values())
        if len(unique) == 1:
            lines.append(source_text(first))
            continue
        if all(p.url for p in unique):
            text = f":page_facing_up: {escape(first.title)}: " + ", ".join(
                link(p.url, f"passage {n}") for n, p in enumerate(unique, 1))
        else:
            text = f":page_facing_up: {link(first.url, first.title)} ({', '.join(p.lines for p in unique)})"
        if first.related_title:
            text += f", summarising {link(first.related_url, first.related_title)}"
        lines.append(text)
    return lines


def fit(blocks: list[Block], limit: int = MAX_BLOCKS) -> list[Block]:
    """At most `limit` blocks: long text gives way to the buttons, which are kept."""
    if len(blocks) <= limit:
        return blocks
    tail = [b for b in blocks if b["type"] != "section"]
    head = [b for b in blocks if b["type"] == "section"][: limit - len(tail)]
    if head:
        last = head[-1]["text"]
        last["text"] = clip(last["text"], MAX_SECTION_TEXT - 1) + "…"
    return head + tail


# Action ids: the prefix names what a button does; the entry id rides in `value`.
RELATED, SUGGEST, SHARE, HELPFUL, NOT_HELPFUL = "related", "suggest", "share", "helpful", "not_helpful"


def action_id(kind: str, entry_id: str) -> str:
    return f"{kind}:{entry_id}"


def entry_reply(kb: KnowledgeBase, entry: Entry, *, shareable: bool = False,
                 shared_by: str | None = None) -> Reply:
    """The full answer to `entry`: text, sources, Related and feedback buttons (and Share when ephemeral)."""
    blocks = sections(f"*{escape(entry.question)}*\n{entry.answer}", "answer")
    sources = sources_text(kb.links(entry))
    if sources:
        blocks.append(context(sources, "sources"))
    related = [e for e in (kb.entry(i) for i in entry.related) if e][:MAX_RELATED]
    if related:
        blocks.append(context(["*Related questions*"], "related-label"))
        blocks.append(actions([button(e.question, action_id(RELATED, e.id), e.id) for e in related], "related"))
    feedback = [button("👍 Helpful", action_id(HELPFUL, entry.id), entry.id),
                button("👎 Not helpful", action_id(NOT_HELPFUL, entry.id), entry.id)]
    if shareable:
        feedback.append(button("Share in channel", action_id(SHARE, entry.id), entry.id, style="primary"))
    blocks.append(actions(feedback, "feedback"))
    if shared_by:
        blocks.append(context([f"Shared by {shared_by}"], "shared-by"))
    text = f"{entry.question}\n{entry.answer}"
    if shared_by:
        text = f"Shared by {shared_by}: {text}"
    return Reply(clip(text, MAX_FALLBACK_TEXT), fit(blocks))


def pair_reply(kb: KnowledgeBase, first: Entry, second: Entry, *, shareable: bool = False) -> Reply:
    """Both answers to a question about two things ("llama vs mistral"), one after the other in one message (the
    second's block ids made unique)."""
    one, two = entry_reply(kb, first, shareable=shareable), entry_reply(kb, second, shareable=shareable)
    renamed = [{**b, "block_id": clip(f"{b['block_id']}-2", MAX_ID)} if "block_id" in b else b for b in two.blocks]
    blocks = fit([*one.blocks, {"type": "divider"}, *renamed])
    return Reply(clip(f"{one.text}\n\n{two.text}", MAX_FALLBACK_TEXT), blocks)


def suggestions_reply(kb: KnowledgeBase, entry_ids: Iterable[str], lead: str) -> Reply:
    """`lead`, then one button per entry: clicking answers it in place."""
    entries = [e for e in (kb.entry(i) for i in entry_ids) if e]
    text = lead + "\n" + "\n".join(f"• {e.question}" for e in entries)
    blocks = [section(lead, "lead"),
              actions([button(e.question, action_id(SUGGEST, e.id), e.id) for e in entries], "choices")]
    return Reply(clip(text, MAX_FALLBACK_TEXT), blocks)


def unsaid_lead(unsaid: str) -> str:
    """The honest reply when the documents cover the topic but not what is asked."""
    return f"My documents don't {unsaid}. They do cover:"


def english_only_reply(command: str) -> Reply:
    text = (f"Sorry, I only understand questions in English (my documents are in English). "
            f"Try asking again in English, or `{command} topics` to see what I can answer.")
    return Reply(text, [section(text, "english-only")])


def none_reply(command: str) -> Reply:
    text = (f"That's outside what my documents cover, so I won't guess. "
            f"Try `{command} topics` to see what I can answer.")
    return Reply(text, [section(text, "none")])


def understood_in_thread(reply: Reply, about: str) -> Reply:
    """`reply` to a mention read with its thread, saying first what the bot took it to be about: a wrong reading
    is then obvious."""
    note = f"Reading the thread, I took this to be about: _{escape(about)}_"
    return Reply(f"{note}\n{reply.text}", [context([note], "understood"), *reply.blocks])


def result_reply(kb: KnowledgeBase, result: MatchResult, command: str, *, shareable: bool = False) -> Reply:
    """The reply to a matched question, whatever the outcome."""
    if result.status == "answer" and result.id and (entry := kb.entry(result.id)):
        if result.also and (second := kb.entry(result.also)):
            return pair_reply(kb, entry, second, shareable=shareable)
        return entry_reply(kb, entry, shareable=shareable)
    if result.status == "suggest" and result.candidates and result.unsaid:
        return suggestions_reply(kb, [c.id for c in result.candidates[:1]], unsaid_lead(result.unsaid))
    if result.status == "suggest" and result.candidates:
        return suggestions_reply(kb, [c.id for c in result.candidates[:3]],
                              "I'm not sure I understood; did you mean...")
    return none_reply(command)


def how_to_ask(command: str) -> str:
    return ("*How to ask*\n"
            "• Mention me in a channel: `@openllm can we use Llama commercially?` (I answer in a thread)\n"
            "• Send me a direct message with your question\n"
            f"• `{command} QUESTION-OR-TOPIC` answers only you, with a button to share the answer\n"
            f"• `{command} topics` lists what I know; `{command} help` shows this")


def example_topics(kb: KnowledgeBase, count: int = 5) -> str:
    """A few topic words from across the themes: the first tag of each theme's first entry, then of its second..."""
    grouped = list(themes(kb).values())
    tags: list[str] = []
    for entries in zip_longest(*grouped):
        tags.extend(e.tags[0] for e in entries if e and e.tags and e.tags[0] not in tags)
    return ", ".join(f"`{escape(tag)}`" for tag in tags[:count])


def theme_name(file: str) -> str:
    """The theme an FAQ file holds, from its name: `knowledge/faq/open-models.yaml` is "Open models"."""
    name = " ".join(re.split(r"[-_\s]+", PurePath(file).stem)).strip()
    return name[:1].upper() + name[1:] if name else "Other"


def themes(kb: KnowledgeBase) -> dict[str, list[Entry]]:
    """The FAQ's entries by theme (the file they are in), themes and entries in file order."""
    grouped: dict[str, list[Entry]] = {}
    for entry in kb.knowledge.entries:
        grouped.setdefault(theme_name(entry.file), []).append(entry)
    return grouped


def names(items: list[str], limit: int = 8) -> str:
    """`A, B and C`; past `limit` items, the first `limit` and `and 5 more`."""
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def themes_text(kb: KnowledgeBase) -> str:
    """The themes in one short sentence, with a few topic words (the tags `COMMAND TOPIC` answers)."""
    return (f"I know about {names([f'*{escape(t)}*' for t in themes(kb)])}: ask a question, "
            f"or a topic such as {example_topics(kb)}.")


def intro_reply(kb: KnowledgeBase, command: str) -> Reply:
    text = ("Hi! I answer questions about open source LLMs from a small set of documents, "
            "and link to the passages my answers come from.")
    topics = themes_text(kb)
    return Reply(f"{text} {topics}", [section(text, "intro"), section(how_to_ask(command), "how"),
                                      section(topics, "examples")])


def usage_reply(kb: KnowledgeBase, command: str) -> Reply:
    text = how_to_ask(command)
    topics = themes_text(kb)
    return Reply(f"{text}\n{topics}", [section(text, "usage"), section(topics, "examples")])


def topic_button(entry: Entry, number: int) -> Block:
    """A button that answers `entry` beside the list it is in (the Related buttons' action: the list stays);
    `number`, unique in the message, names it when the entry's id is too long for an action id."""
    aid = action_id(RELATED, entry.id)
    if len(aid) > MAX_ID:  # clipped, it could equal another's; ids are kebab-case, so `#` names no entry
        aid = action_id(RELATED, f"#{number}")
    return button(entry.question, aid, entry.id)


def topics_reply(kb: KnowledgeBase, command: str) -> Reply:
    """Every theme (FAQ file) with its questions as buttons that answer them; whatever does not fit in one
    message (25 questions a theme, 50 blocks) is counted in a note at the end."""
    ask = f"`{command} QUESTION-OR-TOPIC`"
    lead = f"*What I can answer*, by theme: click a question, or ask me anything with {ask}."
    blocks = [section(lead, "lead")]
    room = MAX_BLOCKS - 2  # the lead, and the note about what did not fit
    hidden: dict[str, int] = {}
    buttons = 0
    lines = [lead]
    for i, (theme, entries) in enumerate(themes(kb).items()):
        # One actions block a theme (a longer menu would not be read), while two more blocks fit.
        shown = entries[:MAX_ACTIONS_ELEMENTS] if room >= 2 else []
        if shown:
            blocks += [header(theme, f"theme-{i}"),
                       actions([topic_button(e, buttons + n) for n, e in enumerate(shown)], f"theme-{i}-questions")]
            buttons += len(shown)
            room -= 2
        if len(entries) > len(shown):
            hidden[theme] = len(entries) - len(shown)
        lines.append(f"\n*{escape(theme)}*\n" + "\n".join(f"• {escape(e.question)}" for e in entries))
    if hidden:
        count = sum(hidden.values())
        more = f"…and {count} more {'question' if count == 1 else 'questions'}"
        blocks.append(context([f"{more} (in {names([escape(t) for t in hidden], 5)}): ask me with {ask}."],
                              "more"))
    # The plain list of every question, cut between themes (else lines) if it is too long for a message.
    text = "\n".join(lines)
    if len(text) > MAX_FALLBACK_TEXT:
        text = text[:_cut(text, MAX_FALLBACK_TEXT - 1)].rstrip() + "…"
    return Reply(text, blocks)


HOME_THEMES = 20
HOME_EXAMPLES = 3


def themes_overview(kb: KnowledgeBase, command: str) -> str:
    """For the App Home (whose buttons could not answer: a click there has no channel): each theme with a few of
    its questions, and where to find the rest."""
    grouped = list(themes(kb).items())
    paragraphs = []
    for theme, entries in grouped[:HOME_THEMES]:
        lines = [f"*{escape(theme)}*", *(f"• {escape(e.question)}" for e in entries[:HOME_EXAMPLES])]
        if len(entries) > HOME_EXAMPLES:
            lines.append(f"_…and {len(entries) - HOME_EXAMPLES} more_")
        paragraphs.append("\n".join(lines))
    more = f" ({len(grouped) - HOME_THEMES} more themes)" if len(grouped) > HOME_THEMES else ""
    paragraphs.append(f"`{command} topics` lists every question{more}, with buttons that answer them.")
    return "\n\n".join(paragraphs)


def documents_text(kb: KnowledgeBase) -> str:
    lines = []
    for doc in kb.knowledge.documents.values():
        line = f"• {link(doc.url, doc.title)}"
        if doc.related_title:
            line += f", summarising {link(doc.related_url, doc.related_title)}"
        lines.append(line)
    return "\n".join(lines)


def home_view(kb: KnowledgeBase, command: str, admin: Iterable[Block] = ()) -> Block:
    """The App Home tab: what the bot knows, how to ask, where answers come from; `admin` blocks first."""
    blocks: list[Block] = [
        *admin,
        {"type": "header", "text": {"type": "plain_text", "text": "openllm: answers about open source LLMs"}},
        section("I answer from a FAQ written from the documents below, link every answer to its passages, "
                "and say so when a question is outside them rather than guess.", "about"),
        section(how_to_ask(command), "how"),
        {"type": "divider"},
        section("*What I know*", "topics-label"),
        *sections(themes_overview(kb, command), "topics"),
        {"type": "divider"},
        *sections("*Where the answers come from*\n" + documents_text(kb), "documents"),
    ]
    return {"type": "home", "blocks": fit(blocks, MAX_HOME_BLOCKS)}


ADMIN_TOP = 5  # least helpful answers listed
# Unanswered questions with teaching controls (2 blocks each) and recently taught phrasings (1 block each): with the
# summary and the Home everyone sees, the admin Home stays well within its 100 blocks.
ADMIN_TEACHABLE = 15
ADMIN_RECENT = 10
MAX_OPTIONS = 100  # a select's options, and its option groups (https://docs.slack.dev/reference/block-kit/block-elements)
# views.publish refuses a view of more than 250 kB (`view_too_large`). Every question to teach carries its own
# "Another entry…" menu listing the whole FAQ; the menus together get at most this many bytes of JSON, the rest of
# the Home (text, buttons: tens of kB at most) the remainder.
MENUS_BUDGET = 150_000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
# Teaching actions: what a question means (an entry: the button's value, or the select's option), not covered, undo
# (the taught phrasing's id is the value). The question rides in its block's id, after TEACH_BLOCK: a select's option
# values are too short to hold it. Action ids are unique in the view: the question's number, then the guess's.
TEACH_MEANS, TEACH_OTHER, TEACH_NONE, TEACH_UNDO = "teach_means", "teach_other", "teach_none", "teach_undo"
# "New entry": opens the modal an admin writes an entry in (bot/entry_views.py). Its value is JSON of what to fill in,
# each optional: {"question": …, "answer": …, "alternates": […]}; beside a question `entry_new:N`, atop the Home's part
# for writing the FAQ `entry_new:home`.
ENTRY_NEW = "entry_new"


def entry_draft_value(question: str, wordings: Sequence[str] = (), answer: str | None = None) -> str:
    """A "New entry" button's value: `question`, and `answer` and other `wordings` of it as they fit."""
    value: dict[str, Any] = {"question": question}
    if answer:
        value["answer"] = answer
    encoded = json.dumps(value)
    for n in range(len(wordings), 0, -1):  # as many of the other wordings as fit
        longer = json.dumps({**value, "alternates": list(wordings[:n])})
        if len(longer) <= MAX_BUTTON_VALUE:
            return longer
    return encoded if len(encoded) <= MAX_BUTTON_VALUE else json.dumps({"question": question[:MAX_BUTTON_VALUE // 8]})
TEACH_BLOCK = "teach:"
NOT_COVERED = "not-covered"


@dataclass(frozen=True)
class Teachable:
    """An unanswered question for the admin Home: the group the report made of it, the entries the bot takes it
    for (best first), and whether it can be taught from there (its text is whole, not clipped)."""

    group: Group
    guesses: tuple[Entry, ...] = ()
    whole: bool = True


def user_mention(user_id: str) -> str:
    """`<@U…>` for a Slack user id (shown as the person's name), anything else escaped."""
    return f"<@{user_id}>" if _USER_ID.match(user_id) else escape(user_id)


_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def meaning(kb: KnowledgeBase, entry_id: str | None, near: str | None = None) -> str:
    """What a taught phrasing means, for an admin: the entry's question, or not covered and what the bot does."""
    if entry_id is not None:
        entry = kb.entry(entry_id)
        return f"*{escape(entry.question)}*" if entry else f"`{escape(entry_id)}` (no longer in the FAQ)"
    offered = kb.entry(near) if near else None
    if offered:
        return f"not covered by the documents (I say so, and offer *{escape(offered.question)}*)"
    return "not covered by the documents (I decline it)"


def taught_text(kb: KnowledgeBase, text: str, entry_id: str | None, near: str | None = None) -> str:
    return f"“{escape(clip(text, 150))}” → {meaning(kb, entry_id, near)}"


def _option(entry: Entry) -> Block:
    return {"text": {"type": "plain_text", "text": clip(entry.question, MAX_OPTION_TEXT), "emoji": True},
            "value": entry.id}


def entry_select(kb: KnowledgeBase) -> tuple[Block, int]:
    """"Another entry…": a select of every entry (by theme, when there are more than a select holds), without an
    action id; and how many entries it could not list."""
    entries = [e for e in kb.knowledge.entries if len(e.id) <= MAX_OPTION_VALUE]
    select: Block = {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Another entry…"}}
    if len(entries) <= MAX_OPTIONS:
        select["options"] = [_option(e) for e in entries]
        return select, len(kb.knowledge.entries) - len(entries)
    groups: list[Block] = []
    for theme, in_theme in themes(kb).items():
        listed = [e for e in in_theme if len(e.id) <= MAX_OPTION_VALUE]
        for part, start in enumerate(range(0, len(listed), MAX_OPTIONS)):
            label = theme if not part else f"{theme} ({part + 1})"
            groups.append({"label": {"type": "plain_text", "text": clip(label, MAX_OPTION_TEXT)},
                           "options": [_option(e) for e in listed[start:start + MAX_OPTIONS]]})
    select["option_groups"] = groups[:MAX_OPTIONS]
    listed_count = sum(len(g["options"]) for g in select["option_groups"])
    return select, len(kb.knowledge.entries) - listed_count


def _teaching_blocks(kb: KnowledgeBase, week: Report, teachable: Sequence[Teachable], more: int) -> list[Block]:
    """Each unanswered question with what an admin can say it means."""
    lead = ("*Unanswered questions*, most asked first. Say what each means and I answer it (or decline it) from now "
            "on; nobody who asked is told.")
    blocks = [section(lead, "admin-unanswered")]
    select, unlisted = entry_select(kb)
    # A large FAQ makes each menu large: only the first questions get one, so that the Home stays within Slack's size.
    menus = MENUS_BUDGET // len(json.dumps({**select, "action_id": f"{TEACH_OTHER}:{ADMIN_TEACHABLE}"}))
    without_menu = 0
    for n, item in enumerate(teachable):
        group = item.group
        how = f"declined {group.declined}, suggested {group.suggested}"
        also = f"; also asked as {len(group.wordings) - 1} other wording(s)" if len(group.wordings) > 1 else ""
        blocks.append(section(f"*{group.count}×* {escape(group.text)}  _({how}{also})_", f"teach-question-{n}",
                              verbatim=True))
        if not item.whole:
            blocks.append(context(["Too long to teach from here: add its gist to the FAQ."], f"teach-long-{n}"))
            continue
        controls = [button(f"It means: {e.question}", f"{TEACH_MEANS}:{n}:{k}", e.id)
                    for k, e in enumerate(item.guesses)]
        if n < menus:
            controls.append({**select, "action_id": f"{TEACH_OTHER}:{n}"})
        else:
            without_menu += 1
        controls.append(button("Not covered", f"{TEACH_NONE}:{n}", NOT_COVERED))
        controls.append(button("New entry", f"{ENTRY_NEW}:{n}", entry_draft_value(group.text, group.wordings[1:])))
        blocks.append(actions(controls, clip(TEACH_BLOCK + group.text, MAX_ID)))
    notes = []
    if not teachable:
        notes.append("None to teach: every question got an answer, or was taught.")
    if more:
        notes.append(f"…and {more} more: `openllm-bot report` lists them all.")
    if week.text_not_kept:
        notes.append(f"{week.text_not_kept} recorded without their text (`STORE_QUESTION_TEXT=false`).")
    if without_menu:
        notes.append(f"“Another entry…” is on the first {menus} question(s) only: with {len(kb.knowledge.entries)} "
                     "entries, a menu for each would make this page too big for Slack; the others move up as "
                     "those are taught.")
    if unlisted and teachable:
        notes.append(f"“Another entry…” lists {len(kb.knowledge.entries) - unlisted} of the "
                     f"{len(kb.knowledge.entries)} entries.")
    if notes:
        blocks.append(context(notes, "admin-unanswered-notes"))
    return blocks


def _recent_blocks(kb: KnowledgeBase, recent: Sequence[TaughtRecord]) -> list[Block]:
    """The latest taught phrasings, newest first, each with Undo."""
    if not recent:
        return [section("*Recently taught*: nothing yet.", "taught-recent")]
    blocks = [section("*Recently taught*, newest first:", "taught-recent")]
    for record in recent:
        text = (f"{taught_text(kb, record.text, record.entry_id, record.near_entry)}\n"
                f"_by {user_mention(record.taught_by)}, {record.taught_at:%Y-%m-%d %H:%M} UTC_")
        block = section(text, f"taught-{record.id}", verbatim=True)
        block["accessory"] = button("Undo", f"{TEACH_UNDO}:{record.id}", str(record.id))
        blocks.append(block)
    return blocks


REASON_TEXTS_SHOWN = 2  # of what people wrote with their 👎, per entry, in the admin Home and the digest
REASON_TEXT_CHARS = 120


def why_not_helpful(week: Report, entry_id: str) -> str:
    """What the 👎 on `entry_id` said: the reasons chosen, and the latest words people wrote (escaped, clipped)."""
    given = week.reasons_for(entry_id)
    if not given:
        return ""
    chosen = ", ".join(f"{label} {n}" for label, n in reason_counts(given))
    written = [f"“{escape(clip(' '.join(r.text.split()), REASON_TEXT_CHARS))}”" for r in given[::-1] if r.text]
    parts = [p for p in (chosen, "; ".join(written[:REASON_TEXTS_SHOWN])) if p]
    return " · " + " · ".join(parts)


def _rate(share: float | None) -> str:
    return f"*{100 * share:.0f}%*" if share is not None else "no questions"


def _taught_progress(week: Report) -> str:
    """How many phrasings were taught, and how the answer rate moved from the first on."""
    if not week.taught:
        return "Nothing taught from Slack in these 7 days."
    plural = "" if week.taught == 1 else "s"
    return (f"*{week.taught}* phrasing{plural} taught from Slack; answered {_rate(week.answer_rate_before)} before "
            f"the first, {_rate(week.answer_rate_after)} since.")


def admin_summary(kb: KnowledgeBase, week: Report | None, teachable: Sequence[Teachable] = (),
                  recent: Sequence[TaughtRecord] = (), note: str | None = None, more: int = 0,
                  written: Sequence[Block] = (), handed: Sequence[Block] = ()) -> list[Block]:
    """For admins: the last 7 days in brief, from the store (`week` None: it could not be read), the unanswered
    questions to teach (`more`: how many others there are) and the phrasings taught lately; `note` first (what their
    last click did); `written`: the part for writing entries and answers (bot/entries.py); `handed`: the answers
    people gave to questions handed to them (bot/handoff.py)."""
    top = [{"type": "header", "text": {"type": "plain_text", "text": "Last 7 days (admins only)"}}]
    if note:
        top.append(section(note, "admin-note", verbatim=True))  # it may quote a taught question
    if week is None:
        return [*top, section("The question store could not be read; see the bot's log.", "admin-error"),
                {"type": "divider"}]
    o = week.outcomes
    overview = (f"*{week.questions}* questions, *{100 * week.answer_rate:.0f}%* answered "
                f"({o['suggest']} with suggestions only, {o['none']} declined); "
                f"{week.helpful} 👍 and {week.unhelpful} 👎\n{_taught_progress(week)}")
    disliked = [f"• `{escape(e.id)}`: {e.unhelpful} 👎, {e.helpful} 👍{why_not_helpful(week, e.id)}"
                for e in week.least_helpful(ADMIN_TOP)]
    blocks = [*top, section(overview, "admin-overview"),
              section("*Least helpful answers*\n" + ("\n".join(disliked) or "No 👎 votes."), "admin-unhelpful",
                      verbatim=True)]
    blocks += _teaching_blocks(kb, week, teachable[:ADMIN_TEACHABLE], more + max(0, len(teachable) - ADMIN_TEACHABLE))
    blocks += handed
    blocks += _recent_blocks(kb, recent[:ADMIN_RECENT])
    blocks += written
    more_text = ("All of it: `openllm-bot report --since 7d --format html -o report.html`; what was taught, to merge "
                 "into the FAQ: `openllm-bot taught export`")
    return [*blocks, context([more_text], "admin-more"), {"type": "divider"}]


# The voter's own note about their vote: what it is, and a button that changes it. The button's value names the reply
# voted on and its entry (JSON), since the note is a message of its own.
REVOTE = "revote"


def vote_value(reply: str, entry_id: str) -> str:
    return json.dumps({"reply": reply, "entry": entry_id}, separators=(",", ":"))


def vote_note(helpful: bool, reply: str, entry_id: str, asked_why: bool = False) -> Reply:
    """Seen only by the voter: their vote on the answer (`reply`, of `entry_id`) as it stands, and a way to change it;
    `asked_why`: a form opened to say why it was not helpful."""
    if helpful:
        text = "Thanks for the feedback! You found this answer *helpful*."
        change = button("👎 Not helpful after all", action_id(REVOTE, NOT_HELPFUL), vote_value(reply, entry_id))
    else:
        text = "Thanks for the feedback! You found this answer *not helpful*."
        if asked_why:
            text += " The form that opened can say why (both questions are optional)."
        change = button("👍 Helpful after all", action_id(REVOTE, HELPFUL), vote_value(reply, entry_id))
    return Reply(text.replace("*", ""), [context([text], "feedback-thanks"), actions([change], "vote")])
