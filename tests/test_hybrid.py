"""The learned matcher: its signals, the out-of-scope side, near misses and answerability; its classifier, kept on
disk between starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge import KnowledgeBase
from knowledge.content.phrasings import OUT_OF_SCOPE, load_out_of_scope
from knowledge.decision.classifier import PhrasingClassifier, char_wb_ngrams, word_ngrams
from knowledge.decision.embedding import Embedder
from knowledge.decision.hybrid import HybridMatcher
from knowledge.decision.signals import CANDIDATE_FEATURES, QUESTION_FEATURES
from knowledge.matching.normalize import normalize


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_signals_hold_the_best_of_the_classifier_and_of_the_lexical_matcher(kb: KnowledgeBase) -> None:
    signals = kb.matcher.signals("can we use llama commercially?")
    ids = [c.id for c in signals.candidates]
    assert "licensing" in ids and "llama" in ids
    best = next(c for c in signals.candidates if c.classifier_best)
    assert best.classifier_gap == 0.0 and all(c.classifier <= best.classifier for c in signals.candidates)
    assert any(c.lexical_best for c in signals.candidates)
    assert all(len(c.features()) == len(CANDIDATE_FEATURES) for c in signals.candidates)
    top = signals.candidates[0]
    assert len(signals.features(top, 0.9, 0.5)) == len(QUESTION_FEATURES)


def test_a_question_is_closest_to_its_own_entry_by_meaning(kb: KnowledgeBase) -> None:
    # No word in common with the entry's phrasings: the embedding finds it.
    signals = kb.matcher.signals("is it legal to put one of these free models inside a product we sell")
    closest = max(signals.candidates, key=lambda c: c.similarity)
    assert closest.id == "licensing"


@pytest.mark.parametrize("question", [
    "what's for lunch today?", "can someone review my pull request", "the printer on floor 2 is jammed",
    "how do I falcon-proof the bird feeder", "which llama farm sells the softest wool",
])
def test_off_topic_and_other_senses_are_declined(kb: KnowledgeBase, question: str) -> None:
    assert kb.ask(question).status != "answer"


def test_every_listed_out_of_scope_example_is_declined(kb: KnowledgeBase) -> None:
    examples = load_out_of_scope(knowledge=kb.knowledge)
    answered = [p.text for p in examples if kb.ask(p.text).status == "answer"]
    assert answered == []


def test_every_near_miss_is_not_answered_but_offers_its_entry(kb: KnowledgeBase) -> None:
    wrong = {}
    for entry in kb.knowledge.entries:
        for text in entry.near_misses:
            result = kb.ask(text)
            if result.status == "answer" or (result.status == "suggest" and result.unsaid
                                             and result.candidates[0].id != entry.id):
                wrong[text] = (result.status, result.id)
    assert wrong == {}


def test_a_near_miss_gets_the_documents_dont_say_reply(kb: KnowledgeBase) -> None:
    near_miss = kb.knowledge["nlp-tasks"].near_misses[0]
    result = kb.ask(near_miss)
    assert (result.status, result.unsaid) == ("suggest", "go into that")
    assert [c.id for c in result.candidates] == ["nlp-tasks"]


@pytest.mark.parametrize(("question", "kinds"), [
    ("how many parameters does llama 3 have", ("number",)),
    ("what year did falcon come out", ("date",)),
    ("who founded hugging face", ("person",)),
    ("what's the price of gpt-3 per token", ("price",)),
    ("how do i pip install transformers", ("command",)),
    ("can we use llama commercially", ()),
    ("how do we deploy open models responsibly", ()),
])
def test_what_a_question_asks_for(kb: KnowledgeBase, question: str, kinds: tuple[str, ...]) -> None:
    assert kb.matcher.asks.asked(question) == kinds


def test_an_answer_holds_a_number_only_as_a_quantity(kb: KnowledgeBase) -> None:
    asks = kb.matcher.asks
    assert "number" not in asks.held("Meta released Llama 2 and Llama 3.")
    assert "number" in asks.held("It was trained on 1.4 trillion tokens, about 65 billion parameters.")
    assert "date" in asks.held("Released in March 2023.")
    assert "price" in asks.held("It costs $2 an hour.")


@pytest.mark.parametrize(("question", "entry", "unsaid"), [
    ("what year was falcon released?", "falcon", "give dates"),
    ("how do i pip install the transformers library from hugging face", "hugging-face", "give commands or code"),
])
def test_a_question_asking_what_the_answer_lacks_is_not_answered(kb: KnowledgeBase, question: str, entry: str,
                                                                 unsaid: str) -> None:
    result = kb.ask(question)
    assert (result.status, result.unsaid) == ("suggest", unsaid)
    assert [c.id for c in result.candidates] == [entry]
    assert result.to_json()["unsaid"] == unsaid


def test_explain_shows_each_signal_and_the_decision(kb: KnowledgeBase) -> None:
    lines = kb.ask("what year was falcon released?", explain=True).explanation
    assert lines[0] == "asks for: date"
    assert any(line.startswith("falcon: rank") and "answer lacks: date" in line for line in lines)
    assert any(line.startswith("decision for falcon: p(right)") and "unanswerable" in line for line in lines)
    assert any("never answered: the answer lacks what is asked" in line for line in lines)


def test_the_out_of_scope_label_is_never_an_entry_id(kb: KnowledgeBase) -> None:
    assert OUT_OF_SCOPE not in kb.knowledge
    assert all(c.id != OUT_OF_SCOPE for c in kb.ask("lunch?").candidates)


def _trained_here(kb: KnowledgeBase) -> PhrasingClassifier:
    phrasings = kb.matcher.phrasings
    return PhrasingClassifier(phrasings, kb.matcher.embedder.embed_cached([normalize(p.text) for p in phrasings]))


ANALYSED = ["can we use llama commercially?", "whats an open souce llm", "zzz qqq", "", "a " * 300, "I  A ab\tabc",
            "Ünïcode Straße — GPT-3.5 vs. LLaMA-2 (7B)", "x", "  leading and trailing  "]


def test_the_classifiers_fast_tf_idf_matches_scikit_learns(kb: KnowledgeBase) -> None:
    classifier = _trained_here(kb)
    for text in ANALYSED * 2:  # the second time from the character n-grams kept by word
        for (columns, values), vectorizer in zip(classifier.ngram_features(text), classifier.vectorizers(),
                                                 strict=True):
            reference = vectorizer.transform([text])
            dense = np.zeros(reference.shape[1], dtype=np.float32)
            dense[columns] = values
            assert np.allclose(dense, reference.toarray()[0], atol=1e-6)


def test_the_n_grams_are_scikit_learns_without_scikit_learn(kb: KnowledgeBase) -> None:
    chars, words = _trained_here(kb).vectorizers()
    for text in ANALYSED:
        assert char_wb_ngrams(text, 3, 5) == chars.build_analyzer()(text), text
        assert word_ngrams(text, 1, 2) == words.build_analyzer()(text), text


def test_a_trained_classifier_is_kept_beside_the_embeddings_and_used_at_the_next_start(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    from knowledge.decision import hybrid

    def fresh() -> HybridMatcher:
        hybrid._built.clear()  # as a new process
        return HybridMatcher(kb.knowledge, embedder=Embedder(cache_dir=tmp_path))

    first = fresh()
    (kept,) = tmp_path.glob("classifier-*.npz")
    again = fresh()
    assert first.classifier.trained is not None and again.classifier.trained is not None
    assert again.classifier.trained.classes == first.classifier.trained.classes
    with pytest.raises(ValueError, match="not trained here"):
        again.classifier.vectorizers()  # not trained: read from the file
    for question in ["can we use llama commercially?", "what's for lunch today?"]:
        vector = kb.matcher.embedder.embed([question])[0]
        assert np.array_equal(again.classifier.scores(question, vector), first.classifier.scores(question, vector))
    # A new process with the file there imports no scikit-learn and trains nothing.
    probe = ("import sys; from pathlib import Path; from knowledge import KnowledgeBase; "
             f"kb = KnowledgeBase.load(embedding_cache=Path({str(tmp_path)!r})); "
             "assert kb.ask('can we use llama commercially?').id == 'licensing'; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
    assert list(tmp_path.glob("classifier-*.npz")) == [kept]


def test_a_damaged_kept_classifier_is_one_warning_then_trained_and_kept_afresh(
        kb: KnowledgeBase, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from knowledge.decision import hybrid

    hybrid._built.clear()
    HybridMatcher(kb.knowledge, embedder=Embedder(cache_dir=tmp_path))
    (kept,) = tmp_path.glob("classifier-*.npz")
    whole = kept.read_bytes()
    for damage in (b"not a classifier", whole[:len(whole) // 2], whole[:-100], None):
        if damage is None:  # a readable file for other phrasings
            arrays = dict(np.load(kept, allow_pickle=False))
            np.savez(kept, **{**arrays, "classes": arrays["classes"][:-1]})
        else:
            kept.write_bytes(damage)
        hybrid._built.clear()
        caplog.clear()
        with caplog.at_level("WARNING"):
            again = HybridMatcher(kb.knowledge, embedder=Embedder(cache_dir=tmp_path))
        assert [r.getMessage() for r in caplog.records if "kept classifier" in r.getMessage()], damage
        assert again.classifier.vectorizers()  # trained afresh
        assert again.match("can we use llama commercially?").id == "licensing"
    hybrid._built.clear()
    caplog.clear()
    with caplog.at_level("WARNING"):
        HybridMatcher(kb.knowledge, embedder=Embedder(cache_dir=tmp_path))  # and kept again: no warning now
    assert not caplog.records


def test_words_the_faq_never_mentions_are_a_signal(kb: KnowledgeBase) -> None:
    known = kb.matcher.signals("how do I fine-tune an open model on our own data")
    unknown = kb.matcher.signals("how do I fine-tune an open model with qlora adapters")
    assert known.unknown_share == 0.0 and known.unknown_strongest == 0.0
    assert unknown.unknown_share > 0.2 and unknown.unknown_strongest > 0.5


def test_english_with_typos_is_english_and_other_languages_are_not(kb: KnowledgeBase) -> None:
    for english in ["whats an open souce llm exactly", "how much does the GPT-3 API cost per 1k tokens?",
                    "wat is atention in neural nets", "is Llama GDPR compliant if we host it in the EU?"]:
        assert not kb.in_other_language(english), english
    for other in ["Was ist ein LLM?", "Posso usare llama per scopi commerciali?", "wat is een taalmodel",
                  "Какие открытые модели есть?"]:
        assert kb.in_other_language(other), other


def test_a_faq_too_large_to_train_an_svm_on_is_matched_by_nearest_phrasings(kb: KnowledgeBase) -> None:
    from knowledge.decision.classifier import MAX_TRAINED_ENTRIES, ClassifierSettings
    from knowledge.decision.hybrid import HybridMatcher

    assert ClassifierSettings.for_entries(MAX_TRAINED_ENTRIES).kind == "svm"
    assert ClassifierSettings.for_entries(MAX_TRAINED_ENTRIES + 1).kind == "nearest"
    nearest = HybridMatcher(kb.knowledge, settings=ClassifierSettings(kind="nearest"), embedder=kb.matcher.embedder)
    assert nearest.classifier.kind == "nearest"
    assert nearest.policy.note != kb.matcher.policy.note  # its own calibrated policy (policy-nearest.yaml)
    assert nearest.match("can we use llama commercially?").id == "licensing"
    assert nearest.match("what's for lunch today?").status == "none"
    assert nearest.match("what year was falcon released?").unsaid == "give dates"


def test_a_large_faq_compares_the_closest_groups_exactly(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.decision.classifier as classifier_module
    from knowledge.decision.classifier import ClassifierSettings, PhrasingClassifier

    phrasings = kb.matcher.phrasings
    embeddings = kb.matcher.embedder.embed_cached([classifier_module.normalize(p.text) for p in phrasings])
    exact = PhrasingClassifier(phrasings, embeddings, ClassifierSettings(kind="nearest"))
    monkeypatch.setattr(classifier_module, "EXACT_ROWS", 100)
    monkeypatch.setattr(classifier_module, "SHORTLIST", 8)
    shortlisted = PhrasingClassifier(phrasings, embeddings, ClassifierSettings(kind="nearest"))
    for question in ["can we use llama commercially?", "what's for lunch", "how does attention work"]:
        vector = kb.matcher.embedder.embed([question])[0]
        full, quick = exact.nearest(vector), shortlisted.nearest(vector)
        assert quick.argmax() == full.argmax()
        best = np.argsort(-full)[:3]  # the closest groups are among the shortlist, so they are exact
        assert np.allclose(quick[best], full[best])
