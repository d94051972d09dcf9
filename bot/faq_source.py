"""Where the bot's FAQ comes from: folders and matcher settings from arguments and the environment."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from knowledge import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, KnowledgeBase, Thresholds
from knowledge.analysis import SYNONYMS_FILE

_THRESHOLD_VARIABLES = (("answer", "MATCH_ANSWER_THRESHOLD"), ("suggest", "MATCH_SUGGEST_THRESHOLD"),
                        ("margin", "MATCH_MARGIN"))


def thresholds_from_env() -> Thresholds:
    """The calibrated thresholds, overridden by MATCH_* variables; exits naming a malformed one."""
    defaults = Thresholds()
    values = {}
    for name, var in _THRESHOLD_VARIABLES:
        raw = os.environ.get(var)
        if raw:
            try:
                values[name] = float(raw)
            except ValueError:
                raise SystemExit(f"openllm-bot: {var}={raw!r} is not a number; set it to e.g. "
                                 f"{getattr(defaults, name)} or unset it") from None
    return Thresholds(**{**defaults.__dict__, **values})


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
        """Where a change means a reload: the FAQ, the documents and the synonym list."""
        return (self.faq_dir, self.seeds_dir, SYNONYMS_FILE)

    def load(self) -> KnowledgeBase:
        """Load and validate in full; raises `KnowledgeError` listing every problem."""
        return KnowledgeBase.load(self.faq_dir, self.seeds_dir, self.thresholds, self.source_base_url)
