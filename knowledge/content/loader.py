"""Load the FAQ YAML files into a validated, immutable `Knowledge`.

Every problem is reported as `file:line: reason`, all of them at once.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from yaml import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .documents import IndexedText, collapse_whitespace, load_documents
from .files import TEXT, KnowledgeError, Problem, compose, display, is_text, read_yaml
from .files import kind as node_kind
from .model import Document, Entry, Knowledge, Source

__all__ = ["DEFAULT_FAQ_DIR", "DEFAULT_SEEDS_DIR", "KnowledgeError", "Problem", "check_entries", "load_knowledge",
           "slack_ping"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # knowledge/: the data files beside the code packages
DEFAULT_FAQ_DIR = PACKAGE_DIR / "faq"
DEFAULT_SEEDS_DIR = PACKAGE_DIR.parent / "seeds"

REQUIRED_FIELDS = ("id", "question", "alternates", "tags", "answer", "sources", "related")
OPTIONAL_FIELDS = ("near_misses",)
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# <!channel>, <!here>, <!everyone>, <!subteam^S1>, <@U123>: in a reply, Slack would ping people.
_SLACK_PING = re.compile(r"<\s*[!@][^>]*>")
MIN_QUOTE_WORDS = 4  # a shorter "passage" proves nothing about where an answer comes from
# Length limits, in characters, of what an entry holds: a question (or an alternate, a near miss, a tag), not a pasted
# log; an answer that reads in Slack in one go; a passage, not a page. The shipped FAQ's longest are far below them.
MAX_ID_CHARS = 64
MAX_PHRASING_CHARS = 300
MAX_ANSWER_CHARS = 2_500
MAX_QUOTE_CHARS = 1_000


def slack_ping(text: str) -> str | None:
    """The first Slack mention in `text` (`<!here>`, `<@U123>`…), or None. Looked for up to the text's last ">"
    only: from each of many unterminated "<@" the pattern would rescan the rest of the text (quadratic time)."""
    found = _SLACK_PING.search(text, 0, text.rfind(">") + 1)
    return found.group() if found else None


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _key(text: str) -> str:
    return collapse_whitespace(text).casefold()


class _FileReader:
    """Turns one file's YAML nodes into entries, collecting problems as it goes."""

    def __init__(self, path: Path, display: str, documents: dict[str, tuple[Document, IndexedText]],
                 text: str | None = None):
        """`text`: the file's text, when it is not read from `path` (entries written elsewhere, checked as a file)."""
        self.path = path
        self.display = display
        self.documents = documents
        self.text = text
        self.problems: list[Problem] = []
        self.fields: list[tuple[str, dict[str, Node]]] = []  # every entry's fields, valid or not
        self.unparsed = False  # the file is not YAML: its entries are unknown
        self.unlisted = 0  # problems counted but not listed

    def problem(self, node_or_line: Node | int, reason: str) -> None:
        line = node_or_line if isinstance(node_or_line, int) else _line(node_or_line)
        self.problems.append(Problem(self.display, line, reason))

    def read(self) -> list[Entry]:
        try:
            root = read_yaml(self.path, self.display) if self.text is None else compose(self.text, self.display)
        except KnowledgeError as exc:  # unreadable, not UTF-8, not YAML, aliases: its entries are unknown
            self.problems.extend(exc.listed)
            self.unlisted = exc.unlisted
            self.unparsed = True
            return []
        if root is None:
            self.problem(1, "empty file: expected a top-level 'entries:' list")
            return []
        fields = self.mapping(root, "the file")
        if fields is None:
            return []
        if "entries" not in fields:
            self.problem(root, "missing top-level 'entries:' list")
            return []
        for name, node in fields.items():
            if name != "entries":
                self.problem(node, f"unknown top-level key '{name}' (only 'entries' is allowed)")
        entries_node = fields["entries"]
        if not isinstance(entries_node, SequenceNode):
            self.problem(entries_node, "'entries' must be a list")
            return []
        read = []
        for item in entries_node.value:
            entry = self.entry(item)
            if entry is not None:
                read.append(entry)
        return read

    def mapping(self, node: Node, what: str) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return None
        fields: dict[str, Node] = {}
        for key, value in node.value:
            if not is_text(key):
                self.problem(key, f"a key in {what} must be text, not {node_kind(key)}")
                continue
            name = key.value
            if name in fields:
                self.problem(key, f"duplicate key '{name}' in {what}")
            fields[name] = value
        return fields

    def string(self, node: Node, name: str, limit: int | None = None) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            self.problem(node, f"'{name}' must be a string")
            return None
        if not node.value.strip():
            self.problem(node, f"'{name}' must not be empty")
            return None
        if limit is not None and len(node.value.strip()) > limit:
            self.problem(node, f"'{name}' is {len(node.value.strip()):,} characters long: at most {limit:,}")
            return None
        return node.value

    def strings(self, node: Node, name: str, limit: int | None = None) -> tuple[str, ...] | None:
        if not isinstance(node, SequenceNode):
            self.problem(node, f"'{name}' must be a list of strings")
            return None
        values = [self.string(item, f"{name} item", limit) for item in node.value]
        if any(v is None for v in values):
            return None
        return tuple(v for v in values if v is not None)

    def entry(self, node: Node) -> Entry | None:
        fields = self.mapping(node, "an entry")
        if fields is None:
            return None
        self.fields.append((self.display, fields))
        ok = True
        for name in REQUIRED_FIELDS:
            if name not in fields:
                self.problem(node, f"entry is missing field '{name}'")
                ok = False
        for name, value in fields.items():
            if name not in FIELDS:
                self.problem(value, f"unknown field '{name}' (allowed: {', '.join(FIELDS)})")
                ok = False
        if not ok:
            return None
        entry_id = self.string(fields["id"], "id", MAX_ID_CHARS)
        if entry_id is not None and not _ID.match(entry_id):
            self.problem(fields["id"], f"id '{entry_id}' is not kebab-case")
            entry_id = None
        question = self.string(fields["question"], "question", MAX_PHRASING_CHARS)
        answer = self.string(fields["answer"], "answer", MAX_ANSWER_CHARS)
        for name, text in (("question", question), ("answer", answer)):
            if text is not None and (ping := slack_ping(text)):
                self.problem(fields[name], f"'{name}' holds a Slack mention {ping!r}: the bot would ping "
                                           "people with it")
                if name == "question":
                    question = None
                else:
                    answer = None
        alternates = self.strings(fields["alternates"], "alternates", MAX_PHRASING_CHARS)
        tags = self.strings(fields["tags"], "tags", MAX_PHRASING_CHARS)
        related = self.strings(fields["related"], "related")
        near_misses = (self.strings(fields["near_misses"], "near_misses", MAX_PHRASING_CHARS) if "near_misses" in fields
                       else ())
        sources = self.sources(fields["sources"])
        # Every field is read (so that each problem is reported) before any missing one gives up the entry.
        if (entry_id is None or question is None or answer is None or alternates is None or tags is None
                or related is None or sources is None or near_misses is None):
            return None
        return Entry(id=entry_id, question=question, alternates=alternates, tags=tuple(t.strip().lower() for t in tags),
                     answer=answer.strip(), sources=sources, related=related, near_misses=near_misses,
                     file=self.display, line=_line(node))

    def sources(self, node: Node) -> tuple[Source, ...] | None:
        if not isinstance(node, SequenceNode) or not node.value:
            self.problem(node, "'sources' must be a non-empty list of {doc, quote}")
            return None
        result: list[Source] = []
        ok = True
        for item in node.value:
            fields = self.mapping(item, "a source")
            if fields is None:
                ok = False
                continue
            if set(fields) != {"doc", "quote"}:
                self.problem(item, "a source has exactly the fields 'doc' and 'quote'")
                ok = False
                continue
            doc = self.string(fields["doc"], "doc")
            quote = self.string(fields["quote"], "quote", MAX_QUOTE_CHARS)
            if doc is None or quote is None:
                ok = False
                continue
            if doc not in self.documents:
                self.problem(fields["doc"], f"source doc '{doc}' is not in seeds/sources.yaml")
                ok = False
                continue
            if len(quote.split()) < MIN_QUOTE_WORDS:
                self.problem(fields["quote"], f"quote {quote!r} is shorter than {MIN_QUOTE_WORDS} words: "
                                              "cite a passage")
                ok = False
                continue
            span = self.documents[doc][1].locate(quote)
            if span is None:
                self.problem(fields["quote"], f"quote not found verbatim in {doc}: "
                                              f"{_where_it_differs(quote, self.documents[doc][1])}")
                ok = False
                continue
            result.append(Source(doc=doc, quote=collapse_whitespace(quote), line_start=span[0], line_end=span[1]))
        return tuple(result) if ok else None


