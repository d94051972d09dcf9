"""The quality gate: what each evaluation set scores, the table that records it, and whether a new measurement
holds the record (within the noise of the set's size) and the absolute floors (which the record cannot lower).

`measure` scores every set the way the gate does: the labelled sets out of fold (each question decided by a policy
fitted without it) and all of them together, the blind sets with the policy fitted on the labelled ones. `make
calibrate` records the figures when they hold; `tests/test_quality.py` checks them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from ..content.loader import PACKAGE_DIR
from ..content.model import Knowledge
from ..content.phrasings import Phrasing
from .calibration import Calibration, calibrate, labelled_sets, neutral_policy
from .classifier import ClassifierSettings
from .decide import Policy
from .evaluation import Tally, evaluate, load_cases
from .hybrid import HybridMatcher

ROOT = PACKAGE_DIR.parent
QUALITY_DOC = ROOT / "docs" / "quality.md"  # the table between the quality-gate markers
FLOORS_FILE = PACKAGE_DIR / "floors.yaml"
BLIND_DIR = ROOT / "eval" / "blind"
ALL_LABELLED = "all labelled"  # the row of every labelled set together, out of fold

Basis = Literal["out of fold", "shipped policy"]
_TABLE = re.compile(r"(<!-- quality-gate.*?-->\n)(.*?)(<!-- /quality-gate -->)", re.S)
_ROW = re.compile(r"^\| `?([\w ./-]+?)`? \| (out of fold|shipped policy) \| (\d+) \| (\d+)/(\d+) \([\d.]+%\) "
                  r"\| (\d+)/(\d+) \([\d.]+%\) \| (\d+)/(\d+) \|", re.M)


class GateError(ValueError):
    """The quality document or the floors file cannot be read: the message says which and why."""


@dataclass(frozen=True)
class Figures:
    """One set's counts: questions in scope answered correctly and wrongly, out-of-scope questions answered."""

    name: str
    basis: Basis
    in_scope: int
    correct: int
    wrong: int
    out_of_scope: int
    oos_answered: int

    @property
    def cases(self) -> int:
        return self.in_scope + self.out_of_scope

    @classmethod
    def of(cls, name: str, basis: Basis, tally: Tally) -> Figures:
        return cls(name, basis, tally.in_scope, tally.correct, tally.wrong, tally.out_of_scope, tally.oos_answered)


@dataclass(frozen=True)
class Floors:
    """Absolute limits on the labelled sets together (out of fold), as shares of the questions; `z` sets the noise
    allowed against the record (a one-sided binomial bound)."""

    correct: float
    wrong: float
    oos_answered: float
    z: float


def load_floors(path: Path = FLOORS_FILE) -> Floors:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        floors = Floors(float(data["correct_at_least"]), float(data["wrong_at_most"]),
                        float(data["out_of_scope_answered_at_most"]), float(data["noise_z"]))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise GateError(f"{path}: cannot read the floors ({exc.__class__.__name__}: {exc})") from None
    if not (0 <= floors.correct <= 1 and 0 <= floors.wrong <= 1 and 0 <= floors.oos_answered <= 1 and floors.z >= 0):
        raise GateError(f"{path}: shares must be between 0 and 1 and noise_z at least 0")
    return floors


def noise(count: int, total: int, z: float) -> int:
    """How many questions of `total` a count of `count` may move by chance: z standard deviations of a binomial
    with the share estimated as (count + 1) / (total + 2) (never zero, so a set with no errors may still get one),
    rounded up, at least one."""
    if total == 0:
        return 0
    share = (count + 1) / (total + 2)
    return max(1, math.ceil(z * math.sqrt(total * share * (1 - share))))


def shortfalls(recorded: Figures, measured: Figures, z: float) -> list[str]:
    """Where `measured` fell from `recorded` by more than the noise of the set's size; each a sentence."""
    name, out = measured.name, []
    if measured.cases != recorded.cases:
        return [f"{name}: {measured.cases} questions, the record has {recorded.cases} (a changed set: record it "
                "with `make calibrate`)"]
    least = recorded.correct - noise(recorded.correct, recorded.in_scope, z)
    if measured.correct < least:
        out.append(f"{name}: {measured.correct}/{measured.in_scope} answered correctly, the record is "
                   f"{recorded.correct} and noise allows {least}")
    most = recorded.wrong + noise(recorded.wrong, recorded.in_scope, z)
    if measured.wrong > most:
        out.append(f"{name}: {measured.wrong}/{measured.in_scope} answered wrongly, the record is {recorded.wrong} "
                   f"and noise allows {most}")
    most = recorded.oos_answered + noise(recorded.oos_answered, recorded.out_of_scope, z)
    if measured.oos_answered > most:
        out.append(f"{name}: {measured.oos_answered}/{measured.out_of_scope} out-of-scope questions answered, the "
                   f"record is {recorded.oos_answered} and noise allows {most}")
    return out


def below_floors(measured: Figures, floors: Floors) -> list[str]:
    """Where `measured` breaks an absolute floor; each a sentence."""
    name, out = measured.name, []
    if measured.in_scope and measured.correct < floors.correct * measured.in_scope:
        out.append(f"{name}: {_share(measured.correct, measured.in_scope)} answered correctly, the floor is "
                   f"{floors.correct:.0%}")
    if measured.in_scope and measured.wrong > floors.wrong * measured.in_scope:
        out.append(f"{name}: {_share(measured.wrong, measured.in_scope)} answered wrongly, the floor is at most "
                   f"{floors.wrong:.0%}")
    if measured.out_of_scope and measured.oos_answered > floors.oos_answered * measured.out_of_scope:
        out.append(f"{name}: {_share(measured.oos_answered, measured.out_of_scope)} of out-of-scope questions "
                   f"answered, the floor is at most {floors.oos_answered:.0%}")
    return out


