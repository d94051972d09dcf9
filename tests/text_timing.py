"""How long reading a message's text takes, per character, against a budget measured on ordinary text in the same
process (not a conftest: that name is shared by every test folder)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from knowledge.matching.normalize import emphasised, normalize, segments, sentences, words_without_filler

LONGEST = 40_000  # Slack's limit on a message's text
# Per character, the worst text found costs normalize() up to 17x what ordinary prose costs it (prose takes its
# fast paths), the other readers 5x; a pattern that rescans the rest of the text from each of many starting
# points cost 160x to 40,000x on 40k characters. 50x leaves room for a loaded machine either way (each timing
# is the best of several runs).
SLOWER_AT_MOST = 50
PLAIN = ("what licence does llama 2 have and can we use it commercially? " * 700)[:LONGEST]


# Every function of knowledge/matching that reads a question's raw text, each timed on its own (one that
# stalls would hide behind the others' cost if they were timed together).
READERS: dict[str, Callable[[str], object]] = {
    "normalize": normalize,
    "words_without_filler": lambda text: words_without_filler(normalize(text)),
    "segments": segments,
    "emphasised": emphasised,
    "sentences": sentences,
}


def seconds(read: Callable[[str], object], text: str, runs: int = 3) -> float:
    """The best of `runs` timings of `read(text)`, without the garbage collector's pauses."""
    best = float("inf")
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            read(text)
            best = min(best, time.perf_counter() - start)
    finally:
        if collecting:
            gc.enable()
    return best


def per_character(read: Callable[[str], object], text: str, runs: int = 3) -> float:
    """Seconds per character, counting at least 4,000 (a short text costs its fixed overheads, and microseconds
    are too short to time reliably)."""
    return seconds(read, text, runs) / max(len(text), 4_000)


def budgets() -> dict[str, float]:
    """Seconds per character each reader may take: SLOWER_AT_MOST times what it takes on ordinary text."""
    return {name: SLOWER_AT_MOST * per_character(read, PLAIN, runs=5) for name, read in READERS.items()}


def over_budget(text: str, allowed: dict[str, float], attempts: int = 4) -> dict[str, float]:
    """The readers that take longer than allowed on `text`, each with how many times its budget it took.

    A reader over budget is timed again a little later, up to `attempts` times in all, and counts only if it is
    over every time: other processes on a busy machine can take the processor for milliseconds at a time,
    whereas a pattern that stalls is slow whenever it runs."""
    over: dict[str, float] = {}
    for name, read in READERS.items():
        for attempt in range(attempts):
            times = per_character(read, text) / allowed[name]
            if times <= 1:
                break
            if attempt < attempts - 1:
                time.sleep(0.05 * (attempt + 1))
        else:
            over[name] = round(times, 1)
    return over


def repeated(unit: str, length: int = LONGEST) -> str:
    """`unit` over and over, `length` characters: how a message that stalls a pattern is built."""
    return (unit * (length // max(len(unit), 1) + 1))[:length] if unit else ""
