"""Each normalisation an incoming Slack message goes through."""

from __future__ import annotations

import pytest
import yaml
from repo_paths import ROOT
from text_timing import LONGEST, budgets, over_budget, repeated

from knowledge.matching.analysis import Analyzer, load_synonyms
from knowledge.matching.normalize import MAX_QUESTION_CHARS, clip_question, normalize, sentences, words_without_filler


@pytest.mark.parametrize("raw, expected", [
    ("<@U05B2KX9QLM> what is llama", "what is llama"),
    ("<@U05B2KX9QLM|openllm> what is llama", "what is llama"),
    ("<!here> <!channel> <!subteam^S123|@ml> llama", "llama"),
    ("saw it in <#C03ML4ALL|ml-guild>", "saw it in"),
    ("saw <https://huggingface.co|this page>", "saw this page"),
    ("saw <https://huggingface.co/models>", "saw"),
    ("what is llama :thinking_face: :+1: :wave::skin-tone-3:", "what is llama"),
    ("*bold* _italic_ ~strike~ `code`", "bold italic strike code"),
    ("```pip install x```", "pip install x"),
    ("WHAT ARE THE RISKS", "what are the risks"),
    ("ＬＬａＭＡ ２", "llama 2"),
    ("licence???!!!", "licence?!"),
    ("a &amp; b &lt;c&gt;", "a & b c"),
    ("typed &lt;!channel&gt; and &lt!here", "typed and !here"),
    ("/openllm licensing", "licensing"),
    ("zero\u200bwidth\x07bell", "zerowidth bell"),
    ("  many\n\n  lines\t", "many lines"),
])
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_snake_case_inside_words_is_not_markup() -> None:
    assert words_without_filler(normalize("what is fine_tune")) == ["what", "is", "fine", "tune"]


def test_filler_words_are_dropped() -> None:
    assert words_without_filler(normalize("hey bot pls what is llama thanks!")) == ["what", "is", "llama"]


def test_apostrophes_join_the_word() -> None:
    assert words_without_filler(normalize("what's meta’s model")) == ["whats", "metas", "model"]


def test_sentences_split_on_end_punctuation_and_newlines() -> None:
    assert sentences("First one. Second? Third!\nFourth") == ["First one.", "Second?", "Third!", "Fourth"]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    a = Analyzer(load_synonyms())
    a.set_vocabulary(["language", "attention", "contribute", "specific", "model", "train"])
    return a


def _read(analyzer: Analyzer, text: str) -> list[str]:
    return [t.read_as for t in analyzer.terms(text, correct=True)]


def test_typos_are_corrected_towards_faq_words(analyzer: Analyzer) -> None:
    assert _read(analyzer, "atention contirbute modle") == ["attention", "contribute", "model"]


def test_common_english_words_are_not_corrected(analyzer: Analyzer) -> None:
    assert _read(analyzer, "rain") == ["rain"]


def test_synonyms_map_to_one_term(analyzer: Analyzer) -> None:
    terms = {t.term for t in analyzer.terms("licence license licensing")}
    assert len(terms) == 1
    assert [t.term for t in analyzer.terms("hugging face")] == [t.term for t in analyzer.terms("huggingface")]


def test_stop_words_are_dropped(analyzer: Analyzer) -> None:
    assert _read(analyzer, "what is the attention") == ["attention"]


def test_emphasis_marks_the_topic() -> None:
    from knowledge.matching.normalize import emphasised

    assert emphasised("what's *Llama 3*, `OpenLLaMA` or _privacy_? not snake_case_name or 2*3*4") == [
        "Llama 3", "OpenLLaMA", "privacy"]


def test_segments_flag_the_question_clauses_of_a_long_message() -> None:
    from knowledge.matching.normalize import segments

    parts = dict(segments("We have a pilot. Before I ask for budget, what hardware do we need? Thanks!"))
    assert parts["what hardware do we need?"] is True
    assert parts["Before I ask for budget"] is False
    assert parts["We have a pilot."] is False
    assert segments("one plain question") == []


def test_a_clause_going_on_about_the_one_before_is_not_a_question_on_its_own() -> None:
    from knowledge.matching.normalize import segments

    parts = [part for part, _ in segments("is gemma any good, and is it open weights?")]
    assert parts == ["is gemma any good, and is it open weights?", "is gemma any good",
                     "is gemma any good, and is it open weights?"]
    assert "but what can it do?" in dict(segments("I gather it's AI, but what can it do?"))