_SHOWN = 40  # characters of a quote and of its document shown either side of where they differ


def _where_it_differs(quote: str, document: IndexedText) -> str:
    """Where a quote stops following its document: the end of what matches, then what each goes on with."""
    needle = collapse_whitespace(quote)
    found, at = document.divergence(needle)
    if found == 0:
        return f"not even its first character {needle[:1]!r} is in the document"
    matched = needle[:found]
    shown = matched if len(matched) <= _SHOWN else "…" + matched[-_SHOWN:].lstrip()
    then = document.text[at + found:at + found + _SHOWN]
    line = document.lines[min(at + found, len(document.lines) - 1)]
    return (f"it follows the document up to {shown!r}, then has {needle[found:found + _SHOWN]!r} where the "
            f"document (line {line}) has {then!r}")


def _scalars(fields: dict[str, Node], name: str) -> list[ScalarNode]:
    node = fields.get(name)
    items = node.value if isinstance(node, SequenceNode) else [node]
    return [item for item in items if isinstance(item, ScalarNode)]


def _cross_check(entries: list[tuple[str, dict[str, Node]]]) -> list[Problem]:
    """Rules that span entries: unique ids, existing related ids, unshared alternates and tags.

    They run on every entry read, valid or not, so one bad entry does not hide another's problems."""
    problems: list[Problem] = []
    first_id: dict[str, str] = {}
    ids: list[str | None] = []
    for file, fields in entries:
        id_nodes = _scalars(fields, "id")
        entry_id = id_nodes[0].value if id_nodes else None
        ids.append(entry_id)
        if entry_id is None:
            continue
        if entry_id in first_id:
            problems.append(Problem(file, _line(id_nodes[0]),
                                    f"duplicate id '{entry_id}' (first at {first_id[entry_id]})"))
        else:
            first_id[entry_id] = f"{file}:{_line(id_nodes[0])}" if _line(id_nodes[0]) > 0 else file
    for kind in ("alternates", "tags"):
        owner: dict[str, str | None] = {}
        for (file, fields), entry_id in zip(entries, ids, strict=True):
            for item in _scalars(fields, kind) if "id" in fields and kind in fields else ():
                key = _key(item.value)
                if key in owner and owner[key] != entry_id:
                    problems.append(Problem(file, _line(item),
                                            f"{kind[:-1]} '{item.value}' is shared with entry '{owner[key]}'"))
                owner.setdefault(key, entry_id)
    # A phrasing is either answered by one entry or not answered: never both, never by two entries.
    phrasing_owner: dict[str, tuple[str | None, str]] = {}
    for kind in ("question", "alternates", "near_misses"):
        for (file, fields), entry_id in zip(entries, ids, strict=True):
            for item in _scalars(fields, kind) if "id" in fields and kind in fields else ():
                key = _key(item.value)
                if key not in phrasing_owner:
                    phrasing_owner[key] = (entry_id, kind)
                    continue
                other, other_kind = phrasing_owner[key]
                if kind == "near_misses" and (other != entry_id or other_kind != kind):
                    what = {"question": "the question", "alternates": "an alternate"}.get(other_kind, "a near miss")
                    where = "this entry" if other == entry_id else f"entry '{other}'"
                    problems.append(Problem(file, _line(item), f"near miss '{item.value}' is also {what} of {where}"))
    # An entry's question is no other entry's question or alternate (two alternates alike are reported above): said
    # of the later of the two.
    asked: dict[str, tuple[str | None, str]] = {}
    for (file, fields), entry_id in zip(entries, ids, strict=True):
        for kind in ("question", "alternates"):
            for item in _scalars(fields, kind) if "id" in fields and kind in fields else ():
                key = _key(item.value)
                other, other_kind = asked.setdefault(key, (entry_id, kind))
                if other != entry_id and "question" in (kind, other_kind):
                    this = "question" if kind == "question" else "alternate"
                    what = "the question" if other_kind == "question" else "an alternate"
                    problems.append(Problem(file, _line(item), f"{this} '{item.value}' is also {what} of entry "
                                                               f"'{other}'"))
    for file, fields in entries:
        for item in _scalars(fields, "related") if "related" in fields else ():
            if item.value not in first_id:
                problems.append(Problem(file, _line(item), f"related id '{item.value}' does not exist"))
    return problems


