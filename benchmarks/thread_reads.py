"""How often a mention in a thread costs a read of the thread (one `conversations.replies` call).

Run from the repository root: `.venv/bin/python benchmarks/thread_reads.py [FILE ...]` (default: the blind sets
under eval/blind/). Each question is taken as a mention in a thread, as `bot/listeners/events/mentions.py` handles
it: the thread is read only when the mention's own words are not answered outright and either get suggestions or
point back at the thread (`follow_ups.needs_the_thread`); a mention declined on its own, or answered, costs no call.
Prints the share per set and per kind."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.follow_ups import needs_the_thread, shipped_vocabulary  # noqa: E402
from knowledge import KnowledgeBase  # noqa: E402
from knowledge.decision.evaluation import load_cases  # noqa: E402


def reads_the_thread(status: str, text: str) -> bool:
    """What `with_thread` in the mention listener decides before any Web API call."""
    return status == "suggest" or (status == "none" and needs_the_thread(text, shipped_vocabulary()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="question sets (default: eval/blind/*.yaml)")
    args = parser.parse_args()
    files = args.files or sorted((ROOT / "eval" / "blind").glob("*.yaml"))
    kb = KnowledgeBase.load()
    print(f"{'set':<16}{'kind':<14}{'mentions':>9}{'read the thread':>17}")
    for path in files:
        asked: Counter[str] = Counter()
        read: Counter[str] = Counter()
        for case in load_cases(path):
            asked[case.kind] += 1
            read[case.kind] += reads_the_thread(kb.ask(case.q).status, case.q)
        for kind in sorted(asked):
            print(f"{path.name:<16}{kind:<14}{asked[kind]:>9}{read[kind]:>10} ({read[kind] / asked[kind]:.0%})")
        total, reads = sum(asked.values()), sum(read.values())
        print(f"{path.name:<16}{'all':<14}{total:>9}{reads:>10} ({reads / total:.0%})\n")


if __name__ == "__main__":
    main()
