"""Scoring a matcher against an evaluation set (the format of shared/eval/dev.yaml)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..result import MatchResult


@dataclass(frozen=True)
class Case:
    q: str
    expect: tuple[str, ...]
    kind: str


class EvalSetError(ValueError):
    """An evaluation file that cannot be read: the message names the file (and line)."""


def load_cases(path: Path | str) -> list[Case]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise EvalSetError(f"{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, list):
        raise EvalSetError(f"{path}: expected a list of cases (each with q, expect and kind)")
    cases = []
    for n, c in enumerate(data, 1):
        if not isinstance(c, dict) or not isinstance(c.get("q"), str):
            raise EvalSetError(f"{path}: case {n} has no question ('q')")
        expect = c.get("expect") or ()
        if not isinstance(expect, list | tuple) or not all(isinstance(e, str) for e in expect):
            raise EvalSetError(f"{path}: case {n}: 'expect' must be a list of entry ids")
        cases.append(Case(c["q"], tuple(expect), str(c.get("kind", "?"))))
    return cases


@dataclass
class Tally:
    """Counts for one group of cases."""

    in_scope: int = 0
    correct: int = 0
    rescued: int = 0
    wrong: int = 0
    missed: int = 0
    out_of_scope: int = 0
    oos_answered: int = 0
    oos_declined: int = 0
    two_things: int = 0  # in-scope questions that expect two entries or more (a comparison, two questions)
    both: int = 0  # of those, answered with two entries, both expected
    failures: list[str] = field(default_factory=list)
    halves: list[str] = field(default_factory=list)  # questions expecting two entries not answered with both

    @property
    def cases(self) -> int:
        return self.in_scope + self.out_of_scope

    def add(self, case: Case, result: MatchResult) -> None:
        suggested = [c.id for c in result.candidates[:3]]
        if case.expect:
            self.in_scope += 1
            if len(case.expect) > 1:
                self.two_things += 1
                both = len(result.answered) == 2 and set(result.answered) <= set(case.expect)
                self.both += int(both)
                if not both and set(result.answered) & set(case.expect):
                    self.halves.append(f"[{case.kind}] {case.q!r}: expected {list(case.expect)}, got "
                                       f"{'+'.join(result.answered)}")
            if set(result.answered) & set(case.expect):  # a second entry besides the right one does no harm
                self.correct += 1
                return
            if result.status == "answer":
                self.wrong += 1
                outcome = f"WRONG {'+'.join(result.answered)}"
            elif result.status == "suggest" and set(suggested) & set(case.expect):
                self.rescued += 1
                outcome = f"rescued {suggested}"
            else:
                self.missed += 1
                outcome = f"{result.status} {suggested}"
            self.failures.append(f"[{case.kind}] {case.q!r}: expected {list(case.expect)}, got {outcome}")
        else:
            self.out_of_scope += 1
            if result.status == "answer":
                self.oos_answered += 1
                self.failures.append(f"[{case.kind}] {case.q!r}: out of scope, ANSWERED {result.id}")
            else:
                self.oos_declined += 1

    @property
    def combined(self) -> float:
        """(correct + 0.5 x rescues - 2 x wrong - 2 x out-of-scope answers) / cases."""
        if not self.cases:
            return 0.0
        return (self.correct + 0.5 * self.rescued - 2 * self.wrong - 2 * self.oos_answered) / self.cases


def evaluate(cases: Iterable[Case], ask: Callable[[str], MatchResult]) -> dict[str, Tally]:
    """Tallies overall (key 'all') and per kind, in the order kinds first appear."""
    tallies: dict[str, Tally] = {"all": Tally()}
    for case in cases:
        result = ask(case.q)
        tallies["all"].add(case, result)
        tallies.setdefault(case.kind, Tally()).add(case, result)
    return tallies


def evaluate_results(cases: Sequence[Case], results: Sequence[MatchResult]) -> dict[str, Tally]:
    """As `evaluate`, for results already decided (out of fold)."""
    by_question = iter(results)
    return evaluate(cases, lambda _: next(by_question))


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def format_report(tallies: dict[str, Tally], show_failures: bool = True) -> str:
    header = (f"{'kind':<11}{'cases':>6}{'answer acc':>12}{'rescues':>9}{'wrong':>8}"
              f"{'oos false':>11}{'oos declined':>14}{'combined':>10}")
    lines = [header, "-" * len(header)]
    for kind, t in tallies.items():
        lines.append(
            f"{kind:<11}{t.cases:>6}{_pct(t.correct, t.in_scope):>12}{t.rescued:>9}"
            f"{_pct(t.wrong, t.in_scope):>8}{_pct(t.oos_answered, t.out_of_scope):>11}"
            f"{_pct(t.oos_declined, t.out_of_scope):>14}{t.combined:>10.3f}"
        )
    overall = tallies["all"]
    lines.append("")
    lines.append(f"in scope {overall.in_scope}: {overall.correct} correct, {overall.rescued} rescued by a "
                 f"suggestion, {overall.wrong} wrong, {overall.missed} missed; out of scope "
                 f"{overall.out_of_scope}: {overall.oos_answered} answered, {overall.oos_declined} declined")
    if overall.two_things:
        by_kind = [f"{kind} {t.both} of {t.two_things}" for kind, t in tallies.items()
                   if kind != "all" and t.two_things]
        lines.append(f"questions expecting two entries: {overall.both} of {overall.two_things} answered with both"
                     + (f" ({', '.join(by_kind)})" if len(by_kind) > 1 else ""))
    if show_failures and overall.failures:
        lines.append("")
        lines.append("not answered correctly:")
        lines.extend("  " + f for f in overall.failures)
    if show_failures and overall.halves:
        lines.append("")
        lines.append("answered with one of the two entries expected (correct, but not both):")
        lines.extend("  " + f for f in overall.halves)
    return "\n".join(lines)
