"""The learned matcher's data files are validated like the FAQ: file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ, SEEDS

from knowledge import KnowledgeError, load_knowledge
from knowledge.content.phrasings import load_out_of_scope
from knowledge.decision.asks import load_asks
from knowledge.decision.decide import POLICY_FILE, dump_policy, load_policy

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
    assert problem.startswith(f"{path}:2: kind 'number': bad pattern 'how (many'")


def test_the_shipped_policy_round_trips(tmp_path: Path) -> None:
    policy = load_policy()
    path = tmp_path / "policy.yaml"
    path.write_text(dump_policy(policy), encoding="utf-8")
    again = load_policy(path)
    assert (again.answer, again.suggest, again.rank.features) == (policy.answer, policy.suggest, policy.rank.features)


def test_a_policy_for_other_signals_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_FILE.read_text(encoding="utf-8").replace("lexical_gap:", "renamed_signal:"),
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