@lru_cache(maxsize=64)
def _indexed(text: str) -> IndexedText:
    return IndexedText.of(text)


def _fields_of(entry: Entry) -> tuple[str, dict[str, Node]]:
    """The fields of an entry already loaded, as the nodes `_cross_check` reads, all at the entry's line (an entry
    written elsewhere, at line 0, is said to be so)."""
    mark = Mark(entry.file, 0, entry.line - 1, 0, None, 0)

    def text(value: str) -> ScalarNode:
        return ScalarNode(TEXT, value, mark, mark)

    def texts(values: tuple[str, ...]) -> SequenceNode:
        return SequenceNode("tag:yaml.org,2002:seq", [text(v) for v in values], mark, mark)

    fields: dict[str, Node] = {"id": text(entry.id), "question": text(entry.question),
                               "alternates": texts(entry.alternates), "tags": texts(entry.tags),
                               "near_misses": texts(entry.near_misses), "related": texts(entry.related)}
    return (entry.file if entry.line else f"{entry.file} (written in Slack)"), fields


def check_entries(knowledge: Knowledge, text: str, file: str) -> tuple[Entry, ...]:
    """The entries of `text` (YAML of an FAQ file's form), read as if the file `file` held them beside `knowledge`'s:
    checked by every rule an FAQ file is (fields, kebab-case ids, Slack mentions, length limits, verbatim quotes of
    `knowledge`'s documents) and against `knowledge`'s entries (unique ids, phrasings, alternates and tags of one
    entry only, existing related ids). Raises `KnowledgeError` listing the problems of `text`, by its lines."""
    indexed = {name: (doc, _indexed(doc.text)) for name, doc in knowledge.documents.items()}
    reader = _FileReader(Path(file), file, indexed, text=text)
    read = reader.read()
    cross = [p for p in _cross_check([*(_fields_of(e) for e in knowledge.entries), *reader.fields]) if p.file == file]
    if reader.problems or cross:
        raise KnowledgeError([*reader.problems, *cross], reader.unlisted)
    return tuple(read)


