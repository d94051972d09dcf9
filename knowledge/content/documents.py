"""The seed documents: their metadata from sources.yaml and where a quote stands in them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .files import NULL, KnowledgeError, Problem, display, fields, is_text, kind, line, read_text, read_yaml
from .model import Document

_SPACE = re.compile(r"\s+")


def collapse_whitespace(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class IndexedText:
    """A document's text with whitespace collapsed, remembering each character's line."""

    text: str
    lines: tuple[int, ...]

    @classmethod
    def of(cls, raw: str) -> IndexedText:
        chars: list[str] = []
        lines: list[int] = []
        line = 1
        pending_space = False
        for ch in raw:
            if ch.isspace():
                pending_space = bool(chars)
                if ch == "\n":
                    line += 1
                continue
            if pending_space:
                chars.append(" ")
                lines.append(line)
                pending_space = False
            chars.append(ch)
            lines.append(line)
        return cls("".join(chars), tuple(lines))

    def locate(self, quote: str) -> tuple[int, int] | None:
        """1-based first and last line of `quote` (whitespace collapsed), or None."""
        needle = collapse_whitespace(quote)
        if not needle:
            return None
        start = self.text.find(needle)
        if start < 0:
            return None
        return self.lines[start], self.lines[start + len(needle) - 1]

    def divergence(self, quote: str) -> tuple[int, int]:
        """Where `quote` (whitespace collapsed), not in the text, stops following it: how many of its first
        characters the text holds, and where those stand in the text (-1: not even the first)."""
        needle = collapse_whitespace(quote)
        found, missing = 0, len(needle) + 1  # needle[:found] is in the text, needle[:missing] is not
        while missing - found > 1:  # a start the text holds is in it whatever is cut off its end
            middle = (found + missing) // 2
            if self.text.find(needle[:middle]) >= 0:
                found = middle
            else:
                missing = middle
        return found, self.text.find(needle[:found]) if found else -1


SOURCES_FILE = "sources.yaml"
_FIELDS = ("file", "title", "author", "publisher", "published", "url", "related")
_RELATED_FIELDS = ("title", "url")
_WEB_ADDRESS = re.compile(r"^https?://[^\s/?#]+\S*$")


def load_documents(seeds_dir: Path) -> dict[str, Document]:
    """Read `sources.yaml` and every document it lists, keyed by file name; a KnowledgeError lists every problem
    (of sources.yaml by line, of a document that cannot be read by its file)."""
    path = seeds_dir / SOURCES_FILE
    shown = display(path)
    root = read_yaml(path, shown)
    problems: list[Problem] = []
    top = fields(root, "sources.yaml", shown, problems) if isinstance(root, MappingNode) else {}
    listed = top.get("documents", (None, None))[1]
    if not isinstance(listed, SequenceNode):
        where = line(top["documents"][0]) if "documents" in top else 1
        raise KnowledgeError([*problems, Problem(shown, where, "expected a top-level 'documents:' list of "
                                                               "{file, title, url, …}")])
    for name, (key, _) in top.items():
        if name != "documents":
            problems.append(Problem(shown, line(key), f"unknown top-level key '{name}' (only 'documents' is allowed)"))
    documents: dict[str, Document] = {}
    for item in listed.value:
        document = _document(item, seeds_dir, shown, problems, documents)
        if document is not None:
            documents[document.file] = document
    if problems:
        raise KnowledgeError(problems)
    return documents


def _document(node: Node, seeds_dir: Path, shown: str, problems: list[Problem],
              earlier: dict[str, Document]) -> Document | None:
    """One entry of sources.yaml and its document's text; None (with problems) when either is wrong."""
    if not isinstance(node, MappingNode):
        problems.append(Problem(shown, line(node), f"a document must be a mapping of {', '.join(_FIELDS)}, "
                                                   f"not {kind(node)}"))
        return None
    before = len(problems)
    given = fields(node, "a document", shown, problems)
    for name, (key, _) in given.items():
        if name not in _FIELDS:
            problems.append(Problem(shown, line(key), f"unknown field '{name}' of a document (allowed: "
                                                      f"{', '.join(_FIELDS)})"))
    if "file" not in given:
        problems.append(Problem(shown, line(node), "a document needs 'file': the name of its text in this folder"))
        return None
    file_node = given["file"][1]
    file = file_node.value if is_text(file_node) else None
    if file is None or not file.strip() or Path(file).name != file:
        problems.append(Problem(shown, line(file_node), f"'file' must be the name of a file in {seeds_dir.name}/, "
                                                        f"not {kind(file_node)}"))
        return None
    if file in earlier:
        problems.append(Problem(shown, line(file_node), f"document '{file}' is listed twice"))
        return None
    texts = {name: _text_or_none(given[name][1], name, shown, problems) if name in given else None
             for name in ("title", "author", "publisher")}
    url = _address(given["url"][1], "url", shown, problems) if "url" in given else None
    related_title = related_url = None
    if "related" in given:
        related = given["related"][1]
        if isinstance(related, MappingNode):
            inner = fields(related, "'related'", shown, problems)
            for name, (key, _) in inner.items():
                if name not in _RELATED_FIELDS:
                    problems.append(Problem(shown, line(key), f"unknown field 'related.{name}' (allowed: title, url)"))
            related_title = _text_or_none(inner["title"][1], "related.title", shown, problems) \
                if "title" in inner else None
            related_url = _address(inner["url"][1], "related.url", shown, problems) if "url" in inner else None
        elif not (isinstance(related, ScalarNode) and related.tag == NULL):
            problems.append(Problem(shown, line(related), f"'related' must be a mapping of title and url, not "
                                                          f"{kind(related)}"))
    if "published" in given and not isinstance(given["published"][1], ScalarNode):
        problems.append(Problem(shown, line(given["published"][1]), "'published' must be a date"))
    try:
        text = read_text(seeds_dir / file, display(seeds_dir / file))
    except KnowledgeError as exc:
        for problem in exc.listed:
            if problem.line:  # in the document: not UTF-8 from that line on
                problems.append(Problem(problem.file, problem.line, f"{problem.reason} (listed in {SOURCES_FILE}, "
                                                                    f"line {line(file_node)})"))
            else:  # the document is not there to read: sources.yaml lists a file that is not
                why = problem.reason.removeprefix("cannot read file: ")
                problems.append(Problem(shown, line(file_node), f"cannot read document '{file}': {why}"))
        return None
    if len(problems) > before:
        return None
    # A byte-order mark (Windows editors save UTF-8 with one) is no character of the text: the first line would not
    # read as the title, nor a heading as a question.
    text = text.removeprefix("\ufeff")
    return Document(file=file, title=texts["title"] or file, text=text, url=url, author=texts["author"],
                    publisher=texts["publisher"], related_title=related_title, related_url=related_url)


def _text_or_none(node: Node, name: str, shown: str, problems: list[Problem]) -> str | None:
    """Text, or None for `null` or empty text; anything else is a problem."""
    if isinstance(node, ScalarNode) and node.tag == NULL:
        return None
    if not is_text(node):
        problems.append(Problem(shown, line(node), f"'{name}' must be text or null, not {kind(node)}"))
        return None
    return node.value.strip() or None


def _address(node: Node, name: str, shown: str, problems: list[Problem]) -> str | None:
    """A web address (http or https), or None for `null` or empty text; anything else is a problem."""
    if isinstance(node, ScalarNode) and (node.tag == NULL or (is_text(node) and not node.value.strip())):
        return None
    if not is_text(node) or not _WEB_ADDRESS.match(node.value.strip()):
        problems.append(Problem(shown, line(node), f"'{name}' must be a web address (http:// or https://…) or "
                                                   f"null, not {kind(node)}"))
        return None
    return str(node.value.strip())
