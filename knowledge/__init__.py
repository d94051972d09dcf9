"""The FAQ: loading, validating, matching and citing. Knows nothing of Slack."""

from .base import KnowledgeBase
from .links import SourceLink, source_link, text_fragment
from .loader import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, KnowledgeError, Problem, load_knowledge
from .matcher import Matcher, Thresholds
from .model import Document, Entry, Knowledge, Source
from .result import Candidate, MatchResult
from .taught import Skipped, Taught, TaughtKnowledge, check_taught, with_taught

__all__ = [
    "DEFAULT_FAQ_DIR", "DEFAULT_SEEDS_DIR", "Candidate", "Document", "Entry", "Knowledge",
    "KnowledgeBase", "KnowledgeError", "MatchResult", "Matcher", "Problem", "Skipped", "Source",
    "SourceLink", "Taught", "TaughtKnowledge", "Thresholds", "check_taught", "load_knowledge", "source_link",
    "text_fragment", "with_taught",
]
