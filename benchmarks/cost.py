"""What matching costs on this machine: per question, a question asked again, at start-up, on a reload, in memory,
each against the matcher before the cascade measured in the same run.

Run from the repository root: `.venv/bin/python benchmarks/cost.py [--rounds N] [--repeat N] [--runs N]`.
Needs nothing beyond the project's own dependencies. Prints medians and p99 (nearest rank).

* per question: `KnowledgeBase.ask` over questions people wrote (the texts of eval/blind/blind1.yaml and
  blind2.yaml, never their labels; not the FAQ's own phrasings), CPU time of the thread (the machine is shared:
  wall time swings with the other processes, CPU time much less), one thread, after a warm-up pass, each question
  matched afresh (the results and embeddings a matcher keeps are cleared before each). `baseline` is the matcher at
  git revision `--baseline` (benchmarks/trees.py: before the cascade), `ours` this working tree (with the policy
  `openllm-bot calibrate` fits while the shipped one has no cascade yet); each a process of its own, taking turns
  for `--rounds` rounds. Then, in this process, where ours spends it: the questions its first stage decides (no
  embedding model) and the others, the embedding alone, the lexical matcher alone;
* a question asked again: five of those questions asked 100 times each, both matchers;
* cold `openllm-bot ask`: wall and CPU time of the whole process, both matchers taking turns, phrasing embeddings
  (and, for ours, the trained classifier) kept on disk (the state after the first start on a machine), and once
  each with an empty cache folder; the peak RSS;
* reload: building the matcher again after one alternate changed (what a reload does: only the changed phrasing is
  embedded, the classifier is retrained);
* with `--entries N`: the generated FAQ of latency.py (N entries, about 11 phrasings each), matched by the
  "nearest" classifier (above 2,000 entries no SVM is trained): the build with every phrasing's embedding cached
  (the first run embeds them all and caches them: minutes at 10,000 entries), and per-question times on
  latency.py's generated questions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency import percentile  # noqa: E402
from trees import BASELINE, exported, ours, recorded_policy  # noqa: E402

from knowledge import KnowledgeBase  # noqa: E402
from knowledge.content.model import Knowledge  # noqa: E402
from knowledge.decision.decide import Policy, decide_quickly, load_policy  # noqa: E402
from knowledge.decision.embedding import Embedder  # noqa: E402
from knowledge.decision.evaluation import load_cases  # noqa: E402
from knowledge.decision.hybrid import HybridMatcher, _built  # noqa: E402
from knowledge.matching.normalize import clip_question, normalize  # noqa: E402

TARGET_MEDIAN_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_COLD_ASK_S = 3.0
TARGET_RELOAD_S = 5.0
TARGET_RSS_MIB = 400.0
TARGET_LARGE_BUILD_S = 60.0
TARGET_LARGE_P99_MS = 25.0
PEOPLE = (ROOT / "eval" / "blind" / "blind1.yaml", ROOT / "eval" / "blind" / "blind2.yaml")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "openllm-bot"  # as the bot's default
ASKED = "can we use llama commercially?"

# Run by each matcher's own process, in its tree: only `KnowledgeBase.load` and `ask`, which both have.
WORKER = """
import json, sys, time
from pathlib import Path
from knowledge import KnowledgeBase
job = json.load(sys.stdin)
kb = KnowledgeBase.load(embedding_cache=Path(job["cache"]))
# Each question matched afresh: what a matcher keeps of the questions it matched is dropped (ours: `forget`, its
# results and the embeddings it ran the model on; an older tree kept only results, in `_cache`, or nothing).
kept = getattr(kb.matcher, "forget", None) or getattr(getattr(kb.matcher, "_cache", None), "clear", None)
def forget():
    if kept is not None and job["afresh"]:
        kept()
for q in job["questions"]:
    kb.ask(q)
    forget()
cpu, wall = [], []
for _ in range(job["repeat"]):
    for q in job["questions"]:
        forget()
        c, w = time.thread_time_ns(), time.perf_counter_ns()
        kb.ask(q)
        cpu.append((time.thread_time_ns() - c) / 1e6)
        wall.append((time.perf_counter_ns() - w) / 1e6)
