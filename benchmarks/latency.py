"""Per-query latency of the matcher on the shipped FAQ and on a generated FAQ of 10,000 entries.

Run from the repository root: `.venv/bin/python benchmarks/latency.py [--dev PATH] [--entries N]`.
Prints medians and p99 (milliseconds), index build time and peak memory.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge import Entry, Knowledge, KnowledgeBase, Matcher  # noqa: E402
from knowledge.evaluation import load_cases  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def time_queries(matcher: Matcher, queries: list[str], repeat: int) -> list[float]:
    """Milliseconds per call of `match`, each query `repeat` times."""
    out = []
    for _ in range(repeat):
        for q in queries:
            start = time.perf_counter_ns()
            matcher.match(q)
            out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def report(name: str, values: list[float]) -> None:
    print(f"  {name:<44} n={len(values):>6}  median {statistics.median(values):7.3f} ms  "
          f"p99 {percentile(values, 99):7.3f} ms  max {max(values):7.3f} ms")


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Words of the seed documents plus synthetic ones, with Zipf-like weights."""
    words = sorted({w.lower() for p in (ROOT / "seeds").glob("*.txt")
                    for w in re.findall(r"[A-Za-z]{3,}", p.read_text("utf-8"))})
    words += [f"{rng.choice('bcdfghklmnprstvz')}{rng.choice('aeiou')}{rng.choice('bcdfgklmnprst')}"
              f"{rng.choice('aeiou')}{rng.choice('nrstlx')}{i}" for i in range(3000)]
    rng.shuffle(words)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(words))]
    return words, weights


def generated_faq(n: int, rng: random.Random) -> tuple[Knowledge, list[str]]:
    """`n` synthetic entries (question, ~10 alternates, tags, answer) and queries made from them."""
    words, weights = vocabulary(rng)

    def phrase(lo: int, hi: int) -> str:
        return " ".join(rng.choices(words, weights, k=rng.randint(lo, hi)))

    entries, queries = [], []
    for i in range(n):
        alternates = tuple(f"{phrase(3, 9)} {i}" for _ in range(10))
        entries.append(Entry(f"entry-{i}", phrase(5, 12) + "?", alternates, (f"topic{i}",),
                             phrase(40, 100), (), ()))
        if i % 20 == 0:
            words_of = alternates[0].split()
            typo = [w[:2] + w[3:2:-1] + w[2] + w[4:] if len(w) > 5 and rng.random() < 0.3 else w for w in words_of]
            queries.append("hey can you tell me " + " ".join(typo) + " " + phrase(1, 4) + "?")
    return Knowledge(entries=tuple(entries), documents={}), queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", default=str(ROOT.parent / "shared" / "eval" / "dev.yaml"))
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the traced build")
    args = parser.parse_args()

    dev = [c.q for c in load_cases(args.dev)]
    print("shipped FAQ")
    start = time.perf_counter()
    kb = KnowledgeBase.load()
    print(f"  load, validate and index: {1000 * (time.perf_counter() - start):.0f} ms, {len(kb.knowledge)} entries")
    report("dev questions, first call (cold caches)", time_queries(kb.matcher, dev, 1))
    report(f"dev questions x{args.repeat} (warm)", time_queries(kb.matcher, dev, args.repeat))

    rng = random.Random(20261122)
    knowledge, generated = generated_faq(args.entries, rng)
    print(f"generated FAQ: {args.entries} entries, {sum(len(e.alternates) + 1 for e in knowledge.entries)} phrasings")
    start = time.perf_counter()
    big = Matcher(knowledge)
    print(f"  index build: {time.perf_counter() - start:.2f} s")
    if args.memory:
        # A second build under tracemalloc, which slows Python down several times: memory only.
        tracemalloc.start()
        Matcher(knowledge)
        print(f"  peak traced memory during a build: {tracemalloc.get_traced_memory()[1] / 2**20:.0f} MiB")
        tracemalloc.stop()
    report("generated questions, first call (cold)", time_queries(big, generated, 1))
    report("generated questions x3 (warm)", time_queries(big, generated, 3))
    report("dev questions (mostly out of its scope)", time_queries(big, dev, 3))
    print(f"  process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
