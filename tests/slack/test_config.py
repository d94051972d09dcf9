"""Start-up: settings from the environment, one clear line and exit code 2 when one is wrong, no secrets logged."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest
from repo_paths import FIXTURE_FAQ

from bot.cli import main
from bot.config import Config, ConfigError, Settings
from bot.fakeslack import FakeSlack
from bot.serve import RedactSecrets

from .slackkit import SECRET

HTTP_ENV = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": SECRET}
SOCKET_ENV = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-A1-abc"}


def test_http_settings_and_their_defaults() -> None:
    config = Config.from_env("http", HTTP_ENV)
    assert (config.port, config.command, config.api_url, config.log_level) == (3000, "/openllm", None, "INFO")
    assert config.signing_secret == SECRET and config.app_token is None


def test_socket_settings_read_every_variable() -> None:
    env = {**SOCKET_ENV, "PORT": "8080", "SLACK_API_URL": "https://slack-gov.com/api", "SLACK_COMMAND": "/askllm",
           "LOG_LEVEL": "debug"}
    config = Config.from_env("socket", env)
    assert config.app_token == "xapp-1-A1-abc"
    assert (config.port, config.api_url, config.command, config.log_level) == (
        8080, "https://slack-gov.com/api/", "/askllm", "DEBUG")


def test_secrets_stay_out_of_the_config_repr() -> None:
    text = repr(Config.from_env("http", HTTP_ENV)) + repr(Config.from_env("socket", SOCKET_ENV))
    assert "xoxb-" not in text and "xapp-" not in text and SECRET not in text


BAD = [
    ("http", {"SLACK_SIGNING_SECRET": SECRET}, "SLACK_BOT_TOKEN is not set"),
    ("http", {**HTTP_ENV, "SLACK_BOT_TOKEN": "xapp-oops"}, "SLACK_BOT_TOKEN should start with 'xoxb-'"),
    ("http", {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
    ("http", {**HTTP_ENV, "SLACK_SIGNING_SECRET": "not hex!"}, "SLACK_SIGNING_SECRET is not 16 to 128 hexa"),
    ("socket", {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN is not set"),
    ("socket", {**SOCKET_ENV, "SLACK_APP_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN should start with 'xapp-'"),
    ("http", {**HTTP_ENV, "PORT": "eighty"}, "PORT='eighty' is not a port number"),
    ("http", {**HTTP_ENV, "PORT": "70000"}, "PORT='70000' is not a port number"),
    ("http", {**HTTP_ENV, "SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL='slack.com/api' is not an http(s) URL"),
    ("http", {**HTTP_ENV, "SLACK_COMMAND": "openllm"}, "SLACK_COMMAND='openllm' is not a slash command"),
    ("http", {**HTTP_ENV, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not a log level"),
]


@pytest.mark.parametrize(("mode", "env", "message"), BAD, ids=[b[2].split()[0] for b in BAD])
def test_a_missing_or_malformed_variable_is_named_with_what_to_do(mode, env, message) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(mode, env)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text
    assert ": " in text[len(message):] or "set it" in text  # says what to do


def test_serve_stops_with_one_line_and_exit_code_2(monkeypatch, capsys) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    monkeypatch.setenv("DOTENV_PATH", "/dev/null")
    assert main(["--faq", str(FIXTURE_FAQ), "serve", "--http"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("openllm-bot: SLACK_SIGNING_SECRET is not set")
    assert "Traceback" not in err


async def test_serve_stops_with_one_line_when_slack_refuses_the_token(monkeypatch, capsys,
                                                                     fake: FakeSlack) -> None:
    monkeypatch.setenv("DOTENV_PATH", "/dev/null")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    monkeypatch.setenv("SLACK_API_URL", fake.api_url)
    fake.fail("auth.test", "invalid_auth")
    assert await asyncio.to_thread(main, ["--faq", str(FIXTURE_FAQ), "serve", "--socket"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("openllm-bot: SLACK_BOT_TOKEN was refused by Slack (invalid_auth): copy the Bot User "
                           "OAuth Token again and reinstall the app if needed")


def test_slack_tokens_are_redacted_from_log_lines(caplog) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("token %s and %s", "xoxb-123-456-abcDEF", "xapp-1-A2-xyz")
    assert "xoxb-" not in caplog.text and "xapp-" not in caplog.text
    assert "[redacted]" in caplog.text


def test_operating_settings_and_their_defaults() -> None:
    default = Config.from_env("http", HTTP_ENV)
    assert (default.redis_url, default.dedup_ttl, default.shutdown_grace) == (None, 3600, 10.0)
    env = {**HTTP_ENV, "REDIS_URL": "redis://cache:6379/1", "DEDUP_TTL_SECONDS": "600",
           "SHUTDOWN_GRACE_SECONDS": "2.5"}
    config = Config.from_env("http", env)
    assert (config.redis_url, config.dedup_ttl, config.shutdown_grace) == ("redis://cache:6379/1", 600, 2.5)
    assert "cache" not in repr(config)  # a Redis URL may hold a password


@pytest.mark.parametrize(("name", "value"), [("REDIS_URL", "cache:6379"), ("DEDUP_TTL_SECONDS", "soon"),
                                             ("DEDUP_TTL_SECONDS", "0"), ("SHUTDOWN_GRACE_SECONDS", "-1")])
def test_malformed_operating_settings_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env("http", {**HTTP_ENV, name: value})


def test_one_settings_object_holds_the_faq_store_and_slack_settings(tmp_path) -> None:
    env = {**HTTP_ENV, "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "STORE_PATH": str(tmp_path / "q.sqlite3"),
           "MATCH_ANSWER_THRESHOLD": "0.9", "SOURCE_BASE_URL": "https://git.example.com/"}
    settings = Settings.from_env(env, mode="http")
    assert settings.faq.faq_dir == FIXTURE_FAQ and settings.faq.thresholds.answer == 0.9
    assert settings.store.url == f"sqlite:///{tmp_path / 'q.sqlite3'}" and settings.store.chosen
    assert settings.slack.mode == "http" and settings.slack.signing_secret == SECRET
    assert Settings.from_env(env).slack is None  # commands that do not serve Slack need no credentials


@pytest.mark.parametrize("env", [{"PORT": "abc"}, {"MATCH_ANSWER_THRESHOLD": "abc"}, {"STORE_HASH_KEY": "short"},
                                 {"RATE_LIMIT_PER_MINUTE": "many"}, {"MATCHING_PROCESSES": "-1"},
                                 {"MATCHING_PROCESSES": "two"}])
def test_every_malformed_setting_is_a_config_error_with_one_exit_code(env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DOTENV_PATH", "/dev/null")
    for name, value in {**HTTP_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    assert main(["--faq", str(FIXTURE_FAQ), "serve", "--http"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and next(iter(env)) in err


@pytest.mark.parametrize(("env", "faq_dir", "origin"), [
    ({"KNOWLEDGE_DIR": "/nonexistent/faq"}, None, "KNOWLEDGE_DIR"),
    ({"SEEDS_DIR": "/nonexistent/seeds"}, None, "SEEDS_DIR"),
    ({}, "/nonexistent/faq", "the command line"),
])
def test_a_folder_that_is_not_there_is_a_config_error_naming_where_it_came_from(env, faq_dir, origin) -> None:
    with pytest.raises(ConfigError, match=f"/nonexistent/.* \\(from {origin}\\) is not a folder"):
        Settings.from_env(env, faq_dir=faq_dir)


def test_run_serves_slack_when_a_bot_token_is_set_and_the_console_otherwise() -> None:
    assert Settings.from_env(HTTP_ENV, mode="if configured").slack.mode == "http"
    assert Settings.from_env(SOCKET_ENV, mode="if configured").slack.mode == "socket"
    assert Settings.from_env({}, mode="if configured").slack is None


def test_run_with_a_bot_token_but_no_signing_secret_says_so_in_one_line(monkeypatch, capsys) -> None:
    for name in ("SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOTENV_PATH", "/dev/null")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    assert main(["--faq", str(FIXTURE_FAQ), "run"]) == 2
    assert capsys.readouterr().err.startswith("openllm-bot: SLACK_SIGNING_SECRET is not set")


# Settings checked once, all at once, for every command (issue 24, item 4)

def test_every_mistake_is_said_in_one_run_one_line_each(tmp_path, monkeypatch, capsys) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=eighty\nLOG_LEVEL=LOUD\nSTORE_HASH_KEY=short\nMATCH_ANSWER_THRESHOLD=2\n"
                      "SLACK_SIGNING_SECRET=not-hex\n", encoding="utf-8")
    # The .env is loaded into the environment: a copy of it, so that nothing is left for the next test.
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))})
    monkeypatch.setenv("DOTENV_PATH", str(dotenv))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    assert main(["--faq", str(FIXTURE_FAQ), "serve", "--http"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("openllm-bot: ") for line in lines)
    assert [line.removeprefix("openllm-bot: ").split("=")[0].split()[0] for line in lines] == [
        "MATCH_ANSWER_THRESHOLD", "STORE_HASH_KEY", "SLACK_SIGNING_SECRET", "PORT", "LOG_LEVEL"], lines


def test_settings_gather_every_problem_of_every_part() -> None:
    env = {"KNOWLEDGE_DIR": "/nonexistent/faq", "SEEDS_DIR": "/nonexistent/seeds", "STORE_QUESTION_TEXT": "maybe",
           "DATABASE_URL": "postgres://u@db/bot", "MATCH_SUGGEST_THRESHOLD": "x", "FOLLOW_UP_HOURS": "0"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, mode="socket")
    assert [line.split()[0] for line in caught.value.lines] == [
        "/nonexistent/faq", "/nonexistent/seeds", "MATCH_SUGGEST_THRESHOLD='x'", "STORE_QUESTION_TEXT='maybe'",
        "STORE_HASH_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "FOLLOW_UP_HOURS='0'"]
    assert str(caught.value) == "\n".join(caught.value.lines)


@pytest.mark.parametrize("command", [["ask", "licence"], ["validate"], ["topics"], ["console"]])
def test_commands_that_do_not_serve_slack_refuse_its_malformed_settings_too(command, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DOTENV_PATH", "/dev/null")
    monkeypatch.setenv("PORT", "x")
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "-1")
    assert main(["--faq", str(FIXTURE_FAQ), *command]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "openllm-bot: PORT='x' is not a port number: set it to e.g. 3000 or unset it",
        "openllm-bot: RATE_LIMIT_PER_MINUTE='-1' is not a number of questions: set it to e.g. 20 (0 for no limit) or "
        "unset it"]


def test_commands_that_do_not_serve_slack_need_no_slack_settings_but_check_those_set() -> None:
    assert Settings.from_env({}).slack is None
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN should start with 'xoxb-'"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxp-a-user-token"})


@pytest.mark.parametrize(("value", "ttl"), [("1", 1), ("1.9", 1), ("600", 600)])
def test_the_dedup_ttl_is_whole_seconds(value: str, ttl: int) -> None:
    assert Config.from_env("http", {**HTTP_ENV, "DEDUP_TTL_SECONDS": value}).dedup_ttl == ttl


@pytest.mark.parametrize("value", ["0.5", "0.999", "0"])
def test_a_dedup_ttl_that_would_be_0_seconds_is_refused(value: str) -> None:
    # Redis keeps it in whole seconds: 0.5 was taken as 0, so that a retried event was answered twice.
    with pytest.raises(ConfigError, match=f"DEDUP_TTL_SECONDS='{value}' is not a number of seconds, 1 or more"):
        Config.from_env("http", {**HTTP_ENV, "DEDUP_TTL_SECONDS": value})


def test_the_log_format_is_text_or_json() -> None:
    assert Config.from_env("http", HTTP_ENV).log_format == "text"
    assert Config.from_env("http", {**HTTP_ENV, "LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match=r"LOG_FORMAT='xml' is not a log format: set it to text .* or json"):
        Config.from_env("http", {**HTTP_ENV, "LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "yaml"})  # whatever the command


@pytest.mark.parametrize(("name", "value", "says"), [
    ("SLACK_API_URL", "https://user:hunter2@slack.example/api/", "SLACK_API_URL holds a user name or password"),
    ("SLACK_API_URL", "https://slack.example:api/", "SLACK_API_URL='https://slack.example:api/' has a port that"),
    ("REDIS_URL", "redis://:hunter2@cache:abc/0", "REDIS_URL cannot be read (Port could not be cast to integer"),
    ("REDIS_URL", "redis://:hunter2@cache:6379/0?socket_timeout=soon", "REDIS_URL cannot be read (Invalid value"),
])
def test_urls_the_clients_could_not_use_are_refused_without_their_password(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env("http", {**HTTP_ENV, name: value})
    assert str(caught.value).startswith(says) and "hunter2" not in str(caught.value)


def test_matching_processes_are_one_per_cpu_unless_set(monkeypatch) -> None:
    from bot.config import matching_processes_default

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2})
    assert matching_processes_default() == 3
    assert Settings.from_env({**HTTP_ENV}, mode="http").slack.matching_processes == 3
    assert Settings.from_env({**HTTP_ENV, "MATCHING_PROCESSES": "0"}, mode="http").slack.matching_processes == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    assert Settings.from_env({**HTTP_ENV}, mode="http").slack.matching_processes == 0  # one CPU: threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(64)))
    assert matching_processes_default() == 4  # one event loop feeds them
    assert Settings.from_env({**HTTP_ENV, "MATCHING_PROCESSES": "8"}, mode="http").slack.matching_processes == 8
