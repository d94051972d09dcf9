"""Block Kit rendering: Slack's limits and escaping, whatever the FAQ holds."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import blocks
from bot.blocks import MAX_BLOCKS, MAX_BUTTON_TEXT, MAX_BUTTON_VALUE, MAX_ID, MAX_SECTION_TEXT
from knowledge import Knowledge, KnowledgeBase, KnowledgeError
from knowledge.content.links import SourceLink

from .slackkit import action_ids, all_text, assert_sendable, button_values


def test_escape_turns_pings_and_links_into_inert_text() -> None:
    assert blocks.escape("<!channel> <@U1> a & b > c") == "&lt;!channel&gt; &lt;@U1&gt; a &amp; b &gt; c"


def test_link_escapes_its_title_and_a_pipe_cannot_end_it_early() -> None:
    text = blocks.link("https://x.test/a?b=1&c=2", "Fish & Chips <v2> | Part 1")
    assert text == "<https://x.test/a?b=1&amp;c=2|Fish &amp; Chips &lt;v2&gt; ∣ Part 1>"
    assert text.count("|") == 1 and text.count("<") == 1 and text.count(">") == 1


def test_source_without_address_shows_its_lines_and_the_work_it_summarises() -> None:
    source = SourceLink("Notes", None, "lines 3-4", "The Paper", "https://arxiv.org/abs/1")
    assert blocks.source_text(source) == (":page_facing_up: Notes (lines 3-4), "
                                          "summarising <https://arxiv.org/abs/1|The Paper>")


_PIECES = [*"ab <>|&\n", "<https://x.test/p|label>", "&amp;", "word ", "paragraph.\n\n"]
_text = st.lists(st.sampled_from(_PIECES), max_size=2500).map("".join)


@given(_text)
def test_split_text_respects_the_section_limit_and_never_cuts_a_link(text: str) -> None:
    parts = blocks.split_text(text)
    assert all(len(p) <= MAX_SECTION_TEXT for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    for part in parts:
        assert part.count("<https://x.test/p|label>") == part.count("<https://")


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
_sentence = st.builds(lambda first, rest, end: " ".join([first.capitalize(), *rest]) + end,
                      _word, st.lists(_word, max_size=20), st.sampled_from([".", "?", "!", "?*", "._"]))
# (" · " joins the items of one list line, which is kept whole when it fits: see the next test.)
_prose = st.lists(st.tuples(_sentence, st.sampled_from([" ", "\n", "\n\n"])), min_size=1, max_size=80)


@given(_prose)
def test_split_text_cuts_only_between_sentences_when_every_sentence_fits(pieces: list[tuple[str, str]]) -> None:
    text = "".join(sentence + gap for sentence, gap in pieces)[:-len(pieces[-1][1])]
    parts = blocks.split_text(text, limit=300)
    assert all(len(p) <= 300 for p in parts)
    for part in parts:
        # Each piece is whole sentences: it begins one and ends one (never "What are the" / "challenges and ...").
        assert part[:1].isupper(), part
        assert part.rstrip("*_").endswith((".", "?", "!")), part
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_a_list_is_cut_between_its_lines_not_inside_an_item() -> None:
    lines = [f"*topic {i}*: What are the challenges and limitations of model {i}? · Is model {i} open?"
             for i in range(200)]
    parts = blocks.split_text("\n".join(lines))
    assert len(parts) > 1
    assert all(line in lines for part in parts for line in part.split("\n"))


def test_long_answer_is_split_over_several_sections(kb: KnowledgeBase) -> None:
    entry = replace(kb.entry("licensing"), answer=("A long paragraph of answer text. " * 60 + "\n\n") * 5)
    reply = blocks.entry_reply(kb, entry)
    answer = [b for b in reply.blocks if b.get("block_id", "").startswith("answer-")]
    assert len(answer) >= 4
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in answer)
    assert len(reply.text) <= blocks.MAX_FALLBACK_TEXT


def test_huge_answer_keeps_within_50_blocks_and_keeps_its_buttons(kb: KnowledgeBase) -> None:
    entry = replace(kb.entry("licensing"), answer="word " * 200_000)
    reply = blocks.entry_reply(kb, entry, shareable=True)
    assert len(reply.blocks) <= MAX_BLOCKS
    assert action_ids(reply.blocks)[-3:] == ["helpful:licensing", "not_helpful:licensing", "share:licensing"]


def test_buttons_respect_text_value_and_id_limits(kb: KnowledgeBase) -> None:
    long_id = "x" * 400
    entry = replace(kb.entry("licensing"), id=long_id, question="Why? " * 40)
    reply = blocks.entry_reply(kb, entry, shareable=True)
    for block in reply.blocks:
        assert len(block.get("block_id", "")) <= MAX_ID
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= MAX_BUTTON_TEXT
                assert len(element["value"]) <= MAX_BUTTON_VALUE
                assert len(element["action_id"]) <= MAX_ID
    related = [e for b in reply.blocks if b["type"] == "actions" for e in b["elements"]
               if e["action_id"].startswith("related:")]
    assert len(related[0]["text"]["text"]) <= MAX_BUTTON_TEXT


def test_action_ids_are_unique_within_a_message(kb: KnowledgeBase) -> None:
    for entry in kb.knowledge.entries:
        ids = action_ids(blocks.entry_reply(kb, entry, shareable=True).blocks)
        assert len(ids) == len(set(ids))


def test_faq_question_text_is_escaped_in_answers(kb: KnowledgeBase) -> None:
    entry = replace(kb.entry("licensing"), question="Is <!here> & co OK?")
    assert "Is &lt;!here&gt; &amp; co OK?" in all_text(blocks.entry_reply(kb, entry).blocks)


def _within_limits(block_list: list[dict], max_blocks: int) -> None:
    assert len(block_list) <= max_blocks
    for block in block_list:
        if isinstance(block.get("text"), dict):
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= MAX_BUTTON_TEXT and len(element["action_id"]) <= MAX_ID


def test_every_reply_from_the_shipped_faq_is_within_slacks_limits() -> None:
    try:
        shipped = KnowledgeBase.load()
    except KnowledgeError as exc:  # the FAQ's own tests report this
        pytest.skip(f"the shipped FAQ does not load: {exc}")
    for entry in shipped.knowledge.entries:
        _within_limits(blocks.entry_reply(shipped, entry, shareable=True).blocks, MAX_BLOCKS)
    for reply in (blocks.topics_reply(shipped, "/openllm"), blocks.usage_reply(shipped, "/openllm"),
                  blocks.intro_reply(shipped, "/openllm")):
        _within_limits(reply.blocks, MAX_BLOCKS)
    _within_limits(blocks.home_view(shipped, "/openllm")["blocks"], blocks.MAX_HOME_BLOCKS)


def themed(kb: KnowledgeBase, files: dict[str, str]) -> KnowledgeBase:
    """`kb` with its entries moved into other FAQ files (entry id: file), as if the FAQ had been written so."""
    entries = tuple(replace(e, file=files.get(e.id, e.file)) for e in kb.knowledge.entries)
    return replace(kb, knowledge=Knowledge(entries, kb.knowledge.documents))


@pytest.mark.parametrize(("file", "theme"), [("knowledge/faq/basics.yaml", "Basics"),
                                             ("/srv/faq/open-models.yaml", "Open models"),
                                             ("faq/safety_and_bias.yaml", "Safety and bias"), ("", "Other")])
def test_a_theme_is_named_after_its_faq_file(file: str, theme: str) -> None:
    assert blocks.theme_name(file) == theme


def test_topics_reply_has_a_header_per_theme_and_each_question_as_a_button(kb: KnowledgeBase) -> None:
    faq = themed(kb, {"licensing": "faq/open-licences.yaml", "llama": "faq/models.yaml",
                      "attention": "faq/models.yaml"})
    reply = blocks.topics_reply(faq, "/openllm")
    themes = [(b["text"]["text"], [(e["text"]["text"], e["action_id"], e["value"]) for e in after["elements"]])
              for b, after in zip(reply.blocks, reply.blocks[1:], strict=False) if b["type"] == "header"]
    assert themes == [
        ("Open licences", [("Can we use open LLMs commercially?", "related:licensing", "licensing")]),
        ("Models", [("What are Meta's LLaMA models?", "related:llama", "llama"),
                    ("What is the attention mechanism?", "related:attention", "attention")]),
    ]
    assert reply.text.endswith("*Open licences*\n• Can we use open LLMs commercially?\n\n"
                               "*Models*\n• What are Meta's LLaMA models?\n• What is the attention mechanism?")
    assert "`/openllm QUESTION-OR-TOPIC`" in all_text(reply.blocks)
    assert not any(b.get("block_id") == "more" for b in reply.blocks)  # everything fits: no note


def test_usage_and_introduction_name_the_themes_and_a_few_topic_words(kb: KnowledgeBase) -> None:
    faq = themed(kb, {"licensing": "faq/open-licences.yaml", "llama": "faq/models.yaml"})
    for reply in (blocks.usage_reply(faq, "/openllm"), blocks.intro_reply(faq, "/openllm")):
        assert ("I know about *Open licences*, *Models* and *Small*: ask a question, or a topic such as "
                "`licensing`, `llama`, `attention`.") in all_text(reply.blocks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80),
       st.lists(st.text(min_size=1, max_size=120).map(lambda q: q.strip() or "?"), min_size=1, max_size=5),
       st.booleans())
@example([60] * 80, ["What is it?"], True)  # far too many
@example([1] * 24, ["What is it?"], False)  # just fits: no note
@example([1] * 25, ["What is it?"], False)  # one theme too many
def test_any_number_of_themes_and_questions_gives_a_valid_topics_message(kb: KnowledgeBase, sizes: list[int],
                                                                         questions: list[str], long: bool) -> None:
    # Some ids, when `long`, are too long for an action id: clipped, they would all be the same.
    def entry_id(theme: int, n: int) -> str:
        return f"{'x' * 300}-t{theme}-q{n}" if long and n % 3 == 0 else f"t{theme}-q{n}"

    entries = [replace(kb.knowledge["licensing"], id=entry_id(t, n), question=questions[n % len(questions)],
                       file=f"faq/theme-{t}.yaml") for t, size in enumerate(sizes) for n in range(size)]
    faq = replace(kb, knowledge=Knowledge(tuple(entries), kb.knowledge.documents))
    reply = blocks.topics_reply(faq, "/openllm")
    assert_sendable(reply.as_kwargs())
    block_ids, clicks = [b["block_id"] for b in reply.blocks], action_ids(reply.blocks)
    assert len(set(block_ids)) == len(block_ids) and len(set(clicks)) == len(clicks)
    shown = button_values(reply.blocks, "related")
    assert set(shown) <= {e.id for e in entries} and len(set(shown)) == len(shown)
    # Whatever is not shown is counted, with how to ask about it.
    notes = [re.fullmatch(r"…and (\d+) more questions? \(in .+\): ask me with `/openllm QUESTION-OR-TOPIC`\.",
                          b["elements"][0]["text"]) for b in reply.blocks if b["block_id"] == "more"]
    assert all(notes) and len(shown) + sum(int(m.group(1)) for m in notes if m) == len(entries)
    _within_limits(blocks.home_view(faq, "/openllm")["blocks"], blocks.MAX_HOME_BLOCKS)
    assert len(blocks.usage_reply(faq, "/openllm").text) <= blocks.MAX_FALLBACK_TEXT


@pytest.mark.parametrize(("sizes", "unlisted"), [((3,), 0), ((100,), 0), ((150, 60), 0), ((101,) * 99, 4949),
                                                 ((60,) * 120, 1200)])
def test_another_entry_lists_every_entry_a_select_can_hold_and_counts_the_rest(
        kb: KnowledgeBase, sizes: tuple[int, ...], unlisted: int) -> None:
    entries = [replace(kb.knowledge["licensing"], id=f"t{t}-q{n}", question=f"Question {n} of theme {t}?",
                       file=f"faq/theme-{t}.yaml") for t, size in enumerate(sizes) for n in range(size)]
    faq = replace(kb, knowledge=Knowledge(tuple(entries), kb.knowledge.documents))
    select, missing = blocks.entry_select(faq)
    groups = select.get("option_groups", [{"options": select.get("options", [])}])
    listed = [o["value"] for g in groups for o in g["options"]]
    assert missing == unlisted and len(listed) == len(entries) - unlisted
    assert len(groups) <= blocks.MAX_OPTIONS and all(len(g["options"]) <= blocks.MAX_OPTIONS for g in groups)
    assert listed == [e.id for e in entries][:len(listed)]  # in FAQ order, each once
    if len(entries) > blocks.MAX_OPTIONS:  # by theme, a theme too long for one group in several
        assert groups[0]["label"]["text"] == "Theme 0" and groups[1]["label"]["text"] in ("Theme 0 (2)", "Theme 1")


def test_sources_name_each_document_once_with_its_passages_under_it() -> None:
    blog = [SourceLink("Blog", f"https://b.test/p#:~:text={n}", f"line {n}") for n in (3, 9, 3)]
    notes = [SourceLink("Notes", None, "line 5", "The Paper", "https://arxiv.org/abs/1"),
             SourceLink("Notes", None, "line 5", "The Paper", "https://arxiv.org/abs/1"),
             SourceLink("Notes", None, "lines 8-9", "The Paper", "https://arxiv.org/abs/1")]
    single = SourceLink("Post", "https://p.test/#:~:text=x", "line 1")
    assert blocks.sources_text([blog[0], notes[0], blog[1], single, notes[1], blog[2], notes[2]]) == [
        ":page_facing_up: Blog: <https://b.test/p#:~:text=3|passage 1>, <https://b.test/p#:~:text=9|passage 2>",
        ":page_facing_up: Notes (line 5, lines 8-9), summarising <https://arxiv.org/abs/1|The Paper>",
        ":page_facing_up: <https://p.test/#:~:text=x|Post>",
    ]
