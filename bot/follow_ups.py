"""What a reply in a thread the bot answered in is: a question to answer (alone, or with the thread's
last question when it refers back to it), a request to stop following the thread, or people talking
among themselves, which the bot leaves alone.

The words are data (follow_ups.yaml): English conversation forms, not words of the FAQ.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from knowledge.content.loader import KnowledgeError, Problem
from knowledge.matching.normalize import clip_question, normalize, through_last_close, words_without_filler

FOLLOW_UPS_FILE = Path(__file__).resolve().parent / "follow_ups.yaml"

Kind = Literal["ignore", "stop", "ask"]
Phrase = tuple[str, ...]

# <@U123> or <@W123|name>: a person (W: an Enterprise Grid user). <!here>, <!channel>, <!everyone>,
# <!subteam^S123|@team>: many people at once. Both end in ">": they are looked for up to the reply's last
# ">" only (`through_last_close`), or each unterminated "<@U1|" would be rescanned to the end of the text.
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_BROADCAST = re.compile(r"<!(?:here|channel|everyone|subteam\^)[^>]*>")


@dataclass(frozen=True)
class FollowUp:
    kind: Kind
    text: str = ""  # for "ask": what to match
    with_context: bool = False  # for "ask": `text` is the thread's last question followed by the reply
    reason: str = ""  # for "ignore": why, for the log


@dataclass(frozen=True)
class Vocabulary:
    """follow_ups.yaml, each entry as the words a reply is compared with."""

    acknowledgements: frozenset[Phrase]
    reactions: frozenset[Phrase]
    stop_phrases: frozenset[Phrase]  # without their `stop_around` words
    stop_around: frozenset[str]
    opens: frozenset[Phrase]
    modals: frozenset[str]
    subjects: frozenset[str]
    continues: frozenset[Phrase]
    referring: frozenset[str]
    not_content: frozenset[str]
    short: int
    referring_short: int


def classify(reply: str, bot_user_id: str, last_question: str | None, vocabulary: Vocabulary) -> FollowUp:
    """What the raw Slack text of a reply in a followed thread is, given the thread's last question.

    Only the reply's first MAX_QUESTION_CHARS characters are read, as the matcher does."""
    read = clip_question(reply)
    closed = through_last_close(read)
    mentioned = set(_MENTION.findall(closed))
    if bot_user_id in mentioned:
        # Slack also delivers it as an app_mention, which is answered: one message, one reply.
        return FollowUp("ignore", reason="mentions the bot")
    if mentioned:
        return FollowUp("ignore", reason="addressed to someone else")
    if _BROADCAST.search(closed):
        return FollowUp("ignore", reason="addressed to everyone")
    text = normalize(read)
    words = tuple(words_without_filler(text))
    if _is_stop(words, vocabulary):
        return FollowUp("stop")
    if not words or _is_chit_chat(words, vocabulary):  # no words: only filler, emoji or punctuation
        return FollowUp("ignore", reason="chit-chat")
    if "?" not in text and not _opens_a_question(words, vocabulary):
        return FollowUp("ignore", reason="asks nothing")
    if last_question and last_question.strip() and _refers_back(words, vocabulary):
        return FollowUp("ask", f"{last_question.strip()}\n{reply.strip()}", with_context=True)
    return FollowUp("ask", reply.strip())


def _is_stop(words: Phrase, vocabulary: Vocabulary) -> bool:
    """The reply is a stop phrase, give or take words that only surround one ("can you stop now")."""
    return tuple(w for w in words if w not in vocabulary.stop_around) in vocabulary.stop_phrases


def _is_chit_chat(words: Phrase, vocabulary: Vocabulary) -> bool:
    """The reply is made of acknowledgements, with at most one reaction among them."""
    # covered[i]: the numbers of reactions (0 or 1) with which the first i words are made of phrases.
    covered: list[set[int]] = [set() for _ in range(len(words) + 1)]
    covered[0].add(0)
    longest = max(len(p) for p in (*vocabulary.acknowledgements, *vocabulary.reactions, ()))
    for start in range(len(words)):
        for reactions in covered[start]:
            for end in range(start + 1, min(len(words), start + longest) + 1):
                phrase = words[start:end]
                if phrase in vocabulary.acknowledgements:
                    covered[end].add(reactions)
                if reactions == 0 and phrase in vocabulary.reactions:
                    covered[end].add(1)
    return bool(covered[-1])


