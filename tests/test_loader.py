"""The loader rejects a bad FAQ with `file:line: reason` for every problem it finds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ, SEEDS

from knowledge import KnowledgeError, load_knowledge
from knowledge.content.files import MAX_PROBLEMS


def _problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    faq = tmp_path / "faq"
    faq.mkdir()
    for name, text in files.items():
        (faq / name).write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(faq, SEEDS)
    return [str(p) for p in info.value.problems]


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return lines[occurrence - 1]


def test_fixture_faq_loads_into_entries_with_quote_line_ranges() -> None:
    knowledge = load_knowledge(FIXTURE_FAQ, SEEDS)
    assert [e.id for e in knowledge.entries] == ["licensing", "llama", "attention"]
    source = knowledge["licensing"].sources[0]
    assert (source.line_start, source.line_end) == (35, 35)
    assert knowledge["attention"].sources[0].line_start == 17


def test_entries_are_immutable() -> None:
    knowledge = load_knowledge(FIXTURE_FAQ, SEEDS)
    with pytest.raises(AttributeError):
        knowledge["llama"].answer = "changed"  # type: ignore[misc]
    assert isinstance(knowledge["llama"].alternates, tuple)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = "entries:\n  - id: a\n    question: [unclosed\n"
    problems = _problems(tmp_path, {"broken.yaml": text})
    assert len(problems) == 1
    assert problems[0].startswith("faq/broken.yaml:") or "broken.yaml:" in problems[0]
    assert "invalid YAML" in problems[0]
    line = int(problems[0].split("broken.yaml:")[1].split(":")[0])
    assert line in (3, 4)


@pytest.mark.parametrize("old, new, at, reason", [
    ("    tags: [attention]\n", "", "- id: attention", "entry is missing field 'tags'"),
    ("tags: [attention]", "tags: attention", "tags: attention", "'tags' must be a list of strings"),
    ("    tags: [attention]\n", "    tags: [attention]\n    owner: me\n", "owner: me",
     "unknown field 'owner' (allowed: id, question, alternates, tags, answer, sources, related, near_misses)"),
    ("related: [llama]\n", "related: [llamas]\n", "related: [llamas]", "related id 'llamas' does not exist"),
    ("doc: 003_672eb0fce39da1cc.txt", "doc: 009_missing.txt", "009_missing",
     "source doc '009_missing.txt' is not in seeds/sources.yaml"),
    ("under more permissive licenses", "under permissive licenses", "under permissive licenses",
     "quote not found verbatim in 001_ef82fbb3a280ee8f.txt: it follows the document up to '…ater released "
     "Llama 2 and Llama 3 under ', then has 'permissive licenses' where the document (line 20) has 'more "
     "permissive licenses, making them po'"),
])
def test_each_rejection_names_file_line_and_reason(tmp_path: Path, fixture_faq_text: str, old: str, new: str,
                                                    at: str, reason: str) -> None:
    assert old in fixture_faq_text
    text = fixture_faq_text.replace(old, new, 1)
    problems = _problems(tmp_path, {"small.yaml": text})
    assert problems == [f"{tmp_path / 'faq' / 'small.yaml'}:{_line_of(text, at)}: {reason}"]


def test_id_must_be_kebab_case(tmp_path: Path, fixture_faq_text: str) -> None:
    text = fixture_faq_text.replace("id: attention", "id: Attention_Mechanism")
    problems = _problems(tmp_path, {"small.yaml": text})
    line = _line_of(text, "id: Attention_Mechanism")
    assert f"{tmp_path / 'faq' / 'small.yaml'}:{line}: id 'Attention_Mechanism' is not kebab-case" in problems


def test_duplicate_id_across_files_names_both_places(tmp_path: Path, fixture_faq_text: str) -> None:
    other = "entries:\n" + fixture_faq_text.split("entries:\n", 1)[1].split("  - id: llama")[0]
    for old, new in (("licence terms for open models", "x"), ("can we sell a product built on an open model", "y"),
                     ("tags: [licensing, licence]", "tags: [z]"), ("related: [llama]", "related: []")):
        other = other.replace(old, new)
    problems = _problems(tmp_path, {"a.yaml": fixture_faq_text, "b.yaml": other})
    first = f"{tmp_path / 'faq' / 'a.yaml'}:{_line_of(fixture_faq_text, '- id: licensing')}"
    assert problems == [f"{tmp_path / 'faq' / 'b.yaml'}:2: duplicate id 'licensing' (first at {first})"]


def test_quote_matches_with_whitespace_collapsed(tmp_path: Path, fixture_faq_text: str) -> None:
    text = fixture_faq_text.replace("Meta later released Llama 2", "Meta   later\\n released Llama 2")
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "small.yaml").write_text(text, encoding="utf-8")
    assert load_knowledge(faq, SEEDS)["llama"].sources[0].line_start == 20


@pytest.mark.parametrize("field, value", [("alternates", "who made llama"), ("tags", "llama")])
def test_alternate_or_tag_shared_by_two_entries(tmp_path: Path, fixture_faq_text: str, field: str, value: str) -> None:
    if field == "alternates":
        text = fixture_faq_text.replace("      - how does attention work in neural networks\n",
                                        "      - how does attention work in neural networks\n      - Who made  LLaMA\n")
        needle = "Who made  LLaMA"
    else:
        text = fixture_faq_text.replace("tags: [attention]", "tags: [attention, llama]")
        needle = "tags: [attention, llama]"
    problems = _problems(tmp_path, {"small.yaml": text})
    assert len(problems) == 1
    assert f"small.yaml:{_line_of(text, needle)}: {field[:-1]} " in problems[0]
    assert "is shared with entry 'llama'" in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path, fixture_faq_text: str) -> None:
    text = fixture_faq_text.replace("related: [llama]\n", "related: [nope]\n", 1)
    text = text.replace("doc: 003_672eb0fce39da1cc.txt", "doc: 009_missing.txt")
    problems = _problems(tmp_path, {"small.yaml": text, "empty.yaml": ""})
    assert len(problems) == 3


def test_no_faq_files_is_an_error(tmp_path: Path) -> None:
    assert "no FAQ files" in _problems(tmp_path, {})[0]


def test_a_file_that_does_not_parse_does_not_make_every_link_to_its_entries_an_error(tmp_path: Path,
                                                                                     fixture_faq_text: str) -> None:
    # small.yaml's entries link to each other; move 'attention' into a broken file.
    head, attention = fixture_faq_text.split("  - id: attention", 1)
    broken = "entries:\n  - id: attention" + attention + "\n  - [unclosed\n"
    problems = _problems(tmp_path, {"a.yaml": head, "b.yaml": broken})
    assert not any("related id" in p for p in problems), problems
    (parse,) = [p for p in problems if "b.yaml" in p]
    assert "invalid YAML" in parse and "its entries were skipped" in parse


def test_a_yml_file_and_a_dangling_symlink_are_reported_not_skipped(tmp_path: Path, fixture_faq_text: str) -> None:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "small.yaml").write_text(fixture_faq_text, encoding="utf-8")
    (faq / "more.yml").write_text("entries: []\n", encoding="utf-8")
    (faq / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(faq, SEEDS)
    reasons = sorted(f"{Path(p.file).name}: {p.reason}" for p in info.value.problems)
    assert reasons == ["gone.yaml: not a readable file (a dangling symlink?)",
                       "more.yml: FAQ files end in .yaml: rename it, or it is not read"]


def test_an_empty_or_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=f"no FAQ files \\(\\*.yaml\\) in the folder {tmp_path}"):
        load_knowledge(tmp_path, SEEDS)
    with pytest.raises(KnowledgeError, match="no such folder"):
        load_knowledge(tmp_path / "absent", SEEDS)


def test_the_package_folder_validates_its_faq_folder() -> None:
    assert len(load_knowledge(FIXTURE_FAQ.parent.parent.parent / "knowledge", SEEDS)) >= 32


# ---- anchors and aliases, and how many problems are listed


def test_anchors_and_aliases_are_refused_with_their_lines(tmp_path: Path, fixture_faq_text: str) -> None:
    text = fixture_faq_text.replace("tags: [attention]", "tags: &topics [attention]", 1)
    text = text.replace("related: [llama]\n", "related: *topics\n", 1)
    problems = _problems(tmp_path, {"small.yaml": text})
    path = tmp_path / "faq" / "small.yaml"
    assert problems == [  # in the order of the file, the alias first: refused whether its anchor is known or not
        f"{path}:{_line_of(text, '*topics')}: alias '*topics': anchors and aliases are not allowed in knowledge files "
        "(write the value out); its entries were skipped, so links to them from other files ('related') were not "
        "checked",
        f"{path}:{_line_of(text, '&topics')}: anchor '&topics': anchors and aliases are not allowed in knowledge "
        "files (write the value out)"]


def test_a_file_of_aliases_is_refused_quickly_listing_a_hundred_problems(tmp_path: Path,
                                                                          fixture_faq_text: str) -> None:
    # Each alias repeats a whole entry: 200,000 of them made validate take 42 s and 1.7 GB to list 1.8 million
    # problems (one file; 20,000 here).
    entry = fixture_faq_text.split("entries:\n", 1)[1].split("  - id: llama")[0]
    text = "entries:\n" + entry.replace("  - id: licensing", "  - &e\n    id: licensing", 1) + "  - *e\n" * 20_000
    start = time.perf_counter()
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(_faq_folder(tmp_path, text), SEEDS)
    assert time.perf_counter() - start < 10  # reading 20,000 lines of YAML, once
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == MAX_PROBLEMS + 1 and info.value.total == 20_001
    assert all("anchors and aliases are not allowed" in p for p in problems[:-1])
    assert problems[-1].endswith(": … and 19,901 more problems from here on, not listed")


def test_at_most_a_hundred_problems_are_listed_then_how_many_more_there_were(tmp_path: Path,
                                                                              fixture_faq_text: str) -> None:
    entry = fixture_faq_text.split("entries:\n", 1)[1].split("  - id: llama")[0]
    text = "entries:\n" + entry + "".join(entry.replace("id: licensing", f"id: copy-{n}")
                                          .replace("question: Can we use open LLMs", f"question: Can we use {n} LLMs")
                                          .replace("tags: [licensing, licence]", f"tags: [t{n}]")
                                          .replace("licence terms for open models", f"x{n}")
                                          .replace("can we sell a product built on an open model", f"y{n}")
                                          .replace("related: [llama]", "related: [missing]") for n in range(150))
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(_faq_folder(tmp_path, text), SEEDS)
    assert info.value.total == 151 and len(info.value.problems) == MAX_PROBLEMS + 1  # and the first's link
    assert str(info.value.problems[-1]).endswith(": … and 51 more problems from here on, not listed")
    assert str(info.value).count("\n") == MAX_PROBLEMS


@pytest.mark.parametrize("key, shown", [("? [id, question]\n    : x\n", "a list"), ("? {a: b}\n    : x\n", "a mapping"),
                                        ("5: x\n", "int 5")])
def test_a_key_that_is_not_text_is_named_for_what_it_is(tmp_path: Path, fixture_faq_text: str, key: str,
                                                        shown: str) -> None:
    text = fixture_faq_text.replace("  - id: attention\n", "  - id: attention\n    " + key, 1)
    problems = _problems(tmp_path, {"small.yaml": text})
    assert problems == [f"{tmp_path / 'faq' / 'small.yaml'}:{_line_of(text, '- id: attention') + 1}: a key in an "
                        f"entry must be text, not {shown}"]


def _faq_folder(tmp_path: Path, text: str) -> Path:
    faq = tmp_path / "faq"
    faq.mkdir()
    (faq / "big.yaml").write_text(text, encoding="utf-8")
    return faq