print(json.dumps({"cpu": cpu, "wall": wall}))
"""


def questions() -> list[str]:
    """The texts of the blind sets people wrote, each once."""
    return list(dict.fromkeys(c.q for path in PEOPLE for c in load_cases(path)))


def timed_in(folder: Path, asked: Sequence[str], repeat: int, afresh: bool = True) -> dict[str, list[float]]:
    """Per-question CPU and wall times (ms) of `ask` in a process running the code in `folder`."""
    job = json.dumps({"questions": list(asked), "repeat": repeat, "afresh": afresh, "cache": str(CACHE)})
    done = subprocess.run([sys.executable, "-c", WORKER], input=job, capture_output=True, text=True, cwd=folder,
                          env=_env(), check=False)
    if done.returncode:
        raise SystemExit(f"cost: the matcher in {folder} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout)


def _env(cache: Path | None = CACHE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_", "KNOWLEDGE_", "PYTHON"))}
    env["EMBEDDING_CACHE_DIR"] = str(cache) if cache is not None else ""
    env["DOTENV_PATH"] = os.devnull
    return env


def per_call_ms(call: Callable[[str], object], asked: Sequence[str], repeat: int,
                before: Callable[[], None] = lambda: None) -> list[float]:
    """CPU time of the thread per call, after a warm-up pass; `before` runs (untimed) before each call."""
    for q in asked:
        before()
        call(q)
    times = []
    for _ in range(repeat):
        for q in asked:
            before()
            start = time.thread_time_ns()
            call(q)
            times.append((time.thread_time_ns() - start) / 1e6)
    return times


def line(name: str, times: Sequence[float]) -> str:
    if not times:
        return f"  {name:<46} n=     0"
    return (f"  {name:<46} n={len(times):>6}  median {statistics.median(times):7.3f}  "
            f"p99 {percentile(times, 99):7.3f}  max {max(times):7.3f} ms")


def spread(values: Sequence[float], digits: int = 2) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def cold_ask(folder: Path, cache: Path | None) -> tuple[float, float, float]:
    """Wall and CPU seconds and peak RSS (MiB) of `openllm-bot ask` run from `folder`. The peak is the child's own
    VmHWM, read from /proc while it runs: a child's ru_maxrss would count this big process's pages it was forked
    from."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "bot", "ask", ASKED], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=_env(cache), cwd=folder)
    peak = 0.0
    while child.poll() is None:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) / 1024)
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.005)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), peak