@dataclass(frozen=True)
class Verdict:
    """A measurement against the record (`shortfalls`: a fall beyond noise, or sets that do not match) and
    against the floors (`floors`); each problem a sentence."""

    shortfalls: list[str]
    floors: list[str]

    @property
    def problems(self) -> list[str]:
        return self.floors + self.shortfalls


def judge(recorded: Mapping[str, Figures], measured: Mapping[str, Figures], floors: Floors,
          recording: bool = False) -> Verdict:
    """Whether a measurement holds the record and the floors (the floors bind every labelled set together, out of
    fold: a single set is too small for them, and a blind set is quoted as it came out, then held to that).
    `recording`: for `make calibrate`, a set that is new or has other questions than recorded (a set added or
    edited) is recorded as it is, not compared."""
    comparable = {name: figures for name, figures in measured.items() if name in recorded
                  and not (recording and figures.cases != recorded[name].cases)}
    short = [] if recording else [f"{name}: not in the record (record it with `make calibrate`)"
                                  for name in measured if name not in recorded]
    short += [f"{name}: recorded, but no such set was measured" for name in recorded if name not in measured]
    below: list[str] = []
    for name, figures in measured.items():
        if name in comparable:
            short += shortfalls(recorded[name], figures, floors.z)
        if name == ALL_LABELLED:
            below += below_floors(figures, floors)
    return Verdict(short, below)


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / total:.1f}%)" if total else f"{count}/0"


def render_table(figures: Sequence[Figures], z: float) -> str:
    """The record as a Markdown table, with what the gate allows each figure to move to."""
    lines = ["| set | measured | questions | in scope answered correctly | wrong | out of scope answered "
             "| the gate allows |", "|---|---|---|---|---|---|---|"]
    for f in figures:
        name = f.name if f.name == ALL_LABELLED else f"`{f.name}`"
        allows = (f"≥ {f.correct - noise(f.correct, f.in_scope, z)} correct, "
                  f"≤ {f.wrong + noise(f.wrong, f.in_scope, z)} wrong, "
                  f"≤ {f.oos_answered + noise(f.oos_answered, f.out_of_scope, z)} out of scope answered")
        lines.append(f"| {name} | {f.basis} | {f.cases} | {_share(f.correct, f.in_scope)} "
                     f"| {_share(f.wrong, f.in_scope)} | {f.oos_answered}/{f.out_of_scope} | {allows} |")
    return "\n".join(lines) + "\n"


def read_record(path: Path = QUALITY_DOC) -> dict[str, Figures]:
    """The figures recorded in `path`'s quality-gate table, by set name."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"{path}: cannot read it ({exc})") from None
    table = _TABLE.search(text)
    if table is None:
        raise GateError(f"{path}: no table between <!-- quality-gate --> and <!-- /quality-gate -->")
    rows = {m[1]: Figures(m[1], "out of fold" if m[2] == "out of fold" else "shipped policy", int(m[5]), int(m[4]),
                          int(m[6]), int(m[9]), int(m[8])) for m in _ROW.finditer(table[2])}
    if not rows:
        raise GateError(f"{path}: the quality-gate table has no rows")
    return rows


def write_record(figures: Sequence[Figures], z: float, path: Path = QUALITY_DOC) -> None:
    """Replace the quality-gate table of `path` with `figures`, leaving the rest of the document as it is."""
    text = path.read_text(encoding="utf-8")
    if _TABLE.search(text) is None:
        raise GateError(f"{path}: no table between <!-- quality-gate --> and <!-- /quality-gate -->")
    table = render_table(figures, z)
    path.write_text(_TABLE.sub(lambda m: m[1] + table + m[3], text, count=1), encoding="utf-8")


@dataclass(frozen=True)
class Measurement:
    """The calibration (the policy fitted on the labelled sets, and their out-of-fold results), and every set's
    figures as the gate counts them."""

    calibration: Calibration
    figures: list[Figures]

    def by_name(self) -> dict[str, Figures]:
        return {f.name: f for f in self.figures}


def blind_sets(folder: Path = BLIND_DIR) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def measure(knowledge: Knowledge, sets: Sequence[Path] | None = None, blind: Sequence[Path] | None = None,
            settings: ClassifierSettings | None = None, folds: int = 10, shipped: Policy | None = None,
            out_of_scope: tuple[Phrasing, ...] | None = None, cascade: bool = True) -> Measurement:
    """Fit the policy on the labelled `sets` (default: `labelled_sets()`) for `knowledge`, score them out of fold
    (each, and all together), and score the `blind` sets (default: eval/blind/) with the `shipped` policy (default:
    the one just fitted, which `make calibrate` ships). `out_of_scope`: the examples (default: out_of_scope.yaml).
    `cascade`: false fits the policy without the cascade's first stage."""
    sets = labelled_sets() if sets is None else sets
    blind = blind_sets() if blind is None else blind
    matcher = HybridMatcher(knowledge, policy=neutral_policy(), settings=settings, out_of_scope=out_of_scope)
    calibration = calibrate(matcher, sets, folds=folds, cascade=cascade)
    tallies = calibration.tallies()
    figures = [Figures.of(path.name, "out of fold", tallies[path.name]) for path in sets]
    figures.append(Figures.of(ALL_LABELLED, "out of fold", tallies["all"]))
    fitted = HybridMatcher(knowledge, policy=shipped or calibration.policy, asks=matcher.asks, joins=matcher.joins,
                           embedder=matcher.embedder, settings=matcher.settings, out_of_scope=out_of_scope)
    figures += [Figures.of(path.name, "shipped policy", evaluate(load_cases(path), fitted.match)["all"])
                for path in blind]
    return Measurement(calibration, figures)
