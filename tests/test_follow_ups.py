"""What a reply in a thread the bot answered in is: a question (alone, or with the thread's question),
a request to stop following the thread, or talk among people that the bot leaves alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.follow_ups import (
    FOLLOW_UPS_FILE,
    FollowUp,
    classify,
    load_vocabulary,
    points_back,
    shipped_vocabulary,
)
from knowledge import KnowledgeError

BOT = "U0BOT42"
LAST_QUESTION = "How much GPU memory does Llama 3 70B need?"


def follow_up(reply: str, last_question: str | None = LAST_QUESTION) -> FollowUp:
    return classify(reply, BOT, last_question, shipped_vocabulary())


CHIT_CHAT = [
    "thanks!",
    "thank you so much :pray:",
    "ok cool",
    "+1",
    "lol",
    "nice",
    "got it",
    ":+1:",
    ":tada: :raised_hands:",
    "👍",
    "cool, thanks!",
    "makes sense, ty",
    "haha nice one",
    "ah got it, thanks",
    "awesome :heart:",
    "perfect, that helps",
    "yep",
    "wow",
    "will do!",
    "no worries",
    "Good bot",
    "fair enough",
    "really?",
    "oh, really??",
    "is that so?",
    "wait what?",
    "ok",
    "?",
]


@pytest.mark.parametrize("reply", CHIT_CHAT)
def test_chit_chat_and_acknowledgements_are_left_alone(reply: str) -> None:
    assert follow_up(reply) == FollowUp("ignore", reason="chit-chat")


@pytest.mark.parametrize("reply", [
    "I tried it on my laptop yesterday, worked fine",
    "we went with Mistral in the end",
    "the docs are here: <https://huggingface.co/docs|HF docs>",
    "will try that tomorrow",
    "can confirm, it works on my 4090",
    "should be fine for our use case",
    "Sam, did you see this",
    "don't stop",
])
def test_statements_ask_nothing(reply: str) -> None:
    assert follow_up(reply) == FollowUp("ignore", reason="asks nothing")


STANDALONE = [
    "How much VRAM do I need to run Llama 3 8B in 4-bit?",
    "Which license does Mistral 7B use for commercial products?",
    "What is the difference between LoRA and QLoRA fine-tuning?",
    "Can I run Mixtral on a single RTX 4090?",
    "Where can I download the Falcon 40B weights?",
    "is Gemma licensed for commercial use",
    "who trained the BLOOM model originally?",
    "explain retrieval augmented generation in simple words",
    "Tell me how quantization affects model accuracy",
    "what's the best open model for code generation right now?",
    "does vLLM support speculative decoding yet",
    "Compare Llama 3 and Qwen 2 on multilingual benchmarks",
    "hey, any good guides on fine-tuning Phi-3 with LoRA?",
    "can you recommend an embedding model for semantic search",
    "how do I stop a training run?",
]


@pytest.mark.parametrize("reply", STANDALONE)
def test_a_question_that_stands_alone_is_matched_alone(reply: str) -> None:
    assert follow_up(reply) == FollowUp("ask", reply)


NEEDS_CONTEXT = [
    "and for mistral?",
    "why?",
    "what about that?",
    "is that true for Mistral too?",
    "and the hardware side?",
    "how so?",
    "What about Qwen",
    "same for Gemma?",
    "how about on a Mac?",
    "does it run on CPU only?",
    "Also, is it open source?",
    "can they be used commercially?",
    "but why?",
    "tell me more",
    "what about fine-tuning it?",
    "ok and how much would that cost?",
    "what's the license of those?",
]


@pytest.mark.parametrize("reply", NEEDS_CONTEXT)
def test_a_reply_that_refers_back_is_matched_with_the_threads_question(reply: str) -> None:
    assert follow_up(reply) == FollowUp("ask", f"{LAST_QUESTION}\n{reply}", with_context=True)


def test_a_short_question_needs_the_threads_question_even_without_referring_to_it() -> None:
    # Two content words or fewer: too little to match on its own.
    assert follow_up("what about quantization?").with_context
    assert follow_up("is Mixtral faster?").with_context


@pytest.mark.parametrize(("reply", "only_the_thread_says"), [
    ("who made them?", True),
    ("why?", True),
    ("how so?", True),
    ("is that true for Mistral too?", True),
    ("does it run on CPU only?", True),
    ("and for mistral?", False),
    ("what about the hardware side?", False),
    ("same for Gemma?", False),
    ("what's the weather in berlin?", False),
])
def test_a_reply_points_back_when_it_names_nothing_of_its_own(reply: str, only_the_thread_says: bool) -> None:
    assert points_back(reply, shipped_vocabulary()) is only_the_thread_says


def test_without_a_last_question_a_reply_that_refers_back_is_matched_alone() -> None:
    assert follow_up("and for mistral?", last_question=None) == FollowUp("ask", "and for mistral?")
    assert follow_up("why?", last_question="  ") == FollowUp("ask", "why?")


STOPS = [
    "stop",
    "Stop it!",
    "bot stop",
    "shush",
    "shhh :shushing_face:",
    "be quiet please",
    "no more",
    "unsubscribe",
    "can you stop replying here?",
    "please stop following this thread",
    "ok stop",
    "that's enough, thanks",
    "go away bot",
    "STOP.",
]


@pytest.mark.parametrize("reply", STOPS)
def test_a_request_to_stop_stops(reply: str) -> None:
    assert follow_up(reply) == FollowUp("stop")


@pytest.mark.parametrize("reply", [
    "how do I stop a training run?",
    "what are stop sequences?",
    "does generation stop at the EOS token?",
    "how can I make it be quiet about the warnings?",
])
def test_a_question_about_stopping_is_a_question(reply: str) -> None:
    assert follow_up(reply).kind == "ask"


@pytest.mark.parametrize("reply", [
    "<@U0SAM99> what do you think?",
    "<@W0123ABC|sam> can you check this on your cluster?",
    "<@U0SAM99> stop",
    "thanks <@U0SAM99>!",
])
def test_a_reply_addressed_to_someone_else_is_left_alone(reply: str) -> None:
    assert follow_up(reply) == FollowUp("ignore", reason="addressed to someone else")


@pytest.mark.parametrize("reply", [
    "<!here> anyone tried Mixtral on a Mac?",
    "<!channel> stop",
    "<!subteam^S0ML|@ml-team> and for mistral?",
])
def test_a_reply_to_everyone_is_left_alone(reply: str) -> None:
    assert follow_up(reply) == FollowUp("ignore", reason="addressed to everyone")


@pytest.mark.parametrize("reply", [
    f"<@{BOT}> and for mistral?",
    f"<@{BOT}|openllm> stop",
    f"<@U0SAM99> <@{BOT}> what about gemma?",
])
def test_a_reply_mentioning_the_bot_is_left_to_the_mention_handler(reply: str) -> None:
    # Slack delivers it as an app_mention too, which is answered: one message, one reply.
    assert follow_up(reply) == FollowUp("ignore", reason="mentions the bot")


def test_a_typed_mention_is_only_text() -> None:
    # Slack escapes a typed "<@U...>"; only a real mention addresses someone.
    assert follow_up("what does &lt;@U0SAM99&gt; mean in the API?").kind == "ask"


# ---- follow_ups.yaml


def test_the_shipped_vocabulary_loads() -> None:
    words = load_vocabulary(FOLLOW_UPS_FILE)
    assert ("stop",) in words.stop_phrases and "it" in words.referring and words.short == 2


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "follow_ups.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_vocabulary(path)
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


def test_a_malformed_vocabulary_names_file_line_and_reason(tmp_path: Path) -> None:
    shipped = FOLLOW_UPS_FILE.read_text(encoding="utf-8")
    lines = shipped.splitlines()
    broken = shipped.replace("  short: 2\n", "  short: two\n").replace('"+1", ', "+1, ")
    short_line = lines.index("  short: 2") + 1
    plus_line = next(i for i, line in enumerate(lines, 1) if '"+1"' in line)
    assert _problems(tmp_path, broken) == [
        f"{plus_line}: 'chit_chat.acknowledgements': '+1' is not text (quote it)",
        f"{short_line}: 'context.short' must be a whole number, 0 or more",
    ]


def test_filler_duplicates_and_unknown_fields_are_refused(tmp_path: Path) -> None:
    shipped = FOLLOW_UPS_FILE.read_text(encoding="utf-8")
    broken = (shipped.replace("  acknowledgements: [\n", "  acknowledgements: [\n    thanks, good, cool,\n")
              .replace("  short: 2\n", "  short: 2\n  longest: 9\n"))
    line = broken.splitlines().index("    thanks, good, cool,") + 1
    longest = broken.splitlines().index("  longest: 9") + 1
    problems = _problems(tmp_path, broken)
    assert f"{line}: 'chit_chat.acknowledgements': 'thanks' is only chat filler, which is ignored anyway" in problems
    assert f"{line + 1}: 'chit_chat.acknowledgements': 'cool' is listed twice" in problems  # where it was
    assert any(p.endswith("'good bot' is listed twice (as 'good', without filler)") for p in problems)
    assert f"{longest}: unknown field 'context.longest' (allowed: referring, not_content, short, " \
           "referring_short)" in problems


@pytest.mark.parametrize("text, problem", [
    ("[stop]\n", "1: expected a mapping of chit_chat, stop, ask, context"),
    ("chit_chat: [", "invalid YAML"),
    ("chit_chat: {}\n", "1: 'chit_chat' lacks 'acknowledgements' (a list of phrases)"),
    ("chit_chat: {}\n", "1: missing section 'stop'"),
])
def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    assert any(problem in p for p in _problems(tmp_path, text))


def test_a_stop_phrase_must_say_more_than_the_words_around_one(tmp_path: Path) -> None:
    shipped = FOLLOW_UPS_FILE.read_text(encoding="utf-8")
    broken = shipped.replace("    stop, stop it,", "    just now, stop, stop it,")
    assert any("stop phrase 'just now' is made only of 'around' words" in p for p in _problems(tmp_path, broken))
