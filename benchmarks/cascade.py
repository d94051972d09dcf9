"""What the cascade changes in quality: nothing, if it does its job. Both ways in one run, on the same data.

Run from the repository root: `.venv/bin/python benchmarks/cascade.py [--folds N]`. Needs nothing beyond the
project's own dependencies; about two minutes on a 2-core machine.

* out of fold: the calibration `openllm-bot calibrate` runs (every labelled question decided by a policy fitted
  without it, its cascade too), once without the cascade and once with it: answered correctly, wrong, out-of-scope
  answered, per set and overall, each question that changed, and how many the first stage decided;
* the whole matcher (`KnowledgeBase.ask`: with questions about two things and the version check) on the blind sets
  and the labelled sets, with the policy fitted on the labelled sets and the same policy without its cascade: the
  same figures, questions answered with both entries, and each question whose reply changed. The labelled sets are
  in-sample here (the policy was fitted on them): only the difference between the two counts.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge import KnowledgeBase  # noqa: E402
from knowledge.content.loader import load_knowledge  # noqa: E402
from knowledge.decision.calibration import Calibration, calibrate, labelled_sets, neutral_policy  # noqa: E402
from knowledge.decision.evaluation import Tally, load_cases  # noqa: E402
from knowledge.decision.hybrid import HybridMatcher  # noqa: E402
from knowledge.result import MatchResult  # noqa: E402

BLIND = ROOT / "eval" / "blind"


def row(name: str, tally: Tally) -> str:
    return (f"  {name:<16} {tally.correct:>4}/{tally.in_scope:<4} {tally.rescued:>7} {tally.wrong:>6} "
            f"{tally.oos_answered:>4}/{tally.out_of_scope:<4} {tally.both:>4}/{tally.two_things:<4}")


HEADER = f"  {'set':<16} {'correct':>9} {'rescued':>7} {'wrong':>6} {'oos answered':>12} {'both':>9}"


def outcome(result: MatchResult) -> str:
    if result.status == "answer":
        return "answer " + "+".join(result.answered)
    if result.status == "suggest":
        return "suggest " + ",".join(c.id for c in result.candidates) + (f" ({result.unsaid})" if result.unsaid else "")
    return "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()
    sets = labelled_sets()
    matcher = HybridMatcher(load_knowledge(), policy=neutral_policy())
    print(f"labelled sets: {', '.join(p.name for p in sets)}")

    runs: dict[bool, Calibration] = {}
    for cascade in (False, True):
        start = time.perf_counter()
        runs[cascade] = calibrate(matcher, sets, folds=args.folds, cascade=cascade)
        print(f"calibrated {'with' if cascade else 'without'} the cascade in {time.perf_counter() - start:.0f} s")
    print("\nout of fold (`openllm-bot calibrate`'s figures), without the cascade, then with it")
    print(HEADER)
    for cascade, run in runs.items():
        print(f" {'with' if cascade else 'without'} the cascade")
        for name, tally in run.tallies().items():
            print(row(name, tally))
    first = runs[True].quickly
    print(f"  decided by the first stage (without the embedding model), out of fold: {sum(first)} of {len(first)} "
          f"({sum(first) / len(first):.0%})")
    changed = [(case, a, b) for (_, case), a, b in zip(runs[False].cases, runs[False].out_of_fold,
                                                        runs[True].out_of_fold, strict=True)
               if outcome(a) != outcome(b)]
    print(f"  questions decided differently: {len(changed)}")
    for case, a, b in changed:
        print(f"    {case.q[:80]!r} (expects {', '.join(case.expect) or 'out of scope'}): {outcome(a)} -> {outcome(b)}")

    policy = runs[True].policy
    first_stage = policy.cascade
    print(f"\npolicy fitted on all of them: answer at p >= {policy.answer:.2f}, suggest at p >= {policy.suggest:.2f}; "
          f"first stage answers at p >= {first_stage.answer if first_stage else '-'}")
    print("\nthe whole matcher (with pairs and the version check), the policy without its cascade, then with it")
    kbs = {False: KnowledgeBase.load(policy=replace(policy, cascade=None)), True: KnowledgeBase.load(policy=policy)}
    files = [*sorted(BLIND.glob("*.yaml")), *sets]
    tallies: dict[bool, dict[str, Tally]] = {False: {}, True: {}}
    differences: list[tuple[str, str, str, str]] = []
    for path in files:
        cases = load_cases(path)
        results = {cascade: [kb.ask(c.q) for c in cases] for cascade, kb in kbs.items()}
        for cascade in kbs:
            tally = tallies[cascade].setdefault(path.name, Tally())
            for case, result in zip(cases, results[cascade], strict=True):
                tally.add(case, result)
        differences += [(path.name, c.q, outcome(a), outcome(b)) for c, a, b in zip(cases, results[False],
                                                                                     results[True], strict=True)
                        if outcome(a) != outcome(b)]
    print(HEADER)
    for cascade in kbs:
        print(f" {'with' if cascade else 'without'} the cascade")
        for name, tally in tallies[cascade].items():
            print(row(name + ("" if (BLIND / name).exists() else " (in-sample)"), tally))
    print(f"  replies that differ: {len(differences)}")
    for name, q, before, after in differences:
        print(f"    {name}: {q[:80]!r}: {before} -> {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
