"""Answers rendered as plain text, for the command line (`openllm-bot ask`)."""

from __future__ import annotations

from knowledge import KnowledgeBase, MatchResult
from knowledge.content.links import SourceLink

from .blocks import unsaid_lead


def link_text(link: SourceLink) -> str:
    where = link.url or f"({link.lines})"
    text = f"{link.title}: {where}" if link.url else f"{link.title} {where}"
    if link.related_title:
        text += f"\n    summarises: {link.related_title}" + (f" <{link.related_url}>" if link.related_url else "")
    return text


def result_text(kb: KnowledgeBase, result: MatchResult) -> str:
    if result.status == "answer" and result.id:
        entry = kb.knowledge[result.id]
        lines = [f"Q: {entry.question}", "", entry.answer, "", "Sources:"]
        lines += [f"  - {link_text(link)}" for link in kb.links(entry)]
        if entry.related:
            lines += ["", "Related: " + ", ".join(entry.related)]
        return "\n".join(lines)
    if result.status == "suggest":
        lines = [unsaid_lead(result.unsaid) if result.unsaid else "I'm not sure I understood. Did you mean:"]
        lines += [f"  - {kb.knowledge[c.id].question} [{c.id}]" for c in result.candidates]
        return "\n".join(lines)
    return ("That's outside what my documents cover, so I won't guess. "
            "Try `openllm-bot topics` to see what I can answer.")
