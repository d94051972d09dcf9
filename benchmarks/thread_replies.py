"""How well replies in a followed thread are told apart (ask, ignore, stop), on a labelled set.

    .venv/bin/python benchmarks/thread_replies.py [eval/blind/thread_replies.yaml] [--failures]

Each case: the thread's question, a reply, and what the reply is. Prints accuracy per kind, the
confusion matrix, and the two mistakes that matter most: an "ask" ignored (a question left
unanswered) and anything else taken as "ask" (the bot talking into people's conversation).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.follow_ups import classify, shipped_vocabulary  # noqa: E402

BOT = "UBOT1234"
KINDS = ("ask", "ignore", "stop")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(ROOT / "eval" / "blind" / "thread_replies.yaml"))
    parser.add_argument("--failures", action="store_true", help="list the cases classified wrongly")
    args = parser.parse_args()
    cases = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
    vocabulary = shipped_vocabulary()
    confusion: Counter[tuple[str, str]] = Counter()
    failures = []
    for case in cases:
        got = classify(case["reply"], BOT, case["thread"], vocabulary).kind
        confusion[case["kind"], got] += 1
        if got != case["kind"]:
            failures.append(f"  {case['kind']:>6} taken as {got:<6} {case['reply']!r}")
    total = sum(confusion.values())
    right = sum(confusion[k, k] for k in KINDS)
    print(f"{args.file}: {total} replies, {right} ({100 * right / total:.1f}%) classified right")
    print(f"{'expected':>10} | " + " ".join(f"{k:>7}" for k in KINDS) + " | right")
    for expected in KINDS:
        row = [confusion[expected, got] for got in KINDS]
        n = sum(row)
        share = f"{100 * confusion[expected, expected] / n:5.1f}% of {n}" if n else "-"
        print(f"{expected:>10} | " + " ".join(f"{c:>7}" for c in row) + f" | {share}")
    not_ask = sum(confusion[e, "ask"] for e in KINDS if e != "ask")
    print(f"questions left unanswered: {confusion['ask', 'ignore']} of {sum(confusion['ask', g] for g in KINDS)}; "
          f"talked into a conversation (not a question, taken as one): {not_ask} of "
          f"{sum(confusion[e, g] for e in KINDS if e != 'ask' for g in KINDS)}")
    if args.failures:
        print("\n".join(failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
