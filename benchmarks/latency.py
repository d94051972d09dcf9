"""Per-query latency of `Matcher.match` on the shipped FAQ and on a generated FAQ of 10,000 entries,
index build time and peak memory.

Run from the repository root: `.venv/bin/python benchmarks/latency.py [--dev PATH] [--entries N] [--profile]`.
Needs nothing beyond the project's own dependencies. Prints medians and p99 (nearest rank), in milliseconds.

Timings are per call (time.perf_counter_ns), index build excluded. Three states of the caches:
* cold: the first call of each distinct question after the index was built (the typo corrector's
  cache is emptied by every build; stems and English word frequencies are process-wide caches, so
  words already seen, in the FAQ or in an earlier question, are warm);
* worst case: every lru cache of the analysis (typo corrector, stemmer, English frequency lookups)
  emptied before each call, so every word of every question is analysed from scratch;
* warm: further passes over the same questions.

The generated FAQ (seeded, so the same on every run): a vocabulary of about 5,000 words (the seed
documents' words, common English words from wordfreq, invented product-like names, a few tokens with
digits), drawn with Zipf-like weights. Each entry has a topic of three words; its question and about
ten alternates are question templates filled with part of the topic and a few other words; 1 to 3 tags
from the topic; an id made of topic words; an answer of 40 to 120 words of prose. Generated questions:
paraphrases of a random entry (some with typos, chat filler or Slack markup), long rambling messages
with the question buried in them, and out-of-scope questions with words the FAQ does not know.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import pstats
import random
import re
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wordfreq import top_n_list  # noqa: E402

from knowledge import Entry, Knowledge, KnowledgeBase, Matcher  # noqa: E402
from knowledge.decision.evaluation import load_cases  # noqa: E402
from knowledge.matching.analysis import STOPWORDS, english_zipf, stem  # noqa: E402

TARGET_SHIPPED_P99_MS = 1.0
TARGET_10K_P99_MS = 15.0
TARGET_10K_BUILD_S = 3.0
SEED = 20261122

TEMPLATES = (
    "what is {}", "what are {}", "how do i {}", "how does {} work", "why does {} matter", "can i use {} for {}",
    "is {} better than {}", "where can i find {}", "should we {}", "what does {} mean", "how to {}",
    "when should i use {}", "which {} is best for {}", "do i need {} to {}", "difference between {} and {}",
    "tell me about {}", "any advice on {}", "are there risks with {}", "who maintains {}", "{}?",
)
FILLERS = ("hey bot", "quick question:", "does anyone know", "sorry if this was asked before,", "hi team,",
           "random one but", "@here")
PROSE = ("the", "and", "of", "to", "is", "a", "in", "for", "it", "that", "with", "as", "on", "can", "be", "you")
CHATTER = ("we were talking about this in standup", "my manager asked me yesterday", "not sure where else to ask",
           "i read a blog post about it", "we have a demo next week", "the docs were not clear to me")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def clear_caches(matcher: Matcher) -> None:
    english_zipf.cache_clear()
    stem.cache_clear()
    matcher.analyzer._correct.cache_clear()


def time_queries(matcher: Matcher, queries: Sequence[str], repeat: int = 1, cold: bool = False) -> list[float]:
    """Milliseconds per call of `match`, each query `repeat` times; `cold` empties the caches before each."""
    gc.collect()
    out = []
    for _ in range(repeat):
        for q in queries:
            if cold:
                clear_caches(matcher)
            start = time.perf_counter_ns()
            matcher.match(q)
            out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def report(name: str, values: list[float]) -> tuple[float, float]:
    med, p99 = statistics.median(values), percentile(values, 99)
    print(f"  {name:<48} n={len(values):>5}  median {med:7.3f}  p99 {p99:7.3f}  max {max(values):7.3f} ms")
    return med, p99


# ------------------------------------------------------------------------------------------ generated FAQ


class Generator:
    def __init__(self, seed: int, vocabulary: int) -> None:
        self.rng = random.Random(seed)
        self.words = self._vocabulary(vocabulary)
        weights = [1 / (rank + 1) ** 1.0 for rank in range(len(self.words))]
        self.cum = list(accumulate(weights))
        self.topics: dict[str, list[str]] = {}
        self.sources: dict[str, str] = {}  # generated question -> the entry it was made from

    def _vocabulary(self, size: int) -> list[str]:
        """About `size` words: the seed documents' words, common English words, invented names, a few
        tokens with digits; shuffled, so that any of them may be among the frequent ones."""
        rng = self.rng
        seed_words = sorted({w.lower() for p in sorted((ROOT / "seeds").glob("*.txt"))
                             for w in re.findall(r"[A-Za-z]{3,}", p.read_text("utf-8"))} - STOPWORDS)
        numbered_count, names_count = 120, int(0.3 * size)
        english = [w for w in top_n_list("en", 60_000)[150:] if w.isalpha() and len(w) >= 3 and w not in STOPWORDS]
        words = list(dict.fromkeys(seed_words + english))[:max(0, size - names_count - numbered_count)]
        known = set(words)
        names: list[str] = []
        while len(names) < names_count:  # invented names of models, tools and companies
            name = "".join(rng.choice("bcdfghjklmnprstvwxz") + rng.choice("aeiouy")
                           for _ in range(rng.randint(2, 4))) + rng.choice(("", "n", "r", "x", "s", "l"))
            if name not in known:
                known.add(name)
                names.append(name)
        numbered = {f"{rng.choice(names)[:5]}{rng.randint(1, 9)}" for _ in range(numbered_count - 20)}
        numbered |= {f"{rng.choice((1, 3, 7, 8, 13, 34, 70, 405))}b" for _ in range(20)}
        words += names + sorted(numbered)
        rng.shuffle(words)
        return words

    def zipf(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)

    def fill(self, content: list[str]) -> str:
        """A question template with `content` words spread over its slots."""
        template = self.rng.choice(TEMPLATES)
        slots = template.count("{}")
        content = content or self.zipf(1)
        cut = sorted(self.rng.sample(range(1, len(content)), min(slots - 1, len(content) - 1))) if slots > 1 else []
        parts = [" ".join(content[a:b]) for a, b in zip([0, *cut], [*cut, len(content)], strict=True)]
        parts += [self.zipf(1)[0] for _ in range(slots - len(parts))]
        return template.format(*parts)

    def phrasing(self, topic: list[str], keep: int) -> str:
        rng = self.rng
        content = rng.sample(topic, keep) + self.zipf(rng.randint(0, 3))
        rng.shuffle(content)
        return self.fill(content)

    def entry(self, taken: set[str]) -> Entry:
        rng = self.rng
        topic = [rng.choice(self.words), rng.choice(self.words), *self.zipf(1)]
        ident = "-".join(topic[:2])
        while ident in taken:
            ident += "-" + rng.choice(self.words)
        taken.add(ident)
        self.topics[ident] = topic
        question = self.phrasing(topic, len(topic)) + "?"
        alternates = tuple(dict.fromkeys(self.phrasing(topic, rng.randint(1, len(topic)))
                                         for _ in range(rng.randint(8, 12))))
        tags = tuple(dict.fromkeys(rng.choice((w, f"{w} {topic[(n + 1) % 3]}"))
                                   for n, w in enumerate(topic[:rng.randint(1, 3)])))
        sentences = []
        for _ in range(rng.randint(4, 9)):
            words = [*self.zipf(rng.randint(5, 10)), rng.choice(topic), *rng.choices(PROSE, k=rng.randint(2, 5))]
            rng.shuffle(words)
            sentences.append(" ".join(words).capitalize() + ".")
        return Entry(ident, question, alternates, tags, " ".join(sentences), (), ())

    def typo(self, word: str) -> str:
        rng = self.rng
        i = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swap
        if kind == 1:
            return word[:i] + word[i + 1:]  # drop
        if kind == 2:
            return word[:i] + word[i] + word[i:]  # double
        return word[:i] + rng.choice("aeioustrnl") + word[i + 1:]  # substitute

    def paraphrase(self, topic: list[str]) -> str:
        rng = self.rng
        text = self.phrasing(topic, rng.randint(1, len(topic)))
        if rng.random() < 0.5:
            text = " ".join(self.typo(w) if len(w) >= 5 and rng.random() < 0.3 else w for w in text.split())
        if rng.random() < 0.3:
            text = f"{rng.choice(FILLERS)} {text}"
        if rng.random() < 0.15:
            text = f"<@U{rng.randrange(16**8):08X}> " + text.replace(topic[0], f"*{topic[0]}*", 1)
        return text + rng.choice(("?", "?", "", "??"))

    def long(self, topic: list[str]) -> str:
        rng = self.rng
        chat = [rng.choice(CHATTER) + ", " + " ".join(self.zipf(rng.randint(3, 8))) + "."
                for _ in range(rng.randint(2, 4))]
        chat.insert(rng.randrange(len(chat) + 1), self.phrasing(topic, len(topic)) + "?")
        return " ".join(chat)

    def out_of_scope(self) -> str:
        rng = self.rng
        unknown = ["".join(rng.choice("qwrtzpsdfgklmnbv") + rng.choice("aeiou") for _ in range(3))
                   for _ in range(rng.randint(1, 3))]
        english = [w for w in top_n_list("en", 20000)[6000:20000:7] if w.isalpha()]
        content = unknown + rng.sample(english, rng.randint(1, 4)) + self.zipf(rng.randint(0, 2))
        rng.shuffle(content)
        return self.fill(content) + "?"

    def faq(self, n: int) -> Knowledge:
        taken: set[str] = set()
        return Knowledge(entries=tuple(self.entry(taken) for _ in range(n)), documents={})

    def queries(self, knowledge: Knowledge, n: int) -> dict[str, list[str]]:
        """Distinct questions: 70% paraphrases, 15% long messages, 15% out of scope."""
        rng, entries = self.rng, knowledge.entries
        seen: set[str] = set()
        out: dict[str, list[str]] = {"paraphrase": [], "long": [], "out of scope": []}
        sizes = {"paraphrase": round(0.7 * n), "long": round(0.15 * n)}
        sizes["out of scope"] = n - sizes["paraphrase"] - sizes["long"]
        for kind, size in sizes.items():
            while len(out[kind]) < size:
                source = rng.choice(entries).id
                topic = self.topics[source]
                q = (self.paraphrase(topic) if kind == "paraphrase" else
                     self.long(topic) if kind == "long" else self.out_of_scope())
                if q not in seen:
                    seen.add(q)
                    out[kind].append(q)
                    if kind != "out of scope":
                        self.sources[q] = source
        return out


# ------------------------------------------------------------------------------------------ measuring


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def profile(title: str, call: Callable[[], object], limit: int = 14) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    text = out.getvalue()
    body = text[text.index("ncalls"):] if "ncalls" in text else text
    root = str(ROOT) + "/"
    print(f"\nprofile: {title} (cProfile, sorted by own time; cProfile slows calls several times)")
    for line in body.rstrip().splitlines():
        print("  " + line.replace(root, ""))


def large_faq(args: argparse.Namespace, vocabulary: int, dev: list[str],
              verdicts: list[tuple[str, float, float, str]]) -> None:
    start = time.perf_counter()
    generator = Generator(SEED, vocabulary)
    knowledge = generator.faq(args.entries)
    queries = generator.queries(knowledge, args.queries)
    every = [q for qs in queries.values() for q in qs]
    phrasings = sum(1 + len(e.alternates) for e in knowledge.entries)
    words = {w for e in knowledge.entries for t in (e.question, *e.alternates, e.answer)
             for w in re.findall(r"\w+", t.lower())}
    label = f"{args.entries:,} entries, {vocabulary:,}-word vocabulary"
    print(f"\ngenerated FAQ: {label} (seed {SEED}, made in {time.perf_counter() - start:.1f} s): "
          f"{phrasings} phrasings, {len(words)} distinct words")
    e = knowledge.entries[0]
    print(f"  e.g. {e.id}: {e.question!r} / {e.alternates[0]!r} / tags {list(e.tags)}")
    print(f"  {len(every)} distinct questions ({', '.join(f'{len(v)} {k}' for k, v in queries.items())}), "
          f"e.g. {queries['paraphrase'][0]!r}")
    gc.collect()
    rss_before = rss_mib()
    times = []
    big = None
    for _ in range(max(1, args.builds)):
        big = None
        gc.collect()
        start = time.perf_counter()
        big = Matcher(knowledge)
        times.append(time.perf_counter() - start)
    assert big is not None
    print(f"  index build (Matcher construction): first {times[0]:.2f} s; "
          f"all {', '.join(f'{t:.2f}' for t in times)} s; median {statistics.median(times):.2f} s")
    verdicts.append((f"{label}: build, first", times[0], TARGET_10K_BUILD_S, "s"))
    print(f"  process peak RSS (getrusage maxrss): {rss_before:.0f} MiB before the builds, {rss_mib():.0f} MiB after")
    if args.memory:
        big = None
        gc.collect()
        tracemalloc.start()
        big = Matcher(knowledge)  # tracemalloc slows Python down several times: memory only, not timed
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  tracemalloc during a build: peak {peak / 2**20:.0f} MiB, {current / 2**20:.0f} MiB kept by the index")
    big = Matcher(knowledge)  # a fresh index: the typo corrector's cache is empty again
    _, p99 = report("generated questions, cold (first call)", time_queries(big, every))
    verdicts.append((f"{label}: p99 cold", p99, TARGET_10K_P99_MS, "ms"))
    _, p99 = report("generated questions, worst case", time_queries(big, every, cold=True))
    verdicts.append((f"{label}: p99 worst case", p99, TARGET_10K_P99_MS, "ms"))
    warm = time_queries(big, every, 3)
    _, p99 = report("generated questions, warm (x3)", warm)
    verdicts.append((f"{label}: p99 warm", p99, TARGET_10K_P99_MS, "ms"))
    for kind, qs in queries.items():
        report(f"  of which {kind}, warm (x3)", time_queries(big, qs, 3))
    _, p99 = report("dev questions (not about its topics), warm (x3)", time_queries(big, dev, 3))
    verdicts.append((f"{label}: p99 dev questions", p99, TARGET_10K_P99_MS, "ms"))
    hits = {"answered": 0, "suggested": 0, "other": 0}
    for q in queries["paraphrase"]:
        result = big.match(q)
        source = generator.sources[q]
        key = ("answered" if result.status == "answer" and result.id == source else
               "suggested" if result.status == "suggest" and source in {c.id for c in result.candidates} else "other")
        hits[key] += 1
    print(f"  sanity: of {len(queries['paraphrase'])} generated paraphrases, {hits['answered']} answered with their "
          f"source entry, {hits['suggested']} suggested it, {hits['other']} neither (shipped thresholds)")
    fastest = {q: min(warm[i::len(every)]) for i, q in enumerate(every)}
    slowest = sorted(every, key=fastest.__getitem__, reverse=True)[:2]
    print("  slowest: " + "; ".join(f"{fastest[q]:.1f} ms {q[:100]!r}" for q in slowest))
    if args.profile:
        profile(f"one build, {label}", lambda: Matcher(knowledge))
        fresh = Matcher(knowledge)
        profile(f"{len(every)} generated questions, cold, {label}", lambda: [fresh.match(q) for q in every])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", default=str(ROOT.parent / "shared" / "eval" / "dev.yaml"))
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--vocabulary", type=int, nargs="+", default=[5_000, 25_000],
                        help="vocabulary sizes of the generated FAQs (one FAQ each)")
    parser.add_argument("--queries", type=int, default=600, help="generated questions for a large FAQ")
    parser.add_argument("--repeat", type=int, default=30, help="warm passes over the dev questions (shipped FAQ)")
    parser.add_argument("--builds", type=int, default=3, help="timed builds of a large index")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the traced build")
    parser.add_argument("--profile", action="store_true", help="cProfile a large build and its questions")
    args = parser.parse_args()
    verdicts: list[tuple[str, float, float, str]] = []

    dev = list(dict.fromkeys(c.q for c in load_cases(args.dev)))
    print(f"python {sys.version.split()[0]}; dev set {args.dev}: {len(dev)} questions; times in ms unless marked\n")
    print("shipped FAQ")
    start = time.perf_counter()
    kb = KnowledgeBase.load()
    load_s = time.perf_counter() - start
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        Matcher(kb.knowledge)
        builds.append(time.perf_counter() - start)
    print(f"  {len(kb.knowledge)} entries, {sum(1 + len(e.alternates) for e in kb.knowledge.entries)} phrasings; "
          f"load, validate and index {1000 * load_s:.0f} ms (first in the process: wordfreq's table included); "
          f"Matcher construction alone: median {1000 * statistics.median(builds):.1f} ms")
    matcher = Matcher(kb.knowledge)
    _, p99 = report("dev questions, cold (first call after build)", time_queries(matcher, dev))
    verdicts.append(("shipped FAQ: p99 cold", p99, TARGET_SHIPPED_P99_MS, "ms"))
    _, p99 = report("dev questions, worst case (x3)", time_queries(matcher, dev, 3, cold=True))
    verdicts.append(("shipped FAQ: p99 worst case", p99, TARGET_SHIPPED_P99_MS, "ms"))
    _, p99 = report(f"dev questions, warm (x{args.repeat})", time_queries(matcher, dev, args.repeat))
    verdicts.append(("shipped FAQ: p99 warm", p99, TARGET_SHIPPED_P99_MS, "ms"))
    for vocabulary in args.vocabulary:
        large_faq(args, vocabulary, dev, verdicts)
    print(f"\nprocess peak RSS (getrusage maxrss) at the end: {rss_mib():.0f} MiB")

    print("\ntargets")
    for name, value, limit, unit in verdicts:
        verdict = "met   " if value <= limit else "MISSED"
        print(f"  {verdict} {name:<55} {value:8.3f} {unit}  (target <= {limit:g} {unit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
