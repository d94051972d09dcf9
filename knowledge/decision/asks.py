"""Answerability: what kind of fact a question asks for, and whether an entry's answer holds it.

The patterns are data (asks.yaml): English question forms ("how many", "who founded", "what's the
price of"), not particular questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..content.loader import PACKAGE_DIR, KnowledgeError, Problem

ASKS_FILE = PACKAGE_DIR / "asks.yaml"


@dataclass(frozen=True)
class FactKind:
    name: str
    says: str  # completes "My documents don't ...": "give that figure"
    asks: tuple[re.Pattern[str], ...]
    holds: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Asks:
    kinds: tuple[FactKind, ...]

    def asked(self, normalized: str) -> tuple[str, ...]:
        """The kinds of fact a normalised question asks for, in the file's order."""
        return tuple(k.name for k in self.kinds if any(p.search(normalized) for p in k.asks))

    def held(self, answer: str) -> frozenset[str]:
        """The kinds of fact an answer (as written) holds."""
        return frozenset(k.name for k in self.kinds if any(p.search(answer) for p in k.holds))

    @property
    def sayings(self) -> dict[str, str]:
        """Each kind's completion of "My documents don't ...", by name."""
        return {k.name: k.says for k in self.kinds}


def load_asks(path: Path = ASKS_FILE) -> Asks:
    """Read and check asks.yaml; a problem is reported as `file:line: reason`."""
    display = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([Problem(display, 1, f"cannot read: {exc}")]) from None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems: list[Problem] = []
    kinds: list[FactKind] = []
    if not isinstance(data, dict) or not isinstance(data.get("kinds"), dict):
        raise KnowledgeError([Problem(display, 1, "expected a top-level 'kinds:' mapping")])
    lines = _kind_lines(root)
    for name, spec in data["kinds"].items():
        line = lines.get(str(name), 1)
        if not isinstance(spec, dict) or not isinstance(spec.get("says"), str):
            problems.append(Problem(display, line, f"kind '{name}' needs 'says' (text), 'asks' and 'holds' (lists)"))
            continue
        compiled: dict[str, list[re.Pattern[str]]] = {"asks": [], "holds": []}
        for field in ("asks", "holds"):
            patterns = spec.get(field)
            if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
                problems.append(Problem(display, line, f"kind '{name}': '{field}' must be a non-empty list of text"))
                continue
            for pattern in patterns:
                try:
                    # Questions are normalised (lower case); answers keep their case, which names need.
                    compiled[field].append(re.compile(pattern, re.IGNORECASE if field == "asks" else 0))
                except re.error as exc:
                    problems.append(Problem(display, line, f"kind '{name}': bad pattern {pattern!r}: {exc}"))
        kinds.append(FactKind(str(name), spec["says"], tuple(compiled["asks"]), tuple(compiled["holds"])))
    if problems:
        raise KnowledgeError(problems)
    return Asks(tuple(kinds))


def _kind_lines(root: yaml.Node | None) -> dict[str, int]:
    """The line each kind starts on, for messages."""
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "kinds" and isinstance(value, yaml.MappingNode):
            return {k.value: k.start_mark.line + 1 for k, _ in value.value}
    return {}
