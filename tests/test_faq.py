"""The shipped FAQ: complete, grounded in its documents, and written in our own words."""

from __future__ import annotations

import re

import pytest
import yaml
from repo_paths import ROOT, SEEDS

from knowledge import KnowledgeBase, load_knowledge
from knowledge.matching.normalize import normalize

FAQ = ROOT / "knowledge" / "faq"
DEV_SET = ROOT.parent / "shared" / "eval" / "dev.yaml"

# The ids of shared/knowledge-coverage.md: a public contract (evaluations and saved feedback use them).
COVERAGE_IDS = """
what-is-an-llm what-is-open-source-llm open-vs-proprietary benefits democratization transparency fine-tuning cost
collaboration popular-models llama mistral falcon hugging-face openllama-pythia gpt-3 bert-xlnet licensing challenges
resource-requirements bias-safety misuse privacy maintenance use-cases nlp-tasks contributing future-trends
motivations governance participation-lifecycle attention
""".split()


def _raw_entries() -> list[dict]:
    return [e for path in sorted(FAQ.glob("*.yaml")) for e in yaml.safe_load(path.read_text("utf-8"))["entries"]]


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_shipped_faq_validates() -> None:
    assert len(load_knowledge(FAQ, SEEDS)) >= len(COVERAGE_IDS)


def test_every_coverage_id_is_an_entry(kb: KnowledgeBase) -> None:
    assert [i for i in COVERAGE_IDS if i not in kb.knowledge] == []


@pytest.mark.parametrize("entry", _raw_entries(), ids=lambda e: e["id"])
def test_every_quote_is_verbatim_in_its_document(entry: dict) -> None:
    # Deliberately independent of the loader: read the raw YAML and the raw document.
    assert entry["sources"], "an answer cites at least one passage"
    for source in entry["sources"]:
        document = _collapse((SEEDS / source["doc"]).read_text("utf-8"))
        assert _collapse(source["quote"]) in document, f"{entry['id']}: {source['quote']!r}"


@pytest.mark.parametrize("entry", _raw_entries(), ids=lambda e: e["id"])
def test_answers_are_our_own_words(entry: dict) -> None:
    answer = _collapse(entry["answer"])
    assert 25 <= len(answer.split()) <= 150
    for source in entry["sources"]:
        document = _collapse((SEEDS / source["doc"]).read_text("utf-8"))
        words = answer.split()
        # No run of 12 words is pasted from the document.
        pasted = [" ".join(words[i:i + 12]) for i in range(len(words) - 11) if " ".join(words[i:i + 12]) in document]
        assert pasted == [], f"{entry['id']} copies its source: {pasted[0]!r}"


@pytest.mark.skipif(not DEV_SET.exists(), reason="the dev set is not beside the repo")
def test_no_dev_question_is_copied_into_the_faq(kb: KnowledgeBase) -> None:
    dev = {normalize(case["q"]) for case in yaml.safe_load(DEV_SET.read_text("utf-8"))}
    phrasings = {normalize(p) for e in kb.knowledge.entries for p in (e.question, *e.alternates)}
    assert dev & phrasings == set()


def test_every_entry_answers_its_own_question(kb: KnowledgeBase) -> None:
    wrong = {e.id: kb.ask(e.question).id for e in kb.knowledge.entries if kb.ask(e.question).id != e.id}
    assert wrong == {}


def test_every_tag_as_a_bare_topic_answers_its_entry(kb: KnowledgeBase) -> None:
    wrong = {tag: kb.ask(f"/openllm {tag}").id for tag, entries in kb.knowledge.by_tag().items()
             if kb.ask(f"/openllm {tag}").id != entries[0].id}
    assert wrong == {}


def test_every_link_is_titled_and_documents_without_address_show_lines(kb: KnowledgeBase) -> None:
    for entry in kb.knowledge.entries:
        for link in kb.links(entry):
            assert link.title
            assert link.url is None or "#:~:text=" in link.url
            assert link.lines.startswith("line")
