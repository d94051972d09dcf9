"""Where the bot's FAQ comes from: folders and matcher settings from arguments and the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from knowledge import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, KnowledgeBase, Thresholds
from knowledge.analysis import SYNONYMS_FILE
from knowledge.decide import POLICY_FILES, Policy, load_policy
from knowledge.phrasings import OUT_OF_SCOPE_FILE

from .config import ConfigError

_THRESHOLD_VARIABLES = (("answer", "MATCH_ANSWER_THRESHOLD"), ("suggest", "MATCH_SUGGEST_THRESHOLD"))


def thresholds_from_env() -> Thresholds | None:
    """The calibrated thresholds (policy.yaml) overridden by MATCH_* variables, or None when none is set;
    raises `ConfigError` naming a malformed one."""
    raws = {name: os.environ.get(var) for name, var in _THRESHOLD_VARIABLES}
    if not any(raws.values()):
        return None
    policy = load_policy()
    values = {"answer": policy.answer, "suggest": policy.suggest}
    for name, var in _THRESHOLD_VARIABLES:
        raw = raws[name]
        if raw:
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ConfigError(f"{var}={raw!r} is not a number from 0 to 1: set it to e.g. "
                                  f"{values[name]:.2f} or unset it")
            values[name] = value
    if values["suggest"] > values["answer"]:
        raise ConfigError("MATCH_SUGGEST_THRESHOLD must not be above MATCH_ANSWER_THRESHOLD")
    return Thresholds(answer=values["answer"], suggest=values["suggest"])


@dataclass(frozen=True)
class Source:
    """Where the FAQ is read from, and how to build it (the command line and reloads share it)."""

    faq_dir: Path
    seeds_dir: Path
    thresholds: Thresholds | None = None
    source_base_url: str | None = None

    @classmethod
    def from_env(cls, faq_dir: str | Path | None = None) -> Source:
        """`--faq`, else KNOWLEDGE_DIR, else the shipped FAQ; SEEDS_DIR, MATCH_*, SOURCE_BASE_URL."""
        return cls(Path(faq_dir or os.environ.get("KNOWLEDGE_DIR") or DEFAULT_FAQ_DIR),
                   Path(os.environ.get("SEEDS_DIR") or DEFAULT_SEEDS_DIR), thresholds_from_env(),
                   os.environ.get("SOURCE_BASE_URL") or None)

    def watched(self) -> Iterable[Path]:
        """Where a change means a reload: the FAQ, the documents, the synonym list, the out-of-scope
        examples and the decision policy."""
        return (self.faq_dir, self.seeds_dir, SYNONYMS_FILE, OUT_OF_SCOPE_FILE, *POLICY_FILES.values())

    def load(self, policy: Policy | None = None) -> KnowledgeBase:
        """Load and validate in full; raises `KnowledgeError` listing every problem. `policy` replaces
        the calibrated one (calibration fits a new one)."""
        return KnowledgeBase.load(self.faq_dir, self.seeds_dir, self.thresholds, self.source_base_url, policy)
