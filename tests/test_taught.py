"""Taught phrasings: what admins say a question means joins the FAQ, under the FAQ's own rules."""

from __future__ import annotations

import time

import pytest
from repo_paths import FIXTURE_FAQ, SEEDS

from knowledge import KnowledgeBase
from knowledge.content.phrasings import OUT_OF_SCOPE
from knowledge.content.taught import MAX_TAUGHT_CHARS, TAUGHT_KIND, Taught, check_taught, with_taught

# Asked in Slack, not answered by the shipped FAQ; an admin said it means the hardware entry.
UNANSWERED = "will this thing choke my old thinkpad"
# Suggested (hugging-face, governance, cost) but the documents give no prices: taught as not covered.
SUGGESTED = "how much does hugging face charge"
# Answered with the falcon entry, whose documents say nothing of its licence: not covered, near falcon.
ANSWERED = "can i sell stuff built with falcon"
NO_WORDS = ("the question has no words the bot could match (only filler, punctuation, emoji or invisible "
            "characters): teach a question")
TAUGHT = (
    Taught(UNANSWERED, "resource-requirements"),
    Taught(SUGGESTED, None),
    Taught(ANSWERED, None, near="falcon"),
    Taught("is llama allowed for commercial use", "llama"),  # an alternate of 'licensing'
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture(scope="module")
def taught_kb(kb: KnowledgeBase) -> KnowledgeBase:
    return kb.with_taught(TAUGHT)


def test_the_shipped_bot_does_not_answer_the_questions_taught(kb: KnowledgeBase) -> None:
    assert kb.ask(UNANSWERED).status == "none"
    assert kb.ask(SUGGESTED).status == "suggest"
    assert (kb.ask(ANSWERED).status, kb.ask(ANSWERED).id) == ("answer", "falcon")


def test_a_question_taught_as_a_phrasing_is_answered_with_its_entry(taught_kb: KnowledgeBase) -> None:
    result = taught_kb.ask(UNANSWERED)
    assert (result.status, result.id) == ("answer", "resource-requirements")
    assert UNANSWERED in taught_kb.knowledge["resource-requirements"].alternates


def test_a_question_taught_as_not_covered_is_declined(taught_kb: KnowledgeBase) -> None:
    result = taught_kb.ask(SUGGESTED)
    assert (result.status, result.candidates) == ("none", ())


def test_a_question_taught_as_not_covered_near_an_entry_is_not_answered_but_offers_it(
        taught_kb: KnowledgeBase) -> None:
    result = taught_kb.ask(ANSWERED)
    assert result.status != "answer"
    assert [c.id for c in result.candidates] == ["falcon"] and result.unsaid  # "My documents don't ..."
    assert ANSWERED in taught_kb.knowledge["falcon"].near_misses


def test_what_the_faq_answers_is_still_answered_after_teaching(taught_kb: KnowledgeBase) -> None:
    for question, entry_id in [("what is hugging face", "hugging-face"), ("is falcon open source", "falcon"),
                               ("what gpus do we need", "resource-requirements")]:
        assert (taught_kb.ask(question).status, taught_kb.ask(question).id) == ("answer", entry_id)


def test_a_phrasing_of_another_entry_is_skipped_with_a_reason_naming_it(taught_kb: KnowledgeBase) -> None:
    assert taught_kb.taught == TAUGHT[:3]
    [skipped] = taught_kb.skipped
    assert skipped.taught == TAUGHT[3]
    assert skipped.reason == "“is llama allowed for commercial use” is already a phrasing of entry 'licensing'"
    assert "is llama allowed for commercial use" not in taught_kb.knowledge["llama"].alternates


def test_teaching_leaves_the_original_knowledge_base_as_it_was(kb: KnowledgeBase,
                                                               taught_kb: KnowledgeBase) -> None:
    assert kb.knowledge is kb.faq and taught_kb.faq is kb.faq
    assert UNANSWERED not in kb.knowledge["resource-requirements"].alternates
    assert kb.taught == () and kb.skipped == ()
    assert kb.ask(UNANSWERED).status == "none" and kb.ask(ANSWERED).id == "falcon"
    assert taught_kb.matcher.policy is kb.matcher.policy and taught_kb.source_base_url == kb.source_base_url


def test_teaching_again_replaces_what_was_taught_before(taught_kb: KnowledgeBase) -> None:
    # The taught phrasings are applied to the FAQ as loaded, not on top of the previous ones.
    untaught = taught_kb.with_taught([])
    assert untaught.knowledge is taught_kb.faq and untaught.taught == ()
    assert untaught.ask(UNANSWERED).status == "none"


def test_a_knowledge_base_checks_a_new_teaching_against_what_it_was_taught(taught_kb: KnowledgeBase) -> None:
    assert check_taught(taught_kb.faq, Taught(UNANSWERED, "cost")) is None
    assert taught_kb.check_taught(Taught(UNANSWERED, "cost")) == (
        f"“{UNANSWERED}” is already taught as a phrasing of entry 'resource-requirements'")


def test_a_phrasing_for_an_entry_no_longer_in_the_faq_is_skipped_not_raised() -> None:
    # Taught against the shipped FAQ, then the FAQ became the small fixture one, without that entry.
    small = KnowledgeBase.load(FIXTURE_FAQ, SEEDS, taught=[Taught(UNANSWERED, "resource-requirements"),
                                                           Taught(SUGGESTED, None, near="resource-requirements")])
    [skipped] = small.skipped
    assert skipped.reason == "entry 'resource-requirements' is not in the FAQ (any more)"
    # Not covered stays not covered: with its entry gone it is an out-of-scope example instead of a near miss.
    assert small.taught == (Taught(SUGGESTED, None, near="resource-requirements"),)
    assert small.ask(SUGGESTED).status == "none"


@pytest.mark.parametrize(("taught", "reason"), [
    (Taught("what gpus do we need", "cost"), "“what gpus do we need” is already a phrasing of entry "
                                             "'resource-requirements'"),
    (Taught("What  GPUs do we NEED", "resource-requirements"), "“What GPUs do we NEED” is already a phrasing of "
                                                               "entry 'resource-requirements'"),
    (Taught("what gpus do we need", None), "“what gpus do we need” is already a phrasing of entry "
                                           "'resource-requirements'"),
    (Taught("who founded mistral ai", "mistral"), "“who founded mistral ai” is already not covered: the FAQ has "
                                                  "it as a near miss of entry 'mistral'"),
    (Taught("what's for lunch today?", "cost"), "“what's for lunch today?” is already not covered: the FAQ has "
                                                "it as an out-of-scope example"),
    (Taught("  ", "cost"), "the question is empty"),
    (Taught("<@U123ABC> how do we fine tune", "fine-tuning"),
     "the question holds a Slack mention (<@…>, <!here>, …): teach it without the mention"),
    (Taught("a" * (MAX_TAUGHT_CHARS + 1), None), f"“{'a' * 79}…” is longer than {MAX_TAUGHT_CHARS} characters: "
                                                 "teach a shorter phrasing"),
    (Taught("what does it cost", "no-such-entry"), "entry 'no-such-entry' is not in the FAQ (any more)"),
    # The FAQ's phrasings as the matcher reads them: without case, punctuation, markup or filler.
    (Taught("what are the falcon models", None), "“what are the falcon models” is already a phrasing of entry "
                                                 "'falcon'"),
    (Taught("hey, what are the *Falcon* models??", None), "“hey, what are the *Falcon* models??” is already a "
                                                          "phrasing of entry 'falcon'"),
    (Taught("whats for lunch today", "cost"), "“whats for lunch today” is already not covered: the FAQ has it as "
                                              "an out-of-scope example"),
    # Nothing to match: invisible characters, filler, emoji.
    (Taught("\u200b\u200b", None), NO_WORDS),
    (Taught("\u200b\u2060", "cost"), NO_WORDS),
    (Taught("thanks! :pray:", None), NO_WORDS),
    # A tag is trained on as a phrasing of its entry: taught as anything, it changes nothing or contradicts it.
    (Taught("falcon", None), "“falcon” is a tag of entry 'falcon', which the bot answers with that entry"),
    (Taught("Technology Innovation Institute", "falcon"), "“Technology Innovation Institute” is a tag of entry "
                                                          "'falcon', which the bot answers with that entry"),
    (Taught("tii", "llama"), "“tii” is a tag of entry 'falcon', which the bot answers with that entry"),
])
def test_what_cannot_be_taught_is_refused_with_a_reason(kb: KnowledgeBase, taught: Taught, reason: str) -> None:
    assert kb.check_taught(taught) == reason


def test_a_question_is_taught_once_whatever_it_was_taught_as_first(kb: KnowledgeBase) -> None:
    earlier = [Taught("is it pricey to host", "cost"), Taught("who runs mistral's servers", None)]
    assert check_taught(kb.faq, Taught("Is it pricey to host", "cost"), earlier) == (
        "“Is it pricey to host” is already taught as a phrasing of entry 'cost'")
    assert check_taught(kb.faq, Taught("is it pricey to host", None), earlier) == (
        "“is it pricey to host” is already taught as a phrasing of entry 'cost'")
    assert check_taught(kb.faq, Taught("who runs mistral's servers", "mistral"), earlier) == (
        "“who runs mistral's servers” is already taught as not covered")
    assert check_taught(kb.faq, Taught("is it pricey to run", "cost"), earlier) is None


def test_with_taught_sorts_not_covered_into_near_misses_and_out_of_scope_examples(kb: KnowledgeBase) -> None:
    result = with_taught(kb.faq, [Taught("what is falcon's licence", None, near="falcon"),
                                  Taught("what is the office wifi password", None),
                                  Taught("is it pricey to host", "cost")])
    assert result.knowledge["falcon"].near_misses[-1] == "what is falcon's licence"
    assert [(p.text, p.label, p.kind) for p in result.out_of_scope] == [
        ("what is the office wifi password", OUT_OF_SCOPE, TAUGHT_KIND)]
    assert result.knowledge["cost"].alternates[-1] == "is it pricey to host"
    assert result.skipped == () and len(result.applied) == 3
    assert kb.faq["falcon"].near_misses[-1] != "what is falcon's licence"  # the FAQ given is not changed


def test_nothing_taught_leaves_the_faq_itself(kb: KnowledgeBase) -> None:
    assert with_taught(kb.faq, []).knowledge is kb.faq


def test_a_phrasing_taught_with_a_near_entry_is_a_mistake_of_the_caller() -> None:
    with pytest.raises(ValueError, match="not covered"):
        Taught("what does it cost", "cost", near="cost")


def test_a_phrasing_taught_before_that_contradicts_the_faq_is_skipped_when_the_bot_retrains(kb: KnowledgeBase
                                                                                         ) -> None:
    # Accepted before teaching compared phrasings as the matcher reads them: now skipped, with the reason.
    taught = kb.with_taught([Taught("what are the falcon models", None), Taught("\u200b", None),
                             Taught("falcon", None), Taught("is it pricey to host", "cost")])
    assert taught.taught == (Taught("is it pricey to host", "cost"),)
    assert [s.reason for s in taught.skipped] == [
        "“what are the falcon models” is already a phrasing of entry 'falcon'", NO_WORDS,
        "“falcon” is a tag of entry 'falcon', which the bot answers with that entry"]
    assert "what are the falcon models" not in taught.knowledge["falcon"].near_misses


@pytest.mark.parametrize("text", ["<@U1|" * 8_000, "<!here" * 6_666, "< @x " * 8_000])
def test_a_long_question_built_to_stall_the_mention_check_is_refused_at_once(kb: KnowledgeBase, text: str) -> None:
    # Teaching runs on the event loop: the mention check rescanned the text from each "<" (30 times as long).
    def seconds(question: str) -> float:
        start = time.perf_counter()
        assert "is longer than 300 characters" in (kb.check_taught(Taught(question, None)) or "")
        return time.perf_counter() - start

    ordinary = min(seconds(("is llama open source? " * 2_000)[:40_000]) for _ in range(3))
    assert min(seconds(text) for _ in range(3)) < 5 * ordinary + 0.01


def test_a_question_taught_as_an_entry_is_answered_even_where_the_entry_lacks_what_it_asks() -> None:
    shipped = KnowledgeBase.load()  # the shipped FAQ: its hardware entry gives no figures
    question = "how much GPU memory do I need to run mistral 7b"
    before = shipped.ask(question)
    assert (before.status, before.unsaid) == ("suggest", "give that figure")
    taught = shipped.with_taught([Taught(question, "resource-requirements", None),
                                  Taught("what gpu should a hobbyist buy", None, "resource-requirements")])
    # As the admin Home promised: "I answer it from now on", however it is written.
    assert taught.ask(question).answered == ("resource-requirements",)
    assert taught.ask("How much GPU memory do I need to run Mistral 7B?").answered == ("resource-requirements",)
    assert taught.ask("what gpu should a hobbyist buy").status != "answer"  # taught as not covered: still not
