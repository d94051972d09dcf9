"""Turn a message as it arrives from Slack into plain, comparable text."""

from __future__ import annotations

import html
import re
import unicodedata

# <@U123>, <@U123|name>, <!here>, <!subteam^S1|@team>: references, not words of the question.
_USER_OR_SPECIAL = re.compile(r"<[@!][^>]*>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto|ftp):[^>|]*)(?:\|([^>]*))?>")
_EMOJI = re.compile(r":[a-z0-9_+'-]+(?:::skin-tone-\d)?:")
_CODE_FENCE = re.compile(r"```")
_MARKUP = re.compile(r"(?<!\w)[*_~`]+|[*_~`]+(?!\w)")
_MAYBE_MARKUP = re.compile(r"[<>:*_~`]")
_SLASH_COMMAND = re.compile(r"^\s*/[a-z][\w-]*\s+", re.IGNORECASE)
_REPEATED_PUNCT = re.compile(r"([!?.,])\1+")
_CONTROL = {cat for cat in ("Cc", "Cf", "Co", "Cs")}

# Chat filler that says nothing about the question ("hey bot, pls ... thx!").
FILLER = frozenset("""
hey hi hello hiya yo heya howdy greetings bot openllm pls plz please thanks thank thx ty cheers
ok okay k lol haha hmm um uh btw fyi quick dumb silly stupid question q folks guys all anyone
someone somebody everyone anyway anyways btw basically honestly
""".split())


def _strip_control(text: str) -> str:
    """Control characters become spaces; invisible format characters (zero-width space and joiners,
    soft hyphen, word joiner, BOM) are removed, so that "ll\u200bama" reads as "llama"."""
    if text.isprintable():  # the common case, checked at C speed
        return text
    return "".join(ch if ch in "\n\t" or (category := unicodedata.category(ch)) not in _CONTROL
                   else ("" if category == "Cf" else " ") for ch in text)


def _link_words(match: re.Match[str]) -> str:
    # A labelled link reads as its label; a bare one carries no words a person typed.
    return f" {match.group(2)} " if match.group(2) else " "


def strip_slack_markup(text: str) -> str:
    """Unescape entities; remove Slack references, links, emoji codes and mrkdwn markers."""
    # Unescape first, so a typed "&lt;!channel&gt;" is removed like a real reference.
    text = html.unescape(text)
    if not _MAYBE_MARKUP.search(text):  # plain text: nothing to strip
        return text
    text = _USER_OR_SPECIAL.sub(" ", text)
    text = _CHANNEL.sub(" ", text)  # where something was said, not what is asked
    text = _LINK.sub(_link_words, text)
    text = _EMOJI.sub(" ", text)
    text = _CODE_FENCE.sub(" ", text)
    # Left-over angle brackets (an unterminated "<!here") mean nothing to matching.
    return _MARKUP.sub(" ", text).replace("<", " ").replace(">", " ")


def normalize(text: str) -> str:
    """Lower-cased, NFKC, markup-free text with single spaces; punctuation kept, repeats collapsed."""
    text = unicodedata.normalize("NFKC", _strip_control(text))
    text = strip_slack_markup(text)
    if text.lstrip().startswith("/"):
        text = _SLASH_COMMAND.sub(" ", text)
    text = text.casefold()
    if _REPEATED_PUNCT.search(text):
        text = _REPEATED_PUNCT.sub(r"\1", text)
    return " ".join(text.split())


# Idioms whose words would otherwise count as topic words ("place", "day", "honest"), and requests
# for a style of answer ("in plain english"), which say how to answer, not what about.
# A greeting to the team is filler; "team" elsewhere is a word of the question ("how big a team").
FILLER_PHRASES = re.compile(r"\b(?:(?:hi|hey|hello|morning) team|in the first place|at the end of the day"
                            r"|to be honest|out of curiosity|for what its worth|if you ask me|as far as i know"
                            r"|(?:in )?plain english|in (?:simple|plain|layman|laymans) (?:terms|words)"
                            r"|like im (?:five|5)|eli5|in a nutshell|tl\W?dr)\b")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words_without_filler(text: str) -> list[str]:
    """The words of normalised text, without filler; apostrophes inside a word are dropped."""
    text = FILLER_PHRASES.sub(" ", text.replace("'", "").replace("’", ""))
    return [word for word in _WORD.findall(text) if word not in FILLER]


# A clause that starts by continuing the sentence and refers back with a pronoun is about what the
# clause before it names.
CONTINUING = frozenset("and or plus also".split())
REFERRING = frozenset("it its they them their theirs this these those".split())
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r"[,;:]\s+|\s+[-–—]\s+")
_EMPHASIS = re.compile(
    r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"  # *bold*
    r"|(?<![\w`])`([^`\n]+)`(?![\w`])"  # `code`
    r"|(?<![\w_])_([^_\n]+)_(?![\w_])"  # _italics_
)


def sentences(text: str) -> list[str]:
    """Sentences of a raw message, for finding a question buried in a long one."""
    return [s for s in (part.strip() for part in _SENTENCE.split(text)) if s]


def segments(text: str) -> list[tuple[str, bool]]:
    """The message's sentences and their comma- or dash-separated clauses, each flagged when it
    is a question (ends in "?"). A message of one sentence and one clause gives nothing."""
    parts = sentences(text)
    if len(parts) < 2 and not _CLAUSE.search(text):
        return []
    out: list[tuple[str, bool]] = []
    for sentence in parts:
        question = sentence.rstrip().endswith("?")
        out.append((sentence, question))
        clauses = _self_contained([p.strip() for p in _CLAUSE.split(sentence) if p.strip()])
        if len(clauses) > 1:
            out.extend((clause, clause.endswith("?")) for clause in clauses)
    return out


def _self_contained(clauses: list[str]) -> list[str]:
    """The clauses, except that one going on about the clause before it ("is gemma good, and is it
    open?") comes joined to that one: on its own it would be a question about nothing in particular."""
    out: list[str] = []
    for clause in clauses:
        ws = words_without_filler(normalize(clause))
        if out and ws and ws[0] in CONTINUING and not REFERRING.isdisjoint(ws):
            clause = f"{out[-1]}, {clause}"
        out.append(clause)
    return out


def emphasised(text: str) -> list[str]:
    """Text a Slack user set in *bold*, `code` or _italics_: usually the topic of the question."""
    return [next(g for g in m.groups() if g) for m in _EMPHASIS.finditer(text)]
