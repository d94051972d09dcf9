"""How well replies in a followed thread are told apart (ask, ignore, stop), on a labelled set.

    .venv/bin/python benchmarks/thread_replies.py [eval/follow_ups/blind.yaml] [--failures]

Each case: the thread's question, a reply, and what the reply is. Prints accuracy per kind, the
confusion matrix, and the two mistakes that matter most: an "ask" ignored (a question left
unanswered) and anything else taken as "ask" (the bot talking into people's conversation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.follow_ups import KINDS, classify, confusion, shipped_vocabulary  # noqa: E402

BOT = "UBOT1234"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(ROOT / "eval" / "follow_ups" / "blind.yaml"))
    parser.add_argument("--failures", action="store_true", help="list the cases classified wrongly")
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
    if args.failures:
        for case in cases:
            got = classify(case["reply"], BOT, case["thread"], vocabulary).kind
            if got != case["kind"]:
                print(f"  {case['kind']:>6} taken as {got:<6} {case['reply']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
