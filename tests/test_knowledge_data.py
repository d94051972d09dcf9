"""The learned matcher's data files are validated like the FAQ: file, line and reason."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ, SEEDS

from knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.content.phrasings import load_out_of_scope
from knowledge.decision.asks import load_asks
from knowledge.decision.decide import POLICY_FILE, dump_policy, load_policy
from knowledge.decision.pairs import PAIRS_FILE, load_joins
from knowledge.matching.analysis import load_synonyms

SMALL = (FIXTURE_FAQ / "small.yaml").read_text(encoding="utf-8")


def _faq(tmp_path: Path, text: str) -> Path:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "small.yaml").write_text(text, encoding="utf-8")
    return faq


def _problems(call) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(KnowledgeError) as info:
        call()
    return [str(p) for p in info.value.problems]


def test_near_misses_load_with_their_entry(tmp_path: Path) -> None:
    near_misses = "    near_misses: [how many parameters does llama 3 have]\n"
    text = SMALL.replace("  - id: llama\n", "  - id: llama\n" + near_misses, 1)
    knowledge = load_knowledge(_faq(tmp_path, text), SEEDS)
    assert knowledge["llama"].near_misses == ("how many parameters does llama 3 have",)


def test_a_near_miss_that_is_also_an_alternate_is_refused(tmp_path: Path) -> None:
    text = SMALL.replace("  - id: llama\n", "  - id: llama\n    near_misses: [tell me about llama 3]\n", 1)
    problems = _problems(lambda: load_knowledge(_faq(tmp_path, text), SEEDS))
    line = text.splitlines().index("    near_misses: [tell me about llama 3]") + 1
    assert problems == [f"{tmp_path / 'faq' / 'small.yaml'}:{line}: near miss 'tell me about llama 3' is also an "
                        "alternate of this entry"]


def test_a_near_miss_must_be_a_list_of_text(tmp_path: Path) -> None:
    text = SMALL.replace("  - id: llama\n", "  - id: llama\n    near_misses: just one\n", 1)
    problems = _problems(lambda: load_knowledge(_faq(tmp_path, text), SEEDS))
    assert any("'near_misses' must be a list of strings" in p for p in problems)


def test_an_out_of_scope_example_that_an_entry_answers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out_of_scope.yaml"
    path.write_text("off_topic:\n  - lunch?\n  - tell me about llama 3\nother: [x]\n", encoding="utf-8")
    problems = _problems(lambda: load_out_of_scope(path, load_knowledge(FIXTURE_FAQ, SEEDS)))
    assert problems == [f"{path}:3: 'tell me about llama 3' is a phrasing of entry 'llama', not out of scope",
                        f"{path}:4: unknown group 'other' (allowed: off_topic, other_sense, unanswered)"]


def test_a_broken_out_of_scope_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "out_of_scope.yaml"
    path.write_text("off_topic:\n  - [unclosed\n", encoding="utf-8")
    (problem,) = _problems(lambda: load_out_of_scope(path))
    assert problem.startswith(f"{path}:") and "invalid YAML" in problem


def test_a_bad_pattern_in_asks_names_its_kind_and_line(tmp_path: Path) -> None:
    path = tmp_path / "asks.yaml"
    path.write_text("kinds:\n  number:\n    says: give that figure\n    asks: ['how (many']\n    holds: ['\\d']\n",
                    encoding="utf-8")
    (problem,) = _problems(lambda: load_asks(path))
    assert problem.startswith(f"{path}:4: kind 'number': bad pattern 'how (many'")  # the pattern's own line


def test_a_kinds_patterns_searched_as_one_find_what_each_finds(tmp_path: Path) -> None:
    questions = ["how many gpus", "what year was it", "who made llama", "llama llama", "is it free",
                 "what is the price"]
    for kind in load_asks().kinds:
        assert kind.asks_any is not None, kind.name  # the shipped patterns are searched as one
        for question in questions:
            assert kind.is_asked(question) == any(p.search(question) for p in kind.asks), (kind.name, question)
    # Patterns that would match otherwise if joined are searched one by one: a back-reference, a group name twice.
    path = tmp_path / "asks.yaml"
    path.write_text("kinds:\n  echo:\n    says: say that\n    asks: ['(\\w+) \\1', '(?P<w>x)', '(?P<w>y)']\n"
                    "    holds: ['z']\n", encoding="utf-8")
    (echo,) = load_asks(path).kinds
    assert echo.asks_any is None and echo.is_asked("llama llama") and not echo.is_asked("llama mistral")


def test_the_shipped_policy_round_trips(tmp_path: Path) -> None:
    policy = load_policy()
    path = tmp_path / "policy.yaml"
    path.write_text(dump_policy(policy), encoding="utf-8")
    again = load_policy(path)
    assert (again.answer, again.suggest, again.rank.features) == (policy.answer, policy.suggest, policy.rank.features)


def test_a_policy_for_other_signals_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_FILE.read_text(encoding="utf-8").replace("lexical_gap:", "renamed_signal:", 1),
                    encoding="utf-8")
    (problem,) = _problems(lambda: load_policy(path))
    assert "rerun `openllm-bot calibrate`" in problem and "renamed_signal" in problem


@pytest.mark.parametrize("ping", ["<!channel>", "<!here>", "<!everyone>", "<@U0123ABC>", "<!subteam^S1|@team>"])
def test_an_answer_that_would_ping_people_is_refused(tmp_path: Path, ping: str) -> None:
    text = SMALL.replace("    answer: >-\n", f"    answer: >-\n      Ask {ping} about it.\n", 1)
    problems = _problems(lambda: load_knowledge(_faq(tmp_path, text), SEEDS))
    assert any("'answer' holds a Slack mention" in p and ping in p for p in problems), problems


def test_a_quote_of_a_word_or_two_is_refused(tmp_path: Path) -> None:
    quote = next(line for line in SMALL.splitlines() if "quote:" in line)
    text = SMALL.replace(quote, '        quote: "open"', 1)
    problems = _problems(lambda: load_knowledge(_faq(tmp_path, text), SEEDS))
    assert any("is shorter than 4 words" in p for p in problems), problems


# ---- every file the bot loads is checked: a problem is `file:line: reason`, never a traceback


def _seeds(tmp_path: Path, sources: str | bytes) -> Path:
    """A copy of the seed documents with `sources` as their sources.yaml."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    if isinstance(sources, bytes):
        (seeds / "sources.yaml").write_bytes(sources)
    else:
        (seeds / "sources.yaml").write_text(sources, encoding="utf-8")
    return seeds


