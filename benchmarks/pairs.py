"""What answering questions about two things, and checking the model versions they name, costs per question.

Run from the repository root: `.venv/bin/python benchmarks/pairs.py [--repeat N]`. `KnowledgeBase.ask` over every
question of eval/ (labelled and blind: real-world styles, not the FAQ's own phrasings), one thread, after a warm-up
pass, with the shipped matcher and with the same matcher with splitting and the version check off, alternately in
the same run (absolute times on this shared machine swing 2x), each question matched afresh. Prints medians and p99
(nearest rank) of CPU time, for all questions and for those with a joining word (which may be split)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency import percentile  # noqa: E402

from knowledge import KnowledgeBase  # noqa: E402
from knowledge.decision.evaluation import load_cases  # noqa: E402
from knowledge.decision.names import Versions  # noqa: E402
from knowledge.decision.pairs import splits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the questions")
    args = parser.parse_args()
    kb = KnowledgeBase.load()
    matcher = kb.matcher
    skipped = {"follow_ups", "sealed"}  # not questions of their own; a blind set not run yet
    questions = [c.q for path in sorted((ROOT / "eval").rglob("*.yaml")) if not skipped & set(path.parts)
                 for c in load_cases(path)]
    split = {q for q in questions if splits(matcher.signals(q).query, matcher.joins)}
    shipped = (matcher.joins, matcher.versions)
    without = (replace(matcher.joins, max_splits=0), Versions({}))
    times: dict[str, dict[str, list[float]]] = {"shipped": {}, "without": {}}
    for q in questions:  # warm-up: the embedding cache of phrasings, the tokenizer, the lexical index
        kb.ask(q)
    for _ in range(args.repeat):
        for q in questions:
            for name, (joins, versions) in (("without", without), ("shipped", shipped)):
                matcher.joins, matcher.versions = joins, versions
                matcher.forget()  # each question matched afresh
                started = time.process_time()
                kb.ask(q)
                times[name].setdefault(q, []).append(1000 * (time.process_time() - started))
    matcher.joins, matcher.versions = shipped
    print(f"{len(questions)} questions from eval/, {len(split)} of them with a joining word; "
          f"{args.repeat} passes, CPU ms per question (median, p99):")
    for label, chosen in (("all questions", questions), ("split ones", sorted(split))):
        for name in ("without", "shipped"):
            values = [min(times[name][q]) for q in chosen]
            print(f"  {label:<14} {name:<8} median {statistics.median(values):6.2f}  p99 {percentile(values, 99):6.2f}")


if __name__ == "__main__":
    main()
