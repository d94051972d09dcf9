"""`/openllm QUESTION-OR-TOPIC`: answered privately (with a button to share the answer in the channel)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from ...answering import Question
from ..deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(deps.command)
    async def on_command(ack: Any, command: dict, respond: Any) -> None:
        await ack()
        question = Question(command.get("text", ""), "slash", command.get("user_id"), command.get("channel_id"),
                            command.get("team_id"))
        handled = await deps.answer(question)
        try:
            await respond(response_type="ephemeral", **handled.reply.as_kwargs())
        finally:
            deps.record(question, handled)