def _opening(words: Phrase, phrases: Iterable[Phrase]) -> int:
    """How many words the longest of `phrases` that the reply opens with has (0: none)."""
    return max((len(p) for p in phrases if words[:len(p)] == p), default=0)


def _opens_a_question(words: Phrase, vocabulary: Vocabulary) -> bool:
    """The reply opens like a question, straight away or after words going on from the thread's
    question ("also, is it open source")."""
    going_on = _opening(words, vocabulary.continues)
    return _asks_from(words, vocabulary) or (going_on > 0 and _asks_from(words[going_on:], vocabulary))


def _asks_from(words: Phrase, vocabulary: Vocabulary) -> bool:
    if _opening(words, vocabulary.opens):
        return True
    return len(words) > 1 and words[0] in vocabulary.modals and words[1] in vocabulary.subjects


def _refers_back(words: Phrase, vocabulary: Vocabulary) -> bool:
    """The reply needs the thread's question to be understood: it goes on from it, is too short to
    stand alone, or points back at it with few words of its own."""
    if _opening(words, vocabulary.continues):
        return True
    content = [w for w in words if w not in vocabulary.not_content and w not in vocabulary.referring]
    if len(content) <= vocabulary.short:
        return True
    return len(content) <= vocabulary.referring_short and not vocabulary.referring.isdisjoint(words)


def needs_the_thread(reply: str, vocabulary: Vocabulary) -> bool:
    """The reply asks something that only the thread's earlier messages make clear ("so what should we watch out
    for?", "and them?"): what `classify` matches together with the thread's last question."""
    return classify(reply, "", "the thread", vocabulary).with_context


def points_back(reply: str, vocabulary: Vocabulary) -> bool:
    """The reply names nothing of its own ("why?") or points back at the thread with a word such as "it" or
    "them" ("who made them?"): only the thread says what it is about. "and for mistral?" names its own topic."""
    words = words_without_filler(normalize(clip_question(reply)))
    if not vocabulary.referring.isdisjoint(words):
        return True
    return all(w in vocabulary.not_content for w in words)


KINDS: tuple[Kind, ...] = ("ask", "ignore", "stop")


def confusion(cases: Iterable[tuple[str, str, Kind]], bot_user_id: str, vocabulary: Vocabulary
              ) -> Counter[tuple[Kind, Kind]]:
    """How labelled replies (the thread's question, the reply, what it is) are classified: (expected, got) counts."""
    return Counter((kind, classify(reply, bot_user_id, thread, vocabulary).kind) for thread, reply, kind in cases)


@functools.cache
def shipped_vocabulary() -> Vocabulary:
    """The shipped follow_ups.yaml, read and checked once."""
    return load_vocabulary()


# ---- reading follow_ups.yaml

_PHRASES, _WORDS, _COUNT = "a list of phrases", "a list of single words", "a whole number, 0 or more"
SCHEMA: dict[str, dict[str, str]] = {
    "chit_chat": {"acknowledgements": _PHRASES, "reactions": _PHRASES},
    "stop": {"phrases": _PHRASES, "around": _WORDS},
    "ask": {"opens": _PHRASES, "modals": _WORDS, "subjects": _WORDS, "continues": _PHRASES},
    "context": {"referring": _WORDS, "not_content": _WORDS, "short": _COUNT, "referring_short": _COUNT},
}
_TEXT, _INT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"