def load_knowledge(faq_dir: Path | str = DEFAULT_FAQ_DIR, seeds_dir: Path | str = DEFAULT_SEEDS_DIR) -> Knowledge:
    """Load and validate every `*.yaml` under `faq_dir`; raise `KnowledgeError` listing all problems."""
    faq_dir, seeds_dir = Path(faq_dir), Path(seeds_dir)
    documents = load_documents(seeds_dir)  # its problems first: the FAQ's quotes are checked against them
    indexed = {name: (doc, IndexedText.of(doc.text)) for name, doc in documents.items()}
    if _holds_faq_folder(faq_dir):
        faq_dir = faq_dir / "faq"  # the package folder (`validate knowledge`): its FAQ is in faq/
    if not faq_dir.is_dir():
        raise KnowledgeError([Problem(str(faq_dir), 0, "no such folder: name the folder that holds the FAQ's "
                                                       "*.yaml files (the shipped one is knowledge/faq)")])
    problems: list[Problem] = []
    for path in sorted(faq_dir.iterdir()):
        if path.suffix == ".yml":
            problems.append(Problem(display(path), 1, "FAQ files end in .yaml: rename it, or it is not read"))
        elif path.suffix == ".yaml" and not path.is_file():
            problems.append(Problem(display(path), 1, "not a readable file (a dangling symlink?)"))
    files = sorted(p for p in faq_dir.glob("*.yaml") if p.is_file())
    if not files and not problems:
        raise KnowledgeError([Problem(str(faq_dir), 0, f"no FAQ files (*.yaml) in the folder {faq_dir}")])
    read: list[Entry] = []
    fields: list[tuple[str, dict[str, Node]]] = []
    unparsed = False
    unlisted = 0
    for path in files:
        reader = _FileReader(path, display(path), indexed)
        read.extend(reader.read())
        if reader.unparsed and reader.problems:
            # The entries of a file that did not parse are unknown: every link to them would be reported
            # as missing. Say once that links were not checked, instead of one false error per link.
            first = reader.problems[0]
            reader.problems[0] = Problem(first.file, first.line, first.reason + "; its entries were skipped, so "
                                         "links to them from other files ('related') were not checked")
            unparsed = True
        problems.extend(reader.problems)
        unlisted += reader.unlisted
        fields.extend(reader.fields)
    cross = _cross_check(fields)
    if unparsed:
        cross = [p for p in cross if "related id" not in p.reason]
    problems.extend(cross)
    if problems:
        raise KnowledgeError(problems, unlisted)
    return Knowledge(entries=tuple(read), documents=documents)


def _holds_faq_folder(folder: Path) -> bool:
    """A folder whose own YAML files are no FAQ files (no `entries:`) but which has a faq/ folder that holds some."""
    inner = folder / "faq"
    if not inner.is_dir() or not any(inner.glob("*.yaml")):
        return False
    for path in folder.glob("*.yaml"):
        try:
            if re.search(r"^entries:", path.read_text(encoding="utf-8"), re.M):
                return False
        except (OSError, UnicodeDecodeError):
            return False
    return True
