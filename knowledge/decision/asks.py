"""Answerability: what kind of fact a question asks for, and whether an entry's answer holds it.

The patterns are data (asks.yaml): English question forms ("how many", "who founded", "what's the
price of"), not particular questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from ..content.files import KnowledgeError, Problem, display, fields, is_text, line, only_field, read_yaml
from ..content.files import kind as describe
from ..content.loader import PACKAGE_DIR

ASKS_FILE = PACKAGE_DIR / "asks.yaml"


@dataclass(frozen=True)
class FactKind:
    name: str
    says: str  # completes "My documents don't ...": "give that figure"
    asks: tuple[re.Pattern[str], ...]
    holds: tuple[re.Pattern[str], ...]

    @cached_property
    def asks_any(self) -> re.Pattern[str] | None:
        """The `asks` patterns as one (every question is searched: one search, not one a pattern); None when they
        cannot be joined without changing what they match (a back-reference, an inline flag, a group name used
        twice)."""
        if any(_NOT_JOINABLE.search(p.pattern) for p in self.asks):
            return None
        try:
            return re.compile("|".join(f"(?:{p.pattern})" for p in self.asks), re.IGNORECASE)
        except re.error:  # a group name used by two patterns
            return None

    def is_asked(self, normalized: str) -> bool:
        joined = self.asks_any
        return bool(joined.search(normalized)) if joined is not None else any(p.search(normalized) for p in self.asks)


_NOT_JOINABLE = re.compile(r"\\[1-9]|\(\?P=|\(\?[aiLmsux-]+[:)]")  # \1, (?P=name), (?i) and (?i:...)


@dataclass(frozen=True)
class Asks:
    kinds: tuple[FactKind, ...]

    def asked(self, normalized: str) -> tuple[str, ...]:
        """The kinds of fact a normalised question asks for, in the file's order."""
        return tuple(k.name for k in self.kinds if k.is_asked(normalized))

    def held(self, answer: str) -> frozenset[str]:
        """The kinds of fact an answer (as written) holds."""
        return frozenset(k.name for k in self.kinds if any(p.search(answer) for p in k.holds))

    @property
    def sayings(self) -> dict[str, str]:
        """Each kind's completion of "My documents don't ...", by name."""
        return {k.name: k.says for k in self.kinds}


_KIND_FIELDS = ("says", "asks", "holds")


def load_asks(path: Path = ASKS_FILE) -> Asks:
    """Read and check asks.yaml; every problem is reported as `file:line: reason`."""
    shown = display(path)
    root = read_yaml(path, shown)
    problems: list[Problem] = []
    listed = only_field(root, "kinds", "asks.yaml", shown, problems)
    if not isinstance(listed, MappingNode):
        raise KnowledgeError([*problems, Problem(shown, line(listed) if listed is not None else 1,
                                                 "expected a top-level 'kinds:' mapping")])
    kinds: list[FactKind] = []
    for name, (key, spec) in fields(listed, "'kinds'", shown, problems).items():
        kind = _kind(name, key, spec, shown, problems)
        if kind is not None:
            kinds.append(kind)
    if problems:
        raise KnowledgeError(problems)
    return Asks(tuple(kinds))


def _kind(name: str, key: Node, spec: Node, shown: str, problems: list[Problem]) -> FactKind | None:
    if not isinstance(spec, MappingNode):
        problems.append(Problem(shown, line(key), f"kind '{name}' needs 'says' (text), 'asks' and 'holds' (lists)"))
        return None
    given = fields(spec, f"kind '{name}'", shown, problems)
    for field, (field_key, _) in given.items():
        if field not in _KIND_FIELDS:
            problems.append(Problem(shown, line(field_key), f"kind '{name}': unknown field '{field}' (allowed: "
                                                            f"{', '.join(_KIND_FIELDS)})"))
    says = given.get("says", (key, None))[1]
    if says is None or not is_text(says) or not says.value.strip():
        problems.append(Problem(shown, line(says if says is not None else key),
                                f"kind '{name}' needs 'says' (text), 'asks' and 'holds' (lists)"))
    compiled: dict[str, list[re.Pattern[str]]] = {"asks": [], "holds": []}
    for field in ("asks", "holds"):
        patterns = given.get(field, (key, None))[1]
        if not isinstance(patterns, SequenceNode) or not patterns.value:
            problems.append(Problem(shown, line(patterns if patterns is not None else key),
                                    f"kind '{name}': '{field}' must be a non-empty list of text"))
            continue
        for pattern in patterns.value:
            if not is_text(pattern):
                problems.append(Problem(shown, line(pattern), f"kind '{name}': '{field}' must be a non-empty list of "
                                                              f"text, not {describe(pattern)}"))
                continue
            try:
                # Questions are normalised (lower case); answers keep their case, which names need.
                compiled[field].append(re.compile(pattern.value, re.IGNORECASE if field == "asks" else 0))
            except re.error as exc:
                problems.append(Problem(shown, line(pattern), f"kind '{name}': bad pattern {pattern.value!r}: {exc}"))
    if says is None or not is_text(says):
        return None
    return FactKind(name, says.value, tuple(compiled["asks"]), tuple(compiled["holds"]))
