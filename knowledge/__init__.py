"""The FAQ: loading, validating, matching and citing. Knows nothing of Slack."""

from .base import KnowledgeBase
from .content.links import SourceLink, source_link, text_fragment
from .content.loader import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, KnowledgeError, Problem, load_knowledge
from .content.model import Document, Entry, Knowledge, Source
from .content.taught import Skipped, Taught, TaughtKnowledge, check_taught, with_taught
from .matching.matcher import Matcher, Thresholds
from .result import Candidate, MatchResult

__all__ = [
    "DEFAULT_FAQ_DIR", "DEFAULT_SEEDS_DIR", "Candidate", "Document", "Entry", "Knowledge",
    "KnowledgeBase", "KnowledgeError", "MatchResult", "Matcher", "Problem", "Skipped", "Source",
    "SourceLink", "Taught", "TaughtKnowledge", "Thresholds", "check_taught", "load_knowledge", "source_link",
    "text_fragment", "with_taught",
]
