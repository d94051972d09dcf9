"""Turn a message as it arrives from Slack into plain, comparable text.

Every pattern here sees text people typed, so each runs in time linear in the text's length (a test
times them on adversarial text): a pattern that could rescan the rest of the text from each of many
starting points (an unterminated `<http:` repeated) is run only where it can end, or replaced by code.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

# The most of a message that is read as a question. Slack accepts 40,000 characters; the longest text
# in the FAQ or any question set is under 600, the embedding model reads only the first 128 tokens
# (about 500 characters), and Slack itself advises keeping messages under 4,000 characters. Beyond it
# is a pasted log or an attack: matching reads its beginning, so no message costs more than this one.
MAX_QUESTION_CHARS = 4_000

# <@U123>, <@U123|name>, <!here>, <!subteam^S1|@team>: references, not words of the question.
# Each of these ends in ">": `sub_closed` runs them only up to a message's last ">".
_USER_OR_SPECIAL = re.compile(r"<[@!][^>]*>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto|ftp):[^>|]*)(?:\|([^>]*))?>")
_EMOJI = re.compile(r":[a-z0-9_+'-]+(?:::skin-tone-\d)?:")
_CODE_FENCE = re.compile(r"```")
_MARKUP = re.compile(r"(?<!\w)[*_~`]+|[*_~`]+(?!\w)")  # markers at the edge of a word, not inside one
# A run of markers inside a word ending in many "_" ("a________b"): from each of those "_" (a word character)
# _MARKUP would rescan the run to its end. Such runs are found from their first marker only (the character
# before is a letter or digit) and read by `_inner_markers`; shorter ones cost _MARKUP little.
_INNER_MARKERS = re.compile(r"(?<=\w)(?<![*_~`])[*_~`]*_{8}(?=[^\W_])")
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


def clip_question(text: str) -> str:
    """The part of a message that is read as a question: its first MAX_QUESTION_CHARS characters."""
    return text if len(text) <= MAX_QUESTION_CHARS else text[:MAX_QUESTION_CHARS]


def through_last_close(text: str) -> str:
    """`text` up to and including its last ">": where a reference such as `<@U1|name>` can end."""
    return text[:text.rfind(">") + 1]


def sub_closed(pattern: re.Pattern[str], repl: str | Callable[[re.Match[str]], str], text: str) -> str:
    """`pattern.sub(repl, text)` for a pattern whose every match ends in ">" (`<[@!][^>]*>`), in linear time.

    Run on the whole text, such a pattern scans from each unterminated "<@" to the end of the text (20,000
    of them: seconds). Past the last ">" nothing can match, and before it every start that gets past its
    first characters finds its ">": each character is scanned about once."""
    end = text.rfind(">") + 1
    return pattern.sub(repl, text[:end]) + text[end:] if end else text


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
    text = sub_closed(_USER_OR_SPECIAL, " ", text)
    text = sub_closed(_CHANNEL, " ", text)  # where something was said, not what is asked
    text = sub_closed(_LINK, _link_words, text)
    text = _EMOJI.sub(" ", text)
    text = _CODE_FENCE.sub(" ", text)
    # Left-over angle brackets (an unterminated "<!here") mean nothing to matching.
    return _strip_markers(text).replace("<", " ").replace(">", " ")


def _strip_markers(text: str) -> str:
    """`_MARKUP.sub(" ", text)` in linear time: runs of markers inside a word are read by `_inner_markers`,
    the text between them (which starts and ends with a letter or digit, or at the text's ends) by _MARKUP."""
    out: list[str] = []
    done = 0
    for run in _INNER_MARKERS.finditer(text):
        out += _MARKUP.sub(" ", text[done:run.start()]), _inner_markers(run)
        done = run.end()
    out.append(_MARKUP.sub(" ", text[done:]))
    return "".join(out)


def _inner_markers(run: re.Match[str]) -> str:
    """What `_MARKUP.sub(" ", …)` makes of a run of markers (* _ ~ `) between two word characters.

    "_" is a word character, the other markers are not. From the run's first marker, the pattern's second
    branch removes the longest stretch followed by a non-word character: up to the run's last marker other
    than "_". That marker stays unless a non-word marker precedes it (then the first branch removes the
    rest); whatever follows it goes, as it follows a non-word character. A run of "_" only stays."""
    text, start, end = run.string, *run.span()
    last = max(text.rfind(marker, start, end) for marker in "*~`")
    if last < 0:
        return run.group()
    removed = " " if last > start else ""
    if last > start and text[last - 1] != "_":
        return removed + " "
    return removed + text[last] + (" " if last + 1 < end else "")


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


def words_key(text: str) -> str:
    """What the matcher reads of a raw phrasing: its words without filler, case, markup or punctuation. Two
    phrasings with the same key are the same question to it ("What are the Falcon models?", "hey, what are
    the falcon models"); an empty key means the phrasing has no words at all."""
    return " ".join(words_without_filler(normalize(clip_question(text))))


# A clause that starts by continuing the sentence and refers back with a pronoun is about what the
# clause before it names.
CONTINUING = frozenset("and or plus also".split())
REFERRING = frozenset("it its they them their theirs this these those".split())
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# A dash clause is looked for from the start of a run of spaces only: from each space of a long run
# the search would rescan the run to its end.
_CLAUSE = re.compile(r"[,;:]\s+|(?<!\s)\s+[-–—]\s+")
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
