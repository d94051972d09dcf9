"""Logs an operator can use: LOG_FORMAT=json gives one JSON object a line (time, level, logger, message, and where
known event, workspace, status, latency); a line per Slack request at INFO, health checks at DEBUG; never a token,
and never what people wrote at INFO or above."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import aiohttp
import pytest

from bot.app import web_client
from bot.config import Config
from bot.fakeslack import FakeSlack
from bot.logs import BOLT_LOGGER, CLIENT_LOGGER, OAUTH_LOGGER, JsonLines, TextLines, level_library_loggers

from .slackkit import FIXTURE_FAQ, LICENSING_Q, SECRET, Slack
from .test_deploy import ROOT, _free_port, _stop, _wait_healthy

TOKEN = "xoxb-1234-5678-abcdefSECRET"


def _record(message: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", level, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_the_time_level_logger_message_and_the_fields_the_line_knows() -> None:
    line = JsonLines().format(_record("POST %s %d", "/slack/events", 200, event="http_request", workspace="T0FAKE",
                                      status=200, latency_ms=3.5, outcome=None))
    assert "\n" not in line
    found = json.loads(line)
    assert found.pop("time").endswith("+00:00")
    assert found == {"level": "INFO", "logger": "bot.test", "message": "POST /slack/events 200",
                     "event": "http_request", "workspace": "T0FAKE", "status": 200, "latency_ms": 3.5}


def test_a_json_line_carries_the_traceback_in_one_field_and_no_token_anywhere() -> None:
    try:
        raise RuntimeError(f"refused {TOKEN}")
    except RuntimeError:
        record = logging.LogRecord("bot.test", logging.ERROR, __file__, 1, "failed with %s", (TOKEN,), sys.exc_info())
    for formatted in (JsonLines().format(record), TextLines().format(record)):
        assert TOKEN not in formatted and "[redacted]" in formatted
    found = json.loads(JsonLines().format(record))
    assert found["level"] == "ERROR" and "RuntimeError: refused [redacted]" in found["exception"]


async def test_a_slack_request_is_logged_at_info_with_its_workspace_and_latency_and_health_at_debug(
        slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.access")
    async with aiohttp.ClientSession() as http, http.get(slack.url + "/healthz") as response:
        assert response.status == 200
    payload = slack.fake.mention_payload(LICENSING_Q)
    await slack.fake.send_event(payload)
    await slack.reply()
    lines = [r for r in caplog.records if r.name == "bot.access"]
    assert [(r.levelno, r.getMessage().split(" in ")[0]) for r in lines] == [
        (logging.DEBUG, "GET /healthz 200"), (logging.INFO, "POST /slack/events 200")]
    request = lines[1]
    assert f"event {payload['event_id']}, workspace T0FAKE" in request.getMessage()
    assert (request.event, request.workspace, request.status) == ("http_request", "T0FAKE", 200)  # type: ignore[attr-defined]
    assert 0 <= request.latency_ms < 5000  # type: ignore[attr-defined]


async def test_serve_with_log_format_json_writes_json_lines_without_tokens_or_what_people_wrote(
        fake: FakeSlack) -> None:
    question = f"{LICENSING_Q} zebracorn"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_", "LOG_"))}
    env.update({"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": fake.api_url, "SLACK_SIGNING_SECRET": SECRET,
                "PORT": str(port), "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "DOTENV_PATH": os.devnull,
                "STORE_ENABLED": "false", "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", env=env, cwd=ROOT,
                                                   stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url, process)
        fake.send_over_http(url + "/slack/events", SECRET)
        await fake.mention(question)
        await fake.message(question)
        await fake.slash("/openllm", question)
        await fake.wait_for("chat.postMessage", 2)
        await fake.wait_for("response_url")
        assert await _stop(process) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in (await process.stderr.read()).decode().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert not any(TOKEN in json.dumps(line) for line in lines)
    loud = [line for line in lines if line["level"] != "DEBUG"]
    assert not any("zebracorn" in json.dumps(line) for line in loud)
    health = [line for line in lines if line["logger"] == "bot.access" and "/healthz" in line["message"]]
    assert health and {line["level"] for line in health} == {"DEBUG"}
    requests = [line for line in loud if line.get("event") == "http_request"]
    assert len(requests) == 3 and {line["workspace"] for line in requests} == {"T0FAKE"}
    assert all(line["status"] == 200 and line["latency_ms"] >= 0 for line in requests)


@pytest.mark.parametrize(("level", "formatted"), [("INFO", False), ("DEBUG", True)])
async def test_a_web_api_call_is_not_written_out_for_a_debug_line_the_log_would_drop(
        fake: FakeSlack, level: str, formatted: bool) -> None:
    # slack_sdk writes every request and response (a reply's whole blocks) into a debug line whenever the client's
    # logger has no level of its own, whatever the log then keeps: under a burst, ~9% of the bot's CPU.
    written: list[str] = []

    class Watched(str):
        def __repr__(self) -> str:
            written.append(str(self))
            return super().__repr__()

    loggers = [logging.getLogger(name) for name in (CLIENT_LOGGER, BOLT_LOGGER, OAUTH_LOGGER)]
    before = [logger.level for logger in loggers]
    try:
        level_library_loggers(level)
        client = web_client(Config(bot_token="xoxb-test", api_url=fake.api_url))
        await client.chat_postMessage(channel="CGENERAL", text=Watched("an answer"))
    finally:
        for logger, was in zip(loggers, before, strict=True):
            logger.setLevel(was)
    assert [c.args["text"] for c in fake.calls_to("chat.postMessage")] == ["an answer"]
    assert bool(written) is formatted
