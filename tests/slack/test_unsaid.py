"""'My documents don't say': a question on a covered topic asking for what the documents do not hold."""

from __future__ import annotations

import pytest

from knowledge import KnowledgeBase

from .slackkit import COMMAND, Slack, all_text, button_values


async def test_a_fact_the_documents_lack_gets_an_honest_reply_and_the_entry_as_a_button(shipped_slack: Slack) -> None:
    await shipped_slack.fake.mention("what year was falcon released?")
    reply = await shipped_slack.reply()
    assert reply["text"].startswith("My documents don't give dates. They do cover:")
    assert button_values(reply["blocks"], "suggest") == ["falcon"]
    assert "Falcon" in all_text(reply["blocks"])


async def test_clicking_the_offered_entry_answers_it(shipped_slack: Slack) -> None:
    fake = shipped_slack.fake
    await fake.mention("how do i pip install the transformers library from hugging face")
    posted = await shipped_slack.reply()
    assert posted["text"].startswith("My documents don't give commands or code.")
    await fake.click(fake.visible_messages("CGENERAL")[0], "suggest:hugging-face")
    update = await shipped_slack.reply("chat.update")
    assert "Hugging Face" in all_text(update["blocks"])


async def test_a_near_miss_from_the_faq_says_the_documents_dont_go_into_it(shipped_slack: Slack,
                                                                         shipped_kb: KnowledgeBase) -> None:
    await shipped_slack.fake.slash(COMMAND, shipped_kb.knowledge["nlp-tasks"].near_misses[0])
    reply = await shipped_slack.reply("response_url")
    assert reply["text"].startswith("My documents don't go into that. They do cover:")
    assert button_values(reply["blocks"], "suggest") == ["nlp-tasks"]


@pytest.mark.parametrize("text", ["help me", "I need help", "can you help me", "help me please"])
async def test_a_request_for_help_gets_the_usage_help_not_an_entry(shipped_slack: Slack, text: str) -> None:
    await shipped_slack.fake.mention(text)
    reply = await shipped_slack.reply()
    assert "How to ask" in reply["text"]
    assert button_values(reply["blocks"], "suggest") == []


async def test_a_slash_help_me_gets_the_usage_help(shipped_slack: Slack) -> None:
    await shipped_slack.fake.slash(COMMAND, "help me")
    assert "How to ask" in (await shipped_slack.reply("response_url"))["text"]


async def test_helping_the_community_is_still_a_question_about_contributing(shipped_slack: Slack) -> None:
    await shipped_slack.fake.mention("how can I help the open source community build better models?")
    reply = await shipped_slack.reply()
    assert "contribute" in reply["text"]


@pytest.mark.parametrize("text", ["Kann ich Llama kommerziell nutzen?", "¿Qué es un modelo de lenguaje abierto?",
                                  "什么是开源大语言模型", "Est-ce que je peux utiliser Llama dans un produit ?"])
async def test_a_question_in_another_language_gets_a_note_that_the_bot_speaks_english(shipped_slack: Slack,
                                                                                      text: str) -> None:
    await shipped_slack.fake.mention(text)
    reply = await shipped_slack.reply()
    assert reply["text"].startswith("Sorry, I only understand questions in English")