def large_faq(entries: int, embedder: Embedder) -> list[tuple[str, float, float, str]]:
    from latency import SEED, Generator

    generator = Generator(SEED, 5000)
    knowledge = generator.faq(entries)
    queries = [q for qs in generator.queries(knowledge, 600).values() for q in qs]
    print(f"\ngenerated FAQ: {entries:,} entries (latency.py's generator, seed {SEED}), {len(queries)} questions")
    start = time.perf_counter()
    HybridMatcher(knowledge, embedder=embedder)  # embeds what the cache lacks
    first = time.perf_counter() - start
    builds = []
    for _ in range(2):
        _built.clear()  # each build must not reuse the one before
        start = time.perf_counter()
        big = HybridMatcher(knowledge, embedder=embedder)
        builds.append(time.perf_counter() - start)
    print(f"  classifier: {big.classifier.kind}; first build {first:.1f} s (phrasings not yet cached are embedded); "
          f"with embeddings cached {', '.join(f'{b:.1f}' for b in builds)} s; RSS {rss_mib():.0f} MiB")
    times = per_call_ms(big.match, queries, 2, big.forget)
    print(line("generated questions", times))
    return [("10k: build with embeddings cached, median", statistics.median(builds), TARGET_LARGE_BUILD_S, "s"),
            ("10k: per-question p99", percentile(times, 99), TARGET_LARGE_P99_MS, "ms")]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def where_ours_spends(policy: Policy, asked: Sequence[str], repeat: int) -> None:
    """In this process: the questions the first stage decides and the others, the embedding and lexical matcher."""
    kb = KnowledgeBase.load(policy=policy, embedding_cache=CACHE)
    matcher = kb.matcher
    forget = matcher.forget  # each question matched afresh

    quick = [q for q in asked if (s := matcher.quick_signals(q)) is not None and decide_quickly(s, policy)]
    full = [q for q in asked if q not in set(quick)]
    print(f"\nwhere ours spends it (this process, CPU per question, {repeat} passes)")
    threshold = policy.cascade.answer if policy.cascade else "-"
    print(f"  decided without the embedding model: {len(quick)} of {len(asked)} questions "
          f"({len(quick) / len(asked):.0%}); first-stage answer threshold {threshold}")
    print(line("ours, decided by the first stage", per_call_ms(kb.ask, quick, repeat, forget)))
    print(line("ours, decided with the embedding model", per_call_ms(kb.ask, full, repeat, forget)))
    print(line("the embedding model alone", per_call_ms(
        lambda q: matcher.embedder.embed([normalize(clip_question(q))]), asked, repeat)))
    print(line("the lexical matcher alone", per_call_ms(matcher.lexical.ranked, asked, repeat)))
    long = [q for q in asked if len(q) > 200]
    print(line(f"ours, messages over 200 characters ({len(long)})", per_call_ms(kb.ask, long, repeat,
                                                                                  forget)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="turns each matcher takes (per question and cold ask)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the questions in each turn")
    parser.add_argument("--runs", type=int, default=3, help="cold `openllm-bot ask` processes in each turn")
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision of the baseline (default {BASELINE})")
    parser.add_argument("--entries", type=int, default=0, help="also a generated FAQ of this many entries")
    args = parser.parse_args()

    asked = questions()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {len(asked)} different questions people wrote "
          f"({', '.join(p.name for p in PEOPLE)}); baseline {args.baseline}; times are CPU time unless said\n")
    fitted = recorded_policy()
    if fitted is not None:
        print("ours: the shipped policy has no cascade yet; measured with the one `openllm-bot calibrate` fits "
              "(what `calibrate --record` writes)\n")
    with ExitStack() as stack:
        trees = {"baseline": stack.enter_context(exported(args.baseline)), "ours": stack.enter_context(ours(fitted))}
        policy = load_policy(trees["ours"] / "knowledge" / "policy.yaml")

        print(f"per question (one thread, each matched afresh; {args.repeat} passes a turn, the two taking turns)")
        per_round: dict[str, list[dict[str, list[float]]]] = {"baseline": [], "ours": []}
        for n in range(args.rounds):
            for name in (("baseline", "ours") if n % 2 == 0 else ("ours", "baseline")):
                times = timed_in(trees[name], asked, args.repeat)
                per_round[name].append(times)
                print(line(f"round {n + 1}: {name}", times["cpu"]) + f"  (wall median "
                      f"{statistics.median(times['wall']):.3f})", flush=True)
        medians = {k: [statistics.median(r["cpu"]) for r in v] for k, v in per_round.items()}
        p99s = {k: [percentile(r["cpu"], 99) for r in v] for k, v in per_round.items()}
        for name in per_round:
            print(f"  {name:<9} median {spread(medians[name], 3)} ms, p99 {spread(p99s[name], 3)} ms "
                  f"(median of the rounds, and their range)")
        ratios = [b / o for b, o in zip(medians["baseline"], medians["ours"], strict=True)]
        print(f"  ours takes 1/{spread(ratios, 1)} of the baseline's CPU at the median, same round")

        where_ours_spends(policy, asked, args.repeat)

        print("\nthe same question again (five questions, 100 times each; CPU per question)")
        again = [q for q in asked[:5] for _ in range(100)]
        for name in ("baseline", "ours"):
            print(line(name, timed_in(trees[name], again, 1, afresh=False)["cpu"]))

        print(f"\ncold `openllm-bot ask` (a new process; {args.runs} a turn, the two taking turns)")
        cold: dict[str, list[tuple[float, float, float]]] = {"baseline": [], "ours": []}
        for n in range(args.rounds):
            for name in (("baseline", "ours") if n % 2 == 0 else ("ours", "baseline")):
                cold[name].extend(cold_ask(trees[name], CACHE) for _ in range(args.runs))
        for name, runs in cold.items():
            print(f"  {name:<9} cache kept on disk: wall {', '.join(f'{w:.2f}' for w, _, _ in runs)} s (median "
                  f"{statistics.median(w for w, _, _ in runs):.2f}); CPU median "
                  f"{statistics.median(c for _, c, _ in runs):.2f} s; peak RSS {max(r for _, _, r in runs):.0f} MiB")
        for name in ("baseline", "ours"):
            with tempfile.TemporaryDirectory() as empty:
                wall, cpu, _ = cold_ask(trees[name], Path(empty))
            print(f"  {name:<9} empty cache folder (a first start: every phrasing embedded, the classifier trained):"
                  f" wall {wall:.2f} s, CPU {cpu:.2f} s")

    print("\nbuild and reload (ours, in process, embeddings cached)")
    kb = KnowledgeBase.load(policy=policy, embedding_cache=CACHE)
    matcher = kb.matcher
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

    large: list[tuple[str, float, float, str]] = []
    if args.entries:
        large = large_faq(args.entries, matcher.embedder)

    print(f"\ntargets (ours; the median over the turns){'' if fitted is None else ', with the policy calibrate fits'}")
    checks = [*large,
              ("per-question median, CPU", statistics.median(medians["ours"]), TARGET_MEDIAN_MS, "ms"),
              ("per-question p99, CPU", statistics.median(p99s["ours"]), TARGET_P99_MS, "ms"),
              ("cold `openllm-bot ask`, median wall", statistics.median(w for w, _, _ in cold["ours"]),
               TARGET_COLD_ASK_S, "s"),
              ("reload that retrains, median", statistics.median(builds), TARGET_RELOAD_S, "s"),
              ("peak RSS of a process that matches", max(r for _, _, r in cold["ours"]), TARGET_RSS_MIB, "MiB")]
    for name, value, target, unit in checks:
        print(f"  {'met   ' if value <= target else 'MISSED'} {name:<42} {value:8.2f} {unit}  (target <= {target:g})")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
