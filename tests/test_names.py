"""Names the documents never mention: a question about a model version the FAQ does not cover, or about the licence
of a particular model, is not answered from the nearest entry as if it were covered; it says so and offers it."""

from __future__ import annotations

import pytest

from bot import blocks
from bot.plaintext import result_text
from knowledge import KnowledgeBase
from knowledge.content.loader import load_knowledge
from knowledge.decision.names import versions_of


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_the_versions_covered_are_read_from_the_faq_and_its_documents() -> None:
    versions = versions_of(load_knowledge())
    assert versions.known["gpt"] == {"3"} and {"2", "3"} <= versions.known["llama"]
    assert "llm" not in versions.known  # "llm 101" is an alternate's wording, not a model
    assert versions.uncovered("is gpt-4 open source?") == "mention GPT-4 (only GPT-3)"
    assert versions.uncovered("gpt 3.5 or gpt-3?") == "mention GPT-3.5 (only GPT-3)"
    assert versions.uncovered("is gpt-4o open source?") == "mention GPT-4o (only GPT-3)"
    assert versions.uncovered("is gpt4o open?") == "mention GPT-4o (only GPT-3)"
    assert versions.uncovered("llama 3 and mistral 7b") is None
    assert versions.uncovered("top 10 open models") is None  # not a model family of the FAQ


def test_a_hyphenated_name_of_a_covered_family_is_another_model() -> None:
    versions = versions_of(load_knowledge())
    assert versions.uncovered("gpt-oss-120b can we self-host it?") == "mention GPT-OSS (only GPT-3)"
    assert versions.uncovered("is gpt-j still worth using") == "mention GPT-J (only GPT-3)"
    assert versions.uncovered("what is gpt-neo") == "mention GPT-NEO (only GPT-3)"
    # English words after the hyphen say something of the family itself
    assert versions.uncovered("experience with gpt-family models") is None
    assert versions.uncovered("can we sell a llama-based product") is None
    assert versions.uncovered("a fine-tuned model") is None  # "fine" has no version in the texts: not a family
    # a hyphenated name the texts use is covered
    assert versions_of(load_knowledge(), extra=["gpt-neo is an open model"]).uncovered("what is gpt-neo") is None


@pytest.mark.parametrize(("question", "offered", "says"), [
    ("is GPT-4 open source?", "gpt-3", "mention GPT-4 (only GPT-3)"),
    ("is llama 4 out yet?", "llama", "mention Llama 4"),
    ("tell me about gpt-oss", "gpt-3", "mention GPT-OSS (only GPT-3)"),
    ("what licence is Mistral 7B under?", "mistral", "name the licence a particular model is released under"),
])
def test_an_uncovered_name_or_a_model_s_licence_is_said_not_answered(kb: KnowledgeBase, question: str,
                                                                      offered: str, says: str) -> None:
    result = kb.ask(question)
    assert (result.status, [c.id for c in result.candidates]) == ("suggest", [offered])
    assert result.unsaid and result.unsaid.startswith(says)
    reply = blocks.result_reply(kb, result, "/openllm")
    assert reply.text.startswith(f"My documents don't {says}")


def test_covered_versions_are_answered_as_before(kb: KnowledgeBase) -> None:
    assert kb.ask("tell me about llama 3").answered == ("llama",)
    assert kb.ask("can we get gpt-3 through an api?").answered == ("gpt-3",)


def test_a_comparison_naming_an_uncovered_version_is_not_split_into_a_covered_answer(kb: KnowledgeBase) -> None:
    result = kb.ask("gpt-4 vs llama, which is better?")
    assert result.status == "none"  # declined taken whole, and no part of it answered as if GPT-4 were covered
    for text in (blocks.result_reply(kb, result, "/openllm").text, result_text(kb, result)):
        assert not text.rstrip().endswith("They do cover:")  # never a lead with nothing after it
