"""Hostile and odd input through the real HTTP path: each gets a sane reply within Slack's limits that pings
nobody."""

from __future__ import annotations

import pytest

from bot.fakeslack import FakeSlack

from .slackkit import LICENSING_Q, Slack, assert_sendable

HOSTILE = {
    "empty": "",
    "only spaces": "   \t  ",
    "long": "what is llama " + "x" * 40_000,
    "many words": "licence " * 6_000,
    "only emoji": "🦙🦙🦙 :wave: :llama: 🤖",
    "code block": "```\nimport torch\nprint('licence')\n```",
    "inline code": "`rm -rf /` licence",
    "right to left": "\u202eecnecil\u202c ما هو الترخيص؟ מה הרישיון",
    "control characters": "\x00\x01\x07\x1b[31mlicence\x7f\u200b\ufeff",
    "special mentions": "<!channel> <!here> <!everyone> <!subteam^S123|@team> licence",
    "only a ping": "<!here>",
    "escaped pings": "&lt;!channel&gt; &lt;@U123&gt; licence",
    "user and channel refs": "<@U0EVIL> <@W0EVIL|evil> in <#C0GENERAL|general> what about licences?",
    "links": "<https://evil.example/x|click me> <mailto:a@b.c|mail> licence",
    "markup": "*bold* _it_ ~strike~ > quote &amp; &lt;tag&gt; llama",
    "newlines": "licence\n\n\n\nterms\r\n",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_odd_mentions_get_a_sendable_reply_that_pings_nobody(slack: Slack, text: str) -> None:
    await slack.fake.mention(text)
    assert_sendable(await slack.reply())


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
async def test_odd_direct_messages_get_a_sendable_reply_that_pings_nobody(slack: Slack, fake: FakeSlack,
                                                                         text: str) -> None:
    await fake.message(text)
    assert_sendable(await slack.reply())


@pytest.mark.parametrize("name", ["long", "special mentions", "user and channel refs", "right to left"])
async def test_odd_slash_commands_get_a_sendable_reply_that_pings_nobody(slack: Slack, name: str) -> None:
    await slack.fake.slash("/openllm", HOSTILE[name])
    assert_sendable(await slack.reply("response_url"))


async def test_a_question_wrapped_in_pings_and_links_is_still_answered(slack: Slack) -> None:
    await slack.fake.mention(f"<!channel> <@U0EVIL> {LICENSING_Q} <https://x.example|see>")
    reply = await slack.reply()
    assert_sendable(reply)
    assert "read the licence" in reply["text"] or any(
        "read the licence" in b.get("text", {}).get("text", "") for b in reply["blocks"])