SOURCES = (SEEDS / "sources.yaml").read_text(encoding="utf-8")
PAIRS = PAIRS_FILE.read_text(encoding="utf-8")
POLICY = POLICY_FILE.read_text(encoding="utf-8")


def _line_in(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))
URL = "    url: https://techplanet.today/post/open-source-language-models-empowering-innovation-and-collaboration\n"


@pytest.mark.parametrize("old, new, reason", [
    (URL, "    url: 5\n", "'url' must be a web address (http:// or https://…) or null, not int 5"),
    (URL, "    url: techplanet.today/post\n", "'url' must be a web address (http:// or https://…) or null, not "
                                               "'techplanet.today/post'"),
    (URL, "    url: [a, b]\n", "'url' must be a web address (http:// or https://…) or null, not a list"),
    ("    title: Unpacking the Dynamics of Open Large Language Models\n", "    title: {a: b}\n",
     "'title' must be text or null, not a mapping"),
    ("    publisher: Tech Planet\n", "    publisher: Tech Planet\n    licence: CC-BY\n",
     "unknown field 'licence' of a document (allowed: file, title, author, publisher, published, url, related)"),
    ("      url: https://arxiv.org/abs/2509.25397\n", "      url: 2509.25397\n",
     "'related.url' must be a web address (http:// or https://…) or null, not float 2509.25397"),
    ("  - file: 002_c64a73bc05cacdc4.txt\n", "  - file: 002_missing.txt\n",
     "cannot read document '002_missing.txt': No such file or directory"),
    ("  - file: 002_c64a73bc05cacdc4.txt\n", "  - file: ../faq/models.yaml\n",
     "'file' must be the name of a file in seeds/, not '../faq/models.yaml'"),
])
def test_sources_yaml_is_checked_field_by_field(tmp_path: Path, old: str, new: str, reason: str) -> None:
    assert old in SOURCES
    seeds = _seeds(tmp_path, SOURCES.replace(old, new, 1))
    problems = _problems(lambda: load_knowledge(FIXTURE_FAQ, seeds))
    assert len(problems) == 1 and problems[0].endswith(f": {reason}"), problems
    line = SOURCES.replace(old, new, 1).splitlines().index(new.splitlines()[-1]) + 1
    assert problems[0].startswith(f"{seeds / 'sources.yaml'}:{line}: ")


