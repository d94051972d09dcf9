"""The quality gate: every evaluation set does at least as well as docs/quality.md says.

The labelled sets are measured out of fold (each question decided by a policy fitted without it,
as `openllm-bot calibrate` prints); blind sets (eval/blind/) with the shipped policy, never fitted
on them. The table between the quality-gate markers in docs/quality.md holds the figures."""

from __future__ import annotations

import re

import pytest
import yaml
from repo_paths import ROOT

from knowledge import KnowledgeBase
from knowledge.decision.calibration import Calibration, calibrate, labelled_sets, neutral_policy
from knowledge.decision.evaluation import Tally, evaluate, load_cases

DOC = ROOT / "docs" / "quality.md"  # where the gates' tables are
_TABLE = re.compile(r"<!-- quality-gate.*?-->(.*?)<!-- /quality-gate -->", re.S)
_ROW = re.compile(r"^\| `?([\w./-]+)`? \| (out of fold|shipped policy) \| (\d+) \| ([\d.]+)% \| ([\d.]+)% "
                  r"\| (\d+)/(\d+) \|", re.M)


def _gate() -> dict[str, tuple[str, int, float, float, int, int]]:
    table = _TABLE.search(DOC.read_text(encoding="utf-8"))
    assert table, f"{DOC.relative_to(ROOT)} has no quality-gate table"
    rows = {m[1]: (m[2], int(m[3]), float(m[4]), float(m[5]), int(m[6]), int(m[7])) for m in _ROW.finditer(table[1])}
    assert rows, "the quality-gate table has no rows"
    return rows


GATE = _gate()


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    kb = KnowledgeBase.load(policy=neutral_policy())
    return calibrate(kb.matcher, labelled_sets())


def _holds(name: str, tally: Tally) -> None:
    _, cases, accuracy, wrong, oos_answered, oos = GATE[name]
    assert tally.cases == cases, f"{name}: {tally.cases} questions, {DOC.name} says {cases}"
    assert round(100 * tally.correct / tally.in_scope, 1) >= accuracy, f"{name}: accuracy fell below {accuracy}%"
    assert round(100 * tally.wrong / tally.in_scope, 1) <= wrong, f"{name}: more than {wrong}% wrong"
    assert tally.oos_answered <= oos_answered, f"{name}: more than {oos_answered} of {oos} out of scope answered"


def test_every_labelled_set_is_in_the_gate() -> None:
    names = {p.name for p in labelled_sets()} | {p.name for p in (ROOT / "eval" / "blind").glob("*.yaml")}
    assert names <= set(GATE), f"not in {DOC.name}'s quality table: {sorted(names - set(GATE))}"


@pytest.mark.parametrize("name", [n for n, row in GATE.items() if row[0] == "out of fold"])
def test_labelled_sets_out_of_fold(calibration: Calibration, name: str) -> None:
    tallies = calibration.tallies()
    if name not in tallies:
        pytest.skip(f"{name} is not here (../shared/eval/dev.yaml lives beside the repository)")
    _holds(name, tallies[name])


@pytest.mark.parametrize("name", [n for n, row in GATE.items() if row[0] == "shipped policy"])
def test_blind_sets_with_the_shipped_policy(name: str) -> None:
    kb = KnowledgeBase.load()
    _holds(name, evaluate(load_cases(ROOT / "eval" / "blind" / name), kb.ask)["all"])


_FOLLOW_UP_TABLE = re.compile(r"<!-- follow-up-gate.*?-->(.*?)<!-- /follow-up-gate -->", re.S)
_FOLLOW_UP_ROW = re.compile(r"^\| `([\w./-]+)` \| (\d+) \| ([\d.]+)% \| (\d+)/(\d+) \| (\d+)/(\d+) \| (\d+)/(\d+) \|",
                            re.M)


def test_thread_replies_are_told_apart_at_least_as_well_as_the_readme_says() -> None:
    from bot.follow_ups import KINDS, confusion, shipped_vocabulary

    table = _FOLLOW_UP_TABLE.search(DOC.read_text(encoding="utf-8"))
    assert table, f"{DOC.relative_to(ROOT)} has no follow-up-gate table"
    rows = _FOLLOW_UP_ROW.findall(table[1])
    assert rows, "the follow-up-gate table has no rows"
    for name, replies, right, unanswered, asks, talked, others, stops_seen, stops in rows:
        cases = yaml.safe_load((ROOT / "eval" / name).read_text(encoding="utf-8"))
        counts = confusion(((c["thread"], c["reply"], c["kind"]) for c in cases), "UBOT1234", shipped_vocabulary())
        assert len(cases) == int(replies)
        assert round(100 * sum(counts[k, k] for k in KINDS) / len(cases), 1) >= float(right)
        assert counts["ask", "ignore"] <= int(unanswered) and sum(counts["ask", k] for k in KINDS) == int(asks)
        assert counts["ignore", "ask"] + counts["stop", "ask"] <= int(talked)
        assert counts["stop", "stop"] >= int(stops_seen) and sum(counts["stop", k] for k in KINDS) == int(stops)
        assert sum(counts[k, g] for k in ("ignore", "stop") for g in KINDS) == int(others)