def test_invisible_characters_are_removed_not_turned_into_spaces() -> None:
    assert normalize("ll\u200bama li\u00adcence\ufeff w\u2060ord x\u200cy\u200dz") == "llama licence word xyz"
    assert normalize("a\x07b") == "a b"  # a control character still separates words


# Messages built to make a pattern rescan the rest of the text from each of many starting points; the first is
# what Slack sends for 40,000 characters of "<http:" (2.5 s to normalise before the patterns were made linear).
STALLING = {
    "an unterminated link, as Slack escapes it": repeated("&lt;http:"),
    "an unterminated link": repeated("<https://a.b/c"),
    "a link with an unterminated label": repeated("<http://x|label "),
    "unterminated channel references": repeated("<#C"),
    "channel references with an unterminated name": repeated("<#C1|ml"),
    "unterminated mentions": repeated("<@"),
    "mentions with an unterminated name": repeated("<@U1|"),
    "unterminated specials": repeated("<!"),
    "an unterminated @here": repeated("<!here"),
    "a word without spaces": repeated("x"),
    "an underscore run inside a word": "a" + "_" * (LONGEST - 2) + "b",
    "underscores and stars inside words": repeated("a*_"),
    "a run of spaces": "a" + " " * (LONGEST - 2) + "b",
    "a run of newlines": "a" + "\n" * (LONGEST - 2) + "b",
    "unterminated emoji codes": repeated(":a"),
    "unterminated bold": repeated("*a"),
    "unterminated code": repeated("`a "),
    "dashes between spaces": repeated(" -"),
    "invisible characters": repeated("\u200b"),
}


@pytest.fixture(scope="module")
def reading_budgets() -> dict[str, float]:
    return budgets()


@pytest.mark.parametrize("text", list(STALLING.values()), ids=list(STALLING))
def test_a_message_built_to_stall_a_pattern_is_read_in_time_linear_in_its_length(
        text: str, reading_budgets: dict[str, float]) -> None:
    assert len(text) == LONGEST
    assert over_budget(text, reading_budgets) == {}


def test_what_is_read_of_a_message_as_a_question_is_its_first_4000_characters() -> None:
    assert MAX_QUESTION_CHARS == 4_000
    assert clip_question("what is llama") == "what is llama"
    long = repeated("is llama open? ")
    assert clip_question(long) == long[:MAX_QUESTION_CHARS]
    # Longer than anything in the FAQ or the question sets: the cap changes no real question.
    assert max(len(q) for q in _every_labelled_question()) < MAX_QUESTION_CHARS // 4


def _every_labelled_question() -> list[str]:
    files = [*(ROOT / "eval").rglob("*.yaml"), ROOT.parent / "shared" / "eval" / "dev.yaml"]
    questions: list[str] = []
    for path in (f for f in files if f.is_file()):
        cases = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        questions += [c["q"] for c in cases if isinstance(c, dict) and isinstance(c.get("q"), str)]
    assert len(questions) > 500
    return questions


def test_references_are_removed_up_to_the_last_closing_bracket_as_before() -> None:
    # Read only up to the last ">" (nothing after it can close a reference), the patterns find what they found.
    assert normalize("<@U1|a <@U2> b") == "b"
    assert normalize("see <https://x.y|the page> and <http:// no end") == "see the page and http:// no end"
    assert normalize("<#C1|ml> <#C2") == "#c2"


@pytest.mark.parametrize("raw, expected", [
    ("fine_tune", "fine_tune"), ("a__b", "a__b"), ("a" + "_" * 20 + "b", "a" + "_" * 20 + "b"),
    ("a_*_b", "a * b"), ("a*__________b", "a* b"), ("a__________*b", "a *b"), ("a_________*_b", "a * b"),
    ("_private_", "private"), ("x**y", "x y"), ("__init__", "init"),
])
def test_markers_inside_a_word_are_kept_or_removed_as_before(raw: str, expected: str) -> None:
    # The long runs are read by code rather than by the pattern (linear time), with the pattern's result.
    assert normalize(raw) == expected
