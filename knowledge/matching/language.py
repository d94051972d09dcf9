"""Is a question in English? Enough to tell a German or Chinese question from an English one with typos.

A word counts as another language's when it is common there (wordfreq) and much rarer in English,
and the FAQ does not use it ("llama" is Spanish too). A message is in another language when most of
its letters are not Latin, or at least half of its words (and two) are another language's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from functools import lru_cache

from wordfreq import zipf_frequency

from .normalize import clip_question, normalize, words_without_filler

# Other languages written in the Latin alphabet that people here may write in; wordfreq's small lists
# (about 25 MiB for all of them) are enough for common words.
OTHER_LATIN_LANGUAGES = ("de", "fr", "es", "it", "pt", "nl")
COMMON_ZIPF = 3.0  # at least this common in the other language
LEAD_ZIPF = 1.5  # and this much more common there than in English
ENGLISH_ZIPF = 4.5  # a word this common in English ("per", "la") is English whatever else it is
FOREIGN_SHARE = 0.5


@lru_cache(maxsize=16384)
def _foreign_word(word: str) -> bool:
    english = zipf_frequency(word, "en")
    if english >= ENGLISH_ZIPF:
        return False
    other = max(zipf_frequency(word, lang, wordlist="small") for lang in OTHER_LATIN_LANGUAGES)
    return other >= COMMON_ZIPF and other >= english + LEAD_ZIPF


def load_word_lists() -> None:
    """Read the other languages' word lists now (~45 ms): otherwise the first question the FAQ does not answer
    waits for them, holding the interpreter, in the middle of whatever else the process is doing."""
    zipf_frequency("a", "en")
    for lang in OTHER_LATIN_LANGUAGES:
        zipf_frequency("a", lang, wordlist="small")


def _mostly_non_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return latin < len(letters) / 2


def in_other_language(text: str, faq_words: Collection[str] = ()) -> bool:
    """True when `text` (as sent; its first MAX_QUESTION_CHARS characters) is written in a language other than
    English."""
    text = clip_question(text)
    if _mostly_non_latin(text):
        return True
    ws = [w for w in words_without_filler(normalize(text)) if w.isalpha() and len(w) > 1]
    if len(ws) < 2:
        return False
    foreign = sum(1 for w in ws if w not in faq_words and _foreign_word(w))
    return foreign >= 2 and foreign / len(ws) >= FOREIGN_SHARE
