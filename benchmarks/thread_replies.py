"""How well replies in a followed thread are told apart (ask, ignore, stop), on a labelled set.

    .venv/bin/python benchmarks/thread_replies.py [eval/follow_ups/blind.yaml] [--failures]

Each case: the thread's question, a reply, and what the reply is. Prints accuracy per kind, the
confusion matrix, and the two mistakes that matter most: an "ask" ignored (a question left
unanswered) and anything else taken as "ask" (the bot talking into people's conversation).
`--timing` also times classifying a reply (every reply in a followed thread pays it) against
matching it with the shipped matcher, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.follow_ups import KINDS, Vocabulary, classify, confusion, shipped_vocabulary  # noqa: E402

BOT = "UBOT1234"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(ROOT / "eval" / "follow_ups" / "blind.yaml"))
    parser.add_argument("--failures", action="store_true", help="list the cases classified wrongly")
    parser.add_argument("--timing", action="store_true", help="time classifying against matching, per reply")
    args = parser.parse_args()
    cases = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
    vocabulary = shipped_vocabulary()
    counts = confusion(((c["thread"], c["reply"], c["kind"]) for c in cases), BOT, vocabulary)
    total = sum(counts.values())
    right = sum(counts[k, k] for k in KINDS)
    print(f"{args.file}: {total} replies, {right} ({100 * right / total:.1f}%) classified right")
    print(f"{'expected':>10} | " + " ".join(f"{k:>7}" for k in KINDS) + " | right")
    for expected in KINDS:
        row = [counts[expected, got] for got in KINDS]
        n = sum(row)
        share = f"{100 * counts[expected, expected] / n:5.1f}% of {n}" if n else "-"
        print(f"{expected:>10} | " + " ".join(f"{c:>7}" for c in row) + f" | {share}")
    not_ask = sum(counts[e, "ask"] for e in KINDS if e != "ask")
    print(f"questions left unanswered: {counts['ask', 'ignore']} of {sum(counts['ask', g] for g in KINDS)}; "
          f"talked into a conversation (not a question, taken as one): {not_ask} of "
          f"{sum(counts[e, g] for e in KINDS if e != 'ask' for g in KINDS)}")
    if args.timing:
        _timing([(c["thread"], c["reply"]) for c in cases], vocabulary)
    if args.failures:
        for case in cases:
            got = classify(case["reply"], BOT, case["thread"], vocabulary).kind
            if got != case["kind"]:
                print(f"  {case['kind']:>6} taken as {got:<6} {case['reply']!r}")
    return 0


def _timing(replies: list[tuple[str, str]], vocabulary: Vocabulary, rounds: int = 5) -> None:
    from knowledge import KnowledgeBase

    kb = KnowledgeBase.load()

    def per_reply(work: Callable[[str, str], object]) -> list[float]:
        for thread, reply in replies:  # warm-up
            work(thread, reply)
        times = []
        for _ in range(rounds):
            for thread, reply in replies:
                start = time.perf_counter()
                work(thread, reply)
                times.append(1000 * (time.perf_counter() - start))
        return times

    for name, work in (("classify a reply", lambda t, r: classify(r, BOT, t, vocabulary)),
                       ("match it (baseline)", lambda t, r: kb.ask(r))):
        times = per_reply(work)
        p99 = statistics.quantiles(times, n=100)[98]
        print(f"{name:<22} median {statistics.median(times):7.3f} ms   p99 {p99:7.3f} ms   ({len(times)} runs)")


if __name__ == "__main__":
    raise SystemExit(main())
