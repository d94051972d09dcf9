"""The learned matcher's training data: every phrasing of the FAQ, labelled with its entry or as
out of scope (an entry's near misses, and the out-of-scope file's examples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, SequenceNode

from .documents import collapse_whitespace
from .files import KnowledgeError, Problem, display, fields, is_text, kind, line, read_yaml
from .loader import PACKAGE_DIR
from .model import Knowledge

OUT_OF_SCOPE_FILE = PACKAGE_DIR / "out_of_scope.yaml"
OUT_OF_SCOPE = "(out of scope)"  # the label of phrasings no entry answers; never a valid entry id
GROUPS = ("off_topic", "other_sense", "unanswered")


@dataclass(frozen=True)
class Phrasing:
    text: str
    label: str  # an entry id, or OUT_OF_SCOPE
    kind: str  # question, alternate, tag, near_miss, or the out-of-scope group
    entry: str | None = None  # for a near miss: the entry whose topic it is about


def load_out_of_scope(path: Path = OUT_OF_SCOPE_FILE, knowledge: Knowledge | None = None) -> tuple[Phrasing, ...]:
    """Read out_of_scope.yaml; with `knowledge`, refuse an example that is also an entry's phrasing."""
    shown = display(path)
    root = read_yaml(path, shown)
    if not isinstance(root, MappingNode):
        raise KnowledgeError([Problem(shown, 1, f"expected a mapping of {', '.join(GROUPS)} to lists of text")])
    answered: dict[str, str] = {}
    for entry in knowledge.entries if knowledge else ():
        for phrasing in (entry.question, *entry.alternates):
            answered[phrasing_key(phrasing)] = entry.id
    problems: list[Problem] = []
    out: list[Phrasing] = []
    seen: set[str] = set()
    for group, (key, value) in fields(root, "out_of_scope.yaml", shown, problems).items():
        if group not in GROUPS:
            problems.append(Problem(shown, line(key), f"unknown group '{group}' (allowed: {', '.join(GROUPS)})"))
            continue
        if not isinstance(value, SequenceNode):
            problems.append(Problem(shown, line(key), f"'{group}' must be a list of text"))
            continue
        for item in value.value:
            if not is_text(item) or not item.value.strip():
                problems.append(Problem(shown, line(item), f"an example must be non-empty text, not {kind(item)}"))
                continue
            k = phrasing_key(item.value)
            if k in answered:
                problems.append(Problem(shown, line(item),
                                        f"'{item.value}' is a phrasing of entry '{answered[k]}', not out of scope"))
            elif k not in seen:
                seen.add(k)
                out.append(Phrasing(item.value, OUT_OF_SCOPE, group))
    if problems:
        raise KnowledgeError(problems)
    return tuple(out)


def training_phrasings(knowledge: Knowledge, out_of_scope: tuple[Phrasing, ...]) -> tuple[Phrasing, ...]:
    """Every entry's question, alternates, tags and near misses, then the out-of-scope examples."""
    out: list[Phrasing] = []
    for entry in knowledge.entries:
        out.append(Phrasing(entry.question, entry.id, "question"))
        out.extend(Phrasing(text, entry.id, "alternate") for text in entry.alternates)
        out.extend(Phrasing(text, entry.id, "tag") for text in entry.tags)
        out.extend(Phrasing(text, OUT_OF_SCOPE, "near_miss", entry.id) for text in entry.near_misses)
    return (*out, *out_of_scope)


def phrasing_key(text: str) -> str:
    """What two phrasings that are the same question share: whitespace collapsed, case folded (as the loader)."""
    return collapse_whitespace(text).casefold()