def test_a_document_that_is_not_utf8_is_a_problem_naming_it_and_its_line(tmp_path: Path) -> None:
    seeds = _seeds(tmp_path, SOURCES)
    document = seeds / "002_c64a73bc05cacdc4.txt"
    text = document.read_bytes()
    third = text.index(b"\n", text.index(b"\n") + 1) + 1
    document.write_bytes(text[:third] + "café".encode("latin-1") + text[third:])
    assert _problems(lambda: load_knowledge(FIXTURE_FAQ, seeds)) == [
        f"{document}:3: not UTF-8 text (byte 0xe9 at offset {third + 3:,}): save the file as UTF-8 (listed in "
        "sources.yaml, line 17)"]


def test_a_sources_yaml_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    seeds = _seeds(tmp_path, SOURCES.encode("utf-8").replace(b"Nia Walker", "Nia Wálker".encode("latin-1")))
    [problem] = _problems(lambda: load_knowledge(FIXTURE_FAQ, seeds))
    assert problem.startswith(f"{seeds / 'sources.yaml'}:8: not UTF-8 text (byte 0xe1")


def test_a_faq_file_that_is_not_utf8_is_a_problem_with_its_line(tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "small.yaml").write_bytes(SMALL.encode("utf-8").replace(b"Llama", "Llamá".encode("latin-1"), 1))
    [problem] = _problems(lambda: load_knowledge(faq, SEEDS))
    line = SMALL.splitlines().index(next(x for x in SMALL.splitlines() if "Llama" in x)) + 1
    assert problem.startswith(f"{faq / 'small.yaml'}:{line}: not UTF-8 text (byte 0xe1 at offset ")


