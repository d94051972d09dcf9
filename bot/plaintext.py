"""Answers rendered as plain text, for the command line (`openllm-bot ask`)."""

from __future__ import annotations

from knowledge import Entry, KnowledgeBase, MatchResult
from knowledge.content.links import SourceLink

from .blocks import unsaid_lead


def link_text(link: SourceLink) -> str:
    where = link.url or f"({link.lines})"
    text = f"{link.title}: {where}" if link.url else f"{link.title} {where}"
    if link.related_title:
        text += f"\n    summarises: {link.related_title}" + (f" <{link.related_url}>" if link.related_url else "")
    return text


def _entry_text(kb: KnowledgeBase, entry: Entry) -> str:
    lines = [f"Q: {entry.question}", "", entry.answer, "", "Sources:"]
    lines += [f"  - {link_text(link)}" for link in kb.links(entry)]
    if entry.related:
        lines += ["", "Related: " + ", ".join(entry.related)]
    return "\n".join(lines)


def result_text(kb: KnowledgeBase, result: MatchResult) -> str:
    if result.status == "answer" and result.id:
        return "\n\n".join(_entry_text(kb, kb.knowledge[i]) for i in result.answered)
    if result.status == "suggest":
        lines = [unsaid_lead(result.unsaid) if result.unsaid else "I'm not sure I understood. Did you mean:"]
        lines += [f"  - {kb.knowledge[c.id].question} [{c.id}]" for c in result.candidates]
        return "\n".join(lines)
    return ("That's outside what my documents cover, so I won't guess. "
            "Try `openllm-bot topics` to see what I can answer.")
