"""How the bot's log lines look: text for people to read (the default), or one JSON object a line for a log
pipeline (LOG_FORMAT=json): the time, level, logger and message, what happened (`event`) and, where the line knows
them, the workspace, the outcome and the latency. Slack tokens are blanked out of both, whoever logs them."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_SECRET = re.compile(r"\b(?:xox[a-z]|xapp)-[A-Za-z0-9-]+")
# What a log call may add with `extra=` and JSON lines show as fields of their own (None: left out).
FIELDS = ("event", "workspace", "outcome", "status", "latency_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The loggers handed to Slack's libraries: the Web API client, Bolt, and the OAuth flow and its stores.
CLIENT_LOGGER, BOLT_LOGGER, OAUTH_LOGGER = "bot.slack", "bot.bolt", "bot.oauth"


def level_library_loggers(level: int | str) -> None:
    """Give the loggers handed to Slack's libraries `level` as their own. slack_sdk and Bolt test a logger's own
    level (`logger.level <= DEBUG`), not its effective one, before building their debug lines, and a logger with
    none (NOTSET, 0) passes: every Web API call would format its whole request and response (the reply's blocks,
    the headers) into a string the log then drops; under a burst, ~9% of the bot's CPU."""
    for name in (CLIENT_LOGGER, BOLT_LOGGER, OAUTH_LOGGER):
        logging.getLogger(name).setLevel(level)


def redact(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


class RedactSecrets(logging.Filter):
    """Blank out Slack tokens in any log line's message, whoever logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET.search(message):
            record.msg, record.args = redact(message), None
        return True


class TextLines(logging.Formatter):
    """`TEXT_FORMAT`, tokens blanked out of tracebacks too."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLines(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, the `FIELDS` the line has, and the
    exception's traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for LOG_FORMAT: "json" or "text"."""
    return JsonLines() if log_format == "json" else TextLines()