@pytest.mark.parametrize("text, line, reason", [
    ("groups:\n  - [llm, llms\n", 3, "invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("groups: [5, 6]\n", 1, "a group must be a list of two words or phrases or more, not int 5"),
    ("groups:\n  - [llama, 5]\n", 2, "int 5 is not text (quote it)"),
    ("groups:\n  - [llama]\n", 2, "a group must be a list of two words or phrases or more, not a list"),
    ("groups:\n  - [llama, llamas]\n  - [meta, Llamas]\n", 3, "'Llamas' is already in the group on line 2"),
    ("groups:\n  - [llama, thanks]\n", 2, "'thanks' has no words but chat filler, which is ignored anyway"),
    ("[]\n", 1, "expected a top-level 'groups:' list, each group a list of words or phrases that mean the same"),
    ("groups: {llama: llamas}\n", 1, "expected a top-level 'groups:' list, each group a list of words or phrases "
                                     "that mean the same"),
    ("synonyms:\n  - [llama, llamas]\n", 1, "unknown top-level key 'synonyms' (only 'groups' is allowed)"),
    ("base: &llama [llama, llamas]\ngroups:\n  - *llama\n", 1, "anchor '&llama': anchors and aliases are not "
                                                                "allowed in knowledge files (write the value out)"),
])
def test_the_synonym_list_is_checked_like_the_faq(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "synonyms.yaml"
    path.write_text(text, encoding="utf-8")
    assert _problems(lambda: load_synonyms(path))[0] == f"{path}:{line}: {reason}"


def test_the_shipped_synonym_list_reads_as_before() -> None:
    assert load_synonyms()[("hugging", "face")] == "huggingface" and len(load_synonyms()) > 400


@pytest.mark.parametrize("loader, text, line, reason", [
    (load_asks, "kinds:\n  number: &n\n    says: give that figure\n    asks: ['how many']\n    holds: ['\\d']\n"
                "  date: *n\n", 2, "anchor '&n': anchors and aliases are not allowed in knowledge files (write the "
                                   "value out)"),
    (load_asks, "kinds:\n  number:\n    says: 5\n    asks: ['how many']\n    holds: ['\\d']\n", 3,
     "kind 'number' needs 'says' (text), 'asks' and 'holds' (lists)"),
    (load_asks, "kinds:\n  number:\n    says: give that figure\n    asks: ['how many', 7]\n    holds: ['\\d']\n", 4,
     "kind 'number': 'asks' must be a non-empty list of text, not int 7"),
    (load_asks, "kinds:\n  [number]: {}\n", 2, "a key in 'kinds' must be text, not a list"),
    (load_out_of_scope, "off_topic:\n  - &a what's for lunch\n  - *a\n", 2,
     "anchor '&a': anchors and aliases are not allowed in knowledge files (write the value out)"),
    (load_out_of_scope, "? [off_topic]\n: [lunch]\n", 1, "a key in out_of_scope.yaml must be text, not a list"),
    (load_out_of_scope, "off_topic:\n  - lunch?\n  - 42\n", 3, "an example must be non-empty text, not int 42"),
    # The shipped policy with one value spoiled, whatever `make calibrate` last wrote there.
    (load_policy, re.sub(r"(?m)^answer: .*$", "answer: high", POLICY), _line_in(POLICY, "answer:"),
     "'answer' must be a number from 0 to 1, not 'high'"),
    (load_policy, re.sub(r"(?m)^suggest: .*$", "suggest: .nan", POLICY), _line_in(POLICY, "suggest:"),
     "'suggest' must be a number from 0 to 1, not float .nan"),
    (load_policy, re.sub(r"(?m)^    lexical: .*$", "    lexical: [1]", POLICY, count=1),
     _line_in(POLICY, "    lexical:"), "'rank' weight of lexical must be a number, not a list"),
    (load_joins, PAIRS.replace("compare: [vs,", "compare: [5,"), _line_in(PAIRS, "compare:"),
     "'compare': a joining word must be text, not int 5"),
    (load_joins, PAIRS.replace("max_chars: 200", "max_chars: many"), _line_in(PAIRS, "max_chars:"),
     "'max_chars' must be a whole number, 1 or more, not 'many'"),
    (load_joins, re.sub(r"(?m)^ask: \[(.*)\]$", r"ask: &and [\1]\nalso: *and", PAIRS), _line_in(PAIRS, "ask:"),
     "anchor '&and': anchors and aliases are not allowed in knowledge files (write the value out)"),
])
def test_every_data_file_names_the_line_of_each_problem(tmp_path: Path, loader, text: str, line: int,  # type: ignore[no-untyped-def]
                                                       reason: str) -> None:
    path = tmp_path / "data.yaml"
    path.write_text(text, encoding="utf-8")
    assert _problems(lambda: loader(path))[0] == f"{path}:{line}: {reason}"


@pytest.mark.parametrize("loader", [load_asks, load_out_of_scope, load_policy, load_synonyms, load_joins])
def test_a_data_file_that_is_not_utf8_is_a_problem_not_a_crash(tmp_path: Path, loader) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "data.yaml"
    path.write_bytes(b"# caf\xe9\nkinds: {}\n")
    assert _problems(lambda: loader(path)) == [f"{path}:1: not UTF-8 text (byte 0xe9 at offset 5): save the file "
                                               "as UTF-8"]


def test_a_knowledge_base_reports_the_problems_of_every_file_at_once(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    synonyms = tmp_path / "synonyms.yaml"
    synonyms.write_text("groups: [5, 6]\n", encoding="utf-8")
    asks = tmp_path / "asks.yaml"
    asks.write_text("kinds: []\n", encoding="utf-8")
    monkeypatch.setattr("knowledge.base.load_synonyms", lambda: load_synonyms(synonyms))
    monkeypatch.setattr("knowledge.base.load_asks", lambda: load_asks(asks))
    seeds = _seeds(tmp_path, SOURCES.replace(URL, "    url: 5\n"))
    with pytest.raises(KnowledgeError) as info:
        KnowledgeBase.load(FIXTURE_FAQ, seeds)
    assert info.value.files == (str(seeds / "sources.yaml"), str(asks), str(synonyms))
    assert [p.reason for p in info.value.problems] == [
        "'url' must be a web address (http:// or https://…) or null, not int 5",
        "expected a top-level 'kinds:' mapping",
        "a group must be a list of two words or phrases or more, not int 5",
        "a group must be a list of two words or phrases or more, not int 6"]
