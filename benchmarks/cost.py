"""What the learned matcher costs on this machine: per question, at start-up, on a reload, in memory.

Run from the repository root: `.venv/bin/python benchmarks/cost.py [--repeat N] [--runs N]`.
Needs nothing beyond the project's own dependencies. Prints medians and p99 (nearest rank).

* per question: `KnowledgeBase.ask` (the hybrid matcher: embedding, classifier, lexical signals,
  decision) over the labelled and blind sets' questions, one thread, after a warm-up pass; the
  lexical matcher alone (`Matcher.ranked`, the previous matcher) and the embedding alone timed
  in the same run as the baseline, since absolute times on this shared machine swing 2x;
* cold `openllm-bot ask "…"`: wall time of the whole process, phrasing embeddings cached on disk
  (the state after the first start on a machine), and once with an empty cache;
* reload: building the matcher again after one alternate changed (what a reload does: only the
  changed phrasing is embedded, the classifier is retrained);
* memory: peak RSS of `openllm-bot ask` (a process that has loaded everything `serve` loads for
  matching; `benchmarks/load.py` reports the RSS of a serving process under load);
* with `--entries N`: the generated FAQ of latency.py (N entries, about 11 phrasings each), matched
  by the "nearest" classifier (above 2,000 entries no SVM is trained): the build with every phrasing's
  embedding cached (the first run embeds them all and caches them: minutes at 10,000 entries), and
  per-question times on latency.py's generated questions.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency import percentile  # noqa: E402

from knowledge import KnowledgeBase  # noqa: E402
from knowledge.content.model import Knowledge  # noqa: E402
from knowledge.decision.calibration import labelled_sets  # noqa: E402
from knowledge.decision.decide import Policy  # noqa: E402
from knowledge.decision.embedding import Embedder  # noqa: E402
from knowledge.decision.evaluation import load_cases  # noqa: E402
from knowledge.decision.hybrid import HybridMatcher, _built  # noqa: E402
from knowledge.matching.normalize import normalize  # noqa: E402

TARGET_P99_MS = 10.0
TARGET_COLD_ASK_S = 3.0
TARGET_RELOAD_S = 5.0
TARGET_RSS_MIB = 400.0
TARGET_LARGE_BUILD_S = 60.0
TARGET_LARGE_P99_MS = 25.0


def per_call_ms(call: Callable[[str], object], questions: Sequence[str], repeat: int) -> list[float]:
    for q in questions:  # warm-up
        call(q)
    times = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter_ns()
            call(q)
            times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def line(name: str, times: Sequence[float]) -> str:
    return (f"  {name:<42} n={len(times):>6}  median {statistics.median(times):7.3f}  "
            f"p99 {percentile(times, 99):7.3f}  max {max(times):7.3f} ms")


def cold_ask(cache_dir: str | None, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and peak RSS (MiB) of `openllm-bot ask` processes. The peak is the child's own VmHWM,
    read from /proc while it runs: a child's ru_maxrss would count this big process's pages it was
    forked from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    if cache_dir is not None:
        env["EMBEDDING_CACHE_DIR"] = cache_dir
    walls, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        child = subprocess.Popen([str(ROOT / ".venv" / "bin" / "openllm-bot"), "ask", "can we use llama commercially?"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        peak = 0.0
        while child.poll() is None:
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
                peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) / 1024)
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.005)
        walls.append(time.perf_counter() - start)
        rss.append(peak)
    return walls, rss


def large_faq(entries: int, embedder: Embedder, policy: Policy) -> list[tuple[str, float, float, str]]:
    from latency import SEED, Generator

    del policy  # a FAQ this large is matched with the "nearest" classifier's own policy
    generator = Generator(SEED, 5000)
    knowledge = generator.faq(entries)
    queries = [q for qs in generator.queries(knowledge, 600).values() for q in qs]
    print(f"\ngenerated FAQ: {entries:,} entries (latency.py's generator, seed {SEED}), {len(queries)} questions")
    start = time.perf_counter()
    HybridMatcher(knowledge, embedder=embedder)  # embeds what the cache lacks
    first = time.perf_counter() - start
    _built.clear()  # the next builds must not reuse this one
    builds = []
    for _ in range(2):
        _built.clear()
        start = time.perf_counter()
        big = HybridMatcher(knowledge, embedder=embedder)
        builds.append(time.perf_counter() - start)
    print(f"  classifier: {big.classifier.kind}; first build {first:.1f} s (phrasings not yet cached are embedded); "
          f"with embeddings cached {', '.join(f'{b:.1f}' for b in builds)} s; RSS {rss_mib():.0f} MiB")
    times = per_call_ms(big.match, queries, 2)
    print(line("generated questions", times))
    return [("10k: build with embeddings cached, median", statistics.median(builds), TARGET_LARGE_BUILD_S, "s"),
            ("10k: per-question p99", percentile(times, 99), TARGET_LARGE_P99_MS, "ms")]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over the questions")
    parser.add_argument("--runs", type=int, default=5, help="cold `openllm-bot ask` processes")
    parser.add_argument("--entries", type=int, default=0, help="also a generated FAQ of this many entries")
    args = parser.parse_args()

    sets = [*labelled_sets(), *sorted((ROOT / "eval" / "blind").glob("*.yaml"))]
    questions = list(dict.fromkeys(c.q for path in sets for c in load_cases(path)))
    kb = KnowledgeBase.load()
    matcher = kb.matcher
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {len(kb.knowledge)} entries, "
          f"{len(matcher.phrasings)} training phrasings; {len(questions)} distinct questions from "
          f"{len(sets)} sets; times in ms\n")

    print("per question (one thread)")
    ours = per_call_ms(kb.ask, questions, args.repeat)
    print(line("hybrid matcher (KnowledgeBase.ask)", ours))
    embed = per_call_ms(lambda q: matcher.embedder.embed([normalize(q)]), questions, args.repeat)
    print(line("  of which the embedding alone", embed))
    lexical = per_call_ms(matcher.lexical.ranked, questions, args.repeat)
    print(line("baseline: lexical matcher alone", lexical))
    long = [q for q in questions if len(q) > 200]
    print(line(f"hybrid, messages over 200 characters ({len(long)})", per_call_ms(kb.ask, long, args.repeat)))
    ratio = statistics.median(ours) / statistics.median(lexical)
    print(f"  the hybrid costs {ratio:.0f}x the lexical matcher at the median (same run)")

    print("\nbuild and reload (in process, embeddings cached)")
    builds = []
    for n in range(3):
        entry = kb.knowledge.entries[0]
        changed = replace(entry, alternates=(*entry.alternates, f"reload probe {n} {time.time_ns()}"))
        knowledge = Knowledge((changed, *kb.knowledge.entries[1:]), kb.knowledge.documents)
        start = time.perf_counter()
        HybridMatcher(knowledge, policy=matcher.policy, embedder=matcher.embedder)
        builds.append(time.perf_counter() - start)
    print(f"  rebuild after one alternate changed: {', '.join(f'{b:.2f}' for b in builds)} s "
          f"(median {statistics.median(builds):.2f} s)")

    print("\ncold `openllm-bot ask` (a new process)")
    walls, rss = cold_ask(None, args.runs)
    print(f"  embeddings cached on disk: {', '.join(f'{w:.2f}' for w in walls)} s (median "
          f"{statistics.median(walls):.2f} s); peak RSS {max(rss):.0f} MiB (the process's VmHWM)")
    with tempfile.TemporaryDirectory() as empty:
        cold_walls, _ = cold_ask(empty, 1)
    print(f"  empty cache (first start on a machine: every phrasing embedded): {cold_walls[0]:.2f} s")

    large: list[tuple[str, float, float, str]] = []
    if args.entries:
        large = large_faq(args.entries, matcher.embedder, matcher.policy)

    print("\ntargets")
    checks = [*large,
        ("per-question p99, one thread", percentile(ours, 99), TARGET_P99_MS, "ms"),
        ("cold `openllm-bot ask`, median", statistics.median(walls), TARGET_COLD_ASK_S, "s"),
        ("reload that retrains, median", statistics.median(builds), TARGET_RELOAD_S, "s"),
        ("peak RSS of a process that matches", max(rss), TARGET_RSS_MIB, "MiB"),
    ]
    for name, value, target, unit in checks:
        print(f"  {'met   ' if value <= target else 'MISSED'} {name:<40} {value:8.2f} {unit}  (target <= {target:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
