"""Reading the knowledge files: UTF-8 text, YAML without anchors or aliases, every problem as `file:line: reason`.

Each loader (the FAQ, sources.yaml, synonyms.yaml, asks.yaml, out_of_scope.yaml, the policy) reads its file
through `read_text` and `compose` and checks the nodes it gets, so that a file an operator or an attacker got
wrong is a list of problems, never a traceback, and costs no more to read than its size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_PROBLEMS = 100  # listed; the rest are counted (a file of 200,000 aliases once gave 1.8 million)
MAX_DEPTH = 100  # a knowledge file nests four or five levels; PyYAML recurses once per level

TEXT = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0: the problem is the file or folder as a whole
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line > 0 else f"{self.file}: {self.reason}"


class KnowledgeError(Exception):
    """The knowledge files are invalid; `problems` lists every reason with its file and line (the first
    MAX_PROBLEMS of them, then one saying how many more there were); `files` names the files they are in."""

    def __init__(self, problems: list[Problem], unlisted: int = 0) -> None:
        """`unlisted`: how many more problems were found but not kept (a reader stops keeping them at
        MAX_PROBLEMS)."""
        self.listed = list(problems[:MAX_PROBLEMS])
        self.unlisted = unlisted + max(0, len(problems) - MAX_PROBLEMS)
        self.total = len(self.listed) + self.unlisted
        self.files = tuple(dict.fromkeys(p.file for p in problems))
        self.problems = list(self.listed)
        if self.unlisted:
            after = problems[MAX_PROBLEMS] if len(problems) > MAX_PROBLEMS else self.listed[-1]
            self.problems.append(Problem(after.file, after.line, f"… and {self.unlisted:,} more "
                                         f"problem{'s' if self.unlisted > 1 else ''} from here on, not listed"))
        super().__init__("\n".join(str(p) for p in self.problems))


def display(path: Path) -> str:
    """The path as a person would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def read_text(path: Path, shown: str | None = None) -> str:
    """The file's text (UTF-8, newlines as "\\n"); a file that cannot be read or is not UTF-8 is a KnowledgeError
    naming it (`shown`: how; by default `display(path)`), with the line of the first byte that is not UTF-8."""
    shown = display(path) if shown is None else shown
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError([Problem(shown, 0, f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise KnowledgeError([Problem(shown, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                                                   f"{exc.start:,}): save the file as UTF-8")]) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as Path.read_text does


class _Composer(yaml.SafeLoader):
    """PyYAML's safe composer, refusing anchors (`&name`) and aliases (`*name`): an alias repeats a whole part
    of the file wherever it stands, so 200,000 of them in 1.4 MB made a reader walk gigabytes."""

    def __init__(self, text: str, shown: str) -> None:
        super().__init__(text)
        self.shown = shown
        self.refused: list[Problem] = []
        self.unlisted = 0

    def _refuse(self, mark: yaml.Mark | None, reason: str) -> None:
        if len(self.refused) < MAX_PROBLEMS:
            self.refused.append(Problem(self.shown, mark.line + 1 if mark else 1, reason))
        else:
            self.unlisted += 1

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            self._refuse(event.start_mark, f"alias '*{event.anchor}': anchors and aliases are not allowed in "
                                           "knowledge files (write the value out)")
            return ScalarNode(NULL, "", event.start_mark, event.end_mark)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._refuse(event.start_mark, f"anchor '&{anchor}': anchors and aliases are not allowed in knowledge "
                                           "files (write the value out)")
            event.anchor = None  # not remembered: an alias to it is refused like any other
        return super().compose_node(parent, index)


def compose(text: str, shown: str) -> Node | None:
    """The YAML node tree of `text` (None: an empty document). Invalid YAML, anchors and aliases, and nesting
    deeper than MAX_DEPTH are a KnowledgeError naming the file `shown` and the line."""
    composer = _Composer(text, shown)
    try:
        root = composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise KnowledgeError([Problem(shown, mark.line + 1 if mark else 1,
                                      f"invalid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise KnowledgeError([Problem(shown, 1, f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise KnowledgeError([Problem(shown, _too_deep(text), f"YAML nested more than {MAX_DEPTH} levels deep: "
                                                              "not a knowledge file")]) from None
    finally:
        composer.dispose()
    if composer.refused:
        raise KnowledgeError(composer.refused, composer.unlisted)
    return root


def read_yaml(path: Path, shown: str | None = None) -> Node | None:
    """`compose(read_text(path))`."""
    shown = display(path) if shown is None else shown
    return compose(read_text(path, shown), shown)


def _too_deep(text: str) -> int:
    """The line where `text` first nests deeper than MAX_DEPTH (found without recursion)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1 if event.start_mark else 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return 1


def line(node: Node) -> int:
    return node.start_mark.line + 1


def kind(node: Node) -> str:
    """What a node is, for a reason: "a list", "a mapping", "the number 5", "'text'"."""
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    if node.tag == NULL:
        return "nothing (null)"
    if node.tag == TEXT:
        return repr(_clip(node.value))
    return f"{node.tag.rsplit(':', 1)[-1]} {_clip(node.value)}"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def is_text(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == TEXT


def number(node: Node) -> float | None:
    """A YAML number's value (an integer or a float, as YAML reads it), or None: not a finite number."""
    if not isinstance(node, ScalarNode) or node.tag not in (INT, FLOAT):
        return None
    try:
        value = float(yaml.SafeLoader("").construct_object(node))
    except (ValueError, OverflowError, yaml.YAMLError):
        return None
    return value if math.isfinite(value) else None


def fields(node: MappingNode, what: str, shown: str, problems: list[Problem]) -> dict[str, tuple[Node, Node]]:
    """A mapping's (key, value) nodes by key text; a key that is not text, or is there twice, is a problem."""
    out: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not is_text(key):
            problems.append(Problem(shown, line(key), f"a key in {what} must be text, not {kind(key)}"))
            continue
        if key.value in out:
            problems.append(Problem(shown, line(key), f"duplicate key '{key.value}' in {what}"))
        out[key.value] = (key, value)
    return out


def only_field(root: Node | None, name: str, what: str, shown: str, problems: list[Problem]) -> Node | None:
    """The value of the one top-level key `name` a file of `what` holds (None when it is missing or the file is not
    a mapping); any other top-level key is a problem."""
    top = fields(root, what, shown, problems) if isinstance(root, MappingNode) else {}
    for other, (key, _) in top.items():
        if other != name:
            problems.append(Problem(shown, line(key), f"unknown top-level key '{other}' (only '{name}' is allowed)"))
    return top[name][1] if name in top else None