def load_vocabulary(path: Path = FOLLOW_UPS_FILE) -> Vocabulary:
    """Read and check follow_ups.yaml; every problem is reported as `file:line: reason`."""
    display = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError([Problem(display, 1, f"cannot read file: {exc}")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise KnowledgeError([Problem(display, mark.line + 1 if mark else 1, f"invalid YAML: {exc.problem}")]) from None
    problems: list[Problem] = []
    fields = _fields(root, display, problems)  # those present are checked too, to report every problem
    phrases: dict[str, frozenset[Phrase]] = {}
    counts: dict[str, int] = {}
    for name, node in fields.items():
        section, _, field = name.partition(".")
        kind = SCHEMA[section][field]
        if kind == _COUNT:
            counts[name] = _count(node, name, display, problems)
        else:
            phrases[name] = _phrases(node, name, kind == _WORDS, display, problems)
    around = frozenset(p[0] for p in phrases.get("stop.around", ()))
    stop_phrases: set[Phrase] = set()
    for phrase in phrases.get("stop.phrases", ()):
        kept = tuple(w for w in phrase if w not in around)
        if not kept:
            problems.append(Problem(display, _line(fields["stop.phrases"]),
                                    f"stop phrase '{' '.join(phrase)}' is made only of 'around' words"))
        stop_phrases.add(kept)
    if problems:
        raise KnowledgeError(problems)
    return Vocabulary(
        acknowledgements=phrases["chit_chat.acknowledgements"], reactions=phrases["chit_chat.reactions"],
        stop_phrases=frozenset(stop_phrases), stop_around=around,
        opens=phrases["ask.opens"], continues=phrases["ask.continues"],
        modals=frozenset(p[0] for p in phrases["ask.modals"]),
        subjects=frozenset(p[0] for p in phrases["ask.subjects"]),
        referring=frozenset(p[0] for p in phrases["context.referring"]),
        not_content=frozenset(p[0] for p in phrases["context.not_content"]),
        short=counts["context.short"], referring_short=counts["context.referring_short"])


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _fields(root: yaml.Node | None, display: str, problems: list[Problem]) -> dict[str, yaml.Node]:
    """Each field of SCHEMA's, by `section.field`, with a problem for each missing or unknown one."""
    out: dict[str, yaml.Node] = {}
    if not isinstance(root, yaml.MappingNode):
        problems.append(Problem(display, 1, f"expected a mapping of {', '.join(SCHEMA)}"))
        return out
    sections = {key.value: (key, value) for key, value in root.value}
    for name in sections.keys() - SCHEMA.keys():
        problems.append(Problem(display, _line(sections[name][0]),
                                f"unknown section '{name}' (allowed: {', '.join(SCHEMA)})"))
    for section, schema in SCHEMA.items():
        if section not in sections:
            problems.append(Problem(display, 1, f"missing section '{section}'"))
            continue
        key, value = sections[section]
        if not isinstance(value, yaml.MappingNode):
            problems.append(Problem(display, _line(key), f"'{section}' must map {', '.join(schema)}"))
            continue
        given = {k.value: (k, v) for k, v in value.value}
        for name in given.keys() - schema.keys():
            problems.append(Problem(display, _line(given[name][0]),
                                    f"unknown field '{section}.{name}' (allowed: {', '.join(schema)})"))
        for name in schema:
            if name in given:
                out[f"{section}.{name}"] = given[name][1]
            else:
                problems.append(Problem(display, _line(key), f"'{section}' lacks '{name}' ({schema[name]})"))
    return out


def _count(node: yaml.Node, name: str, display: str, problems: list[Problem]) -> int:
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT and int(node.value) >= 0:
        return int(node.value)
    problems.append(Problem(display, _line(node), f"'{name}' must be {_COUNT}"))
    return 0


def _phrases(node: yaml.Node, name: str, single_words: bool, display: str,
             problems: list[Problem]) -> frozenset[Phrase]:
    """A list's entries as normalised words; entries that are not text, hold only filler, are listed
    twice or (for `single_words`) are not one word are problems."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        problems.append(Problem(display, _line(node), f"'{name}' must be {_WORDS if single_words else _PHRASES}"))
        return frozenset()
    out: set[Phrase] = set()
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or item.tag != _TEXT:
            shown = f"'{item.value}'" if isinstance(item, yaml.ScalarNode) else "an entry"
            problems.append(Problem(display, _line(item), f"'{name}': {shown} is not text (quote it)"))
            continue
        words = tuple(words_without_filler(normalize(item.value)))
        if not words:
            problems.append(Problem(display, _line(item), f"'{name}': '{item.value}' is only chat filler, which "
                                                          "is ignored anyway"))
        elif single_words and len(words) != 1:
            problems.append(Problem(display, _line(item), f"'{name}': '{item.value}' is not a single word"))
        elif words in out:
            same = "" if " ".join(words) == normalize(item.value) else f" (as '{' '.join(words)}', without filler)"
            problems.append(Problem(display, _line(item), f"'{name}': '{item.value}' is listed twice{same}"))
        else:
            out.add(words)
    return frozenset(out)
