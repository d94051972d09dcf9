"""App Home: what the bot knows, how to ask, where the answers come from."""

from __future__ import annotations

from bot import blocks

from .slackkit import Slack, all_text


async def test_app_home_publishes_topics_how_to_ask_and_documents(slack: Slack, kb) -> None:
    await slack.fake.open_home(user="UALICE")
    published = await slack.reply("views.publish")
    assert published["user_id"] == "UALICE"
    view = published["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    shown = all_text(view["blocks"])
    assert "*Small*\n• Can we use open LLMs commercially?\n• What are Meta's LLaMA models?" in shown
    assert "How to ask" in shown and "/openllm topics" in shown
    assert "<https://futuretechblog.space/open-source-large-language-model|Open Source Large Language Models" in shown
    # A document without an address is named, with the published work it summarises linked.
    summarised = "Unpacking the Dynamics of Open Large Language Models, summarising <https://arxiv.org/abs/2509.25397|"
    assert summarised in shown


async def test_opening_the_messages_tab_publishes_nothing(slack: Slack) -> None:
    await slack.fake.open_home(user="UALICE", tab="messages")
    await slack.fake.open_home(user="UBOB")
    calls = await slack.fake.wait_for("views.publish")
    assert [c.args["user_id"] for c in calls] == ["UBOB"]


async def test_app_home_shows_each_theme_with_a_few_example_questions(shipped_slack: Slack, shipped_kb) -> None:
    await shipped_slack.fake.open_home(user="UALICE")
    shown = all_text((await shipped_slack.reply("views.publish"))["view"]["blocks"])
    themes = {theme: entries for theme, entries in blocks.themes(shipped_kb).items() if len(entries) > 3}
    assert len(themes) > 1
    for theme, entries in themes.items():
        examples = "\n".join(f"• {e.question}" for e in entries[:3])
        assert f"*{theme}*\n{blocks.escape(examples)}\n_…and {len(entries) - 3} more_" in shown
        assert entries[3].question not in shown  # the rest are one `/openllm topics` away
    assert "`/openllm topics` lists every question, with buttons that answer them." in shown
