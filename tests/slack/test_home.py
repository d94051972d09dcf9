"""App Home: what the bot knows, how to ask, where the answers come from."""

from __future__ import annotations

from .slackkit import Slack, all_text


async def test_app_home_publishes_topics_how_to_ask_and_documents(slack: Slack, kb) -> None:
    await slack.fake.open_home(user="UALICE")
    published = await slack.reply("views.publish")
    assert published["user_id"] == "UALICE"
    view = published["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    shown = all_text(view["blocks"])
    assert "*licensing*: Can we use open LLMs commercially?" in shown
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


async def test_app_home_splits_the_topics_between_lines_never_mid_sentence(fake) -> None:
    # The shipped FAQ's topics fill several sections: each must end where a topic line ends ("What are the" /
    # "challenges and limitations ..." was cut mid-question).
    from knowledge import KnowledgeBase

    from .slackkit import start_slack

    slack = await start_slack(fake, KnowledgeBase.load())
    try:
        await fake.open_home(user="UALICE")
        view = (await slack.reply("views.publish"))["view"]
    finally:
        await slack.runner.cleanup()
    topics = [b["text"]["text"] for b in view["blocks"]
              if b.get("block_id", "").removeprefix("topics-").isdigit()]
    assert len(topics) > 1
    for text in topics:
        for line in text.split("\n"):
            assert line.startswith("*") and line.endswith("?"), line  # `*tag*: question · question?`
