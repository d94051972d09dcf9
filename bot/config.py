"""Every setting the bot has, read from the environment once and checked before anything starts: `Settings`
holds where the FAQ comes from (`FaqSettings`), where questions are recorded (`StoreSettings`) and, to serve
Slack, the Slack app's credentials and behaviour (`Config`). A malformed or missing variable is a `ConfigError`:
one line naming it and what to do, exit code 2. Every variable is checked, whatever the command, and every mistake
is reported in the same run: one line each."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from knowledge import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, KnowledgeBase, Taught, Thresholds
from knowledge.content.phrasings import OUT_OF_SCOPE_FILE
from knowledge.content.written import Written
from knowledge.decision.decide import POLICY_FILES, Policy, load_policy
from knowledge.matching.analysis import SYNONYMS_FILE

Mode = Literal["socket", "http"]
LogFormat = Literal["text", "json"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)
T = TypeVar("T")
_COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")
_WHERE = "from your Slack app's settings (https://api.slack.com/apps)"


class ConfigError(ValueError):
    """Missing or malformed variables: one line each (`lines`), naming it and what to do."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class _Checks:
    """Reads variables one by one, keeping every `ConfigError` rather than stopping at the first."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def read(self, read: Callable[[], T], fallback: T) -> T:
        """`read()`, or `fallback` when it raises a `ConfigError` (kept for `done`)."""
        try:
            return read()
        except ConfigError as exc:
            self.lines.extend(line for line in exc.lines if line not in self.lines)
            return fallback

    def done(self) -> None:
        """Raise one `ConfigError` with every line kept, if any."""
        if self.lines:
            raise ConfigError(*self.lines)


@dataclass(frozen=True)
class Config:
    # Secrets stay out of repr so that logging a Config cannot leak them.
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    # Installed in many workspaces with Bolt's OAuth flow (HTTP mode, no bot token): the app's Client ID and Secret,
    # and the Redirect URL when the app lists more than one (None: the one it lists).
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    mode: Mode = "http"
    port: int = 3000
    api_url: str | None = None
    command: str = "/openllm"
    log_level: str = "INFO"
    log_format: LogFormat = "text"  # text: one line a record as people read it; json: one JSON object a line
    # The console waits for each listener to finish before it prints; a server acks Slack first.
    process_before_response: bool = False
    # Where seen event ids are remembered (None: in this process), and for how long.
    redis_url: str | None = field(default=None, repr=False)
    dedup_ttl: int = 3600
    # How long SIGTERM waits for replies in flight before the process exits.
    shutdown_grace: float = 10.0
    # Whose App Home also shows the last 7 days of questions and votes.
    admin_user_ids: frozenset[str] = frozenset()
    # And the members of this Slack user group (a handle such as faq-keepers, or an id such as S0123ABCD).
    admin_usergroup: str | None = None
    # Where /metrics is served besides (HTTP mode) or instead of (HTTP mode too, then) the main port; None: nowhere
    # else (Socket Mode: nowhere).
    metrics_port: int | None = None
    # Questions one person may ask in any minute (0: no limit); `from_env` defaults to RATE_LIMIT_DEFAULT.
    rate_limit: int = 0
    # Whether replies in a thread the bot answered in are answered without a mention, and for how long after.
    follow_ups: bool = True
    follow_up_hours: float = 24.0
    # Where "Ask the team" posts a question the bot declined or was unsure of: a channel id, or #name (looked up once
    # with conversations.list); None: no such button.
    handoff_channel: str | None = None
    # Worker processes forked to match questions in (bot/workers.py; 0: threads of the serving process). Unset:
    # one per CPU the bot may use when it may use two or more, else 0.
    matching_processes: int = 0

    @property
    def oauth(self) -> bool:
        """Installed in many workspaces with Bolt's OAuth flow (SLACK_CLIENT_ID), rather than with one bot token."""
        return self.client_id is not None

    @classmethod
    def from_env(cls, mode: Mode, env: Mapping[str, str] | None = None) -> Config:
        """The settings `mode` needs; raises `ConfigError` with every problem found."""
        env = os.environ if env is None else env
        checks = _Checks()
        credentials = _credentials(env, mode, checks)
        behaviour = _behaviour(env, checks)
        if mode == "http" and behaviour["metrics_port"] == behaviour["port"]:
            checks.lines.append(f"METRICS_PORT={behaviour['port']} is PORT too: set it to another port to serve "
                                "/metrics apart from Slack's requests, or unset it (/metrics is then on PORT)")
        checks.done()
        return cls(**credentials, mode=mode, **behaviour)

    @staticmethod
    def check_env(env: Mapping[str, str] | None = None) -> None:
        """Check the Slack side's variables as `from_env` does, requiring none of them: a command that does not
        serve Slack refuses a malformed one all the same (it is a mistake in the settings whatever runs)."""
        env = os.environ if env is None else env
        checks = _Checks()
        _credentials(env, None, checks)
        _behaviour(env, checks)
        checks.done()


def _credentials(env: Mapping[str, str], mode: Mode | None, checks: _Checks) -> dict[str, Any]:
    """The tokens and the signing secret: those `mode` needs are required, any other that is set must be well-formed
    (None: none is required). Installing with OAuth (`_oauth`) needs no bot token, and a signing secret whatever
    the command."""
    found: dict[str, Any] = {"bot_token": "", "app_token": None, "signing_secret": None}
    oauth = _installs_with_oauth(env)
    wanted = {"bot_token": mode is not None and not oauth, "app_token": mode == "socket" and not oauth,
              "signing_secret": mode == "http" and not oauth}
    for key, read in (("bot_token", _bot_token), ("app_token", _app_token), ("signing_secret", _signing_secret)):
        name = key.upper()
        if wanted[key] or env.get(f"SLACK_{name}", "").strip():
            found[key] = checks.read(partial(read, env), found[key])
    none: dict[str, Any] = {}
    found.update(checks.read(partial(_oauth, env, mode), none))
    return found


def _installs_with_oauth(env: Mapping[str, str]) -> bool:
    return bool(env.get("SLACK_CLIENT_ID", "").strip() or env.get("SLACK_CLIENT_SECRET", "").strip())


_APP_CREDENTIALS = "under Basic Information, App Credentials, " + _WHERE


def _oauth(env: Mapping[str, str], mode: Mode | None) -> dict[str, Any]:
    """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (both or neither) and SLACK_REDIRECT_URI, for installing in many
    workspaces with OAuth; every way they do not fit the other settings, one line each."""
    client_id, secret = env.get("SLACK_CLIENT_ID", "").strip(), env.get("SLACK_CLIENT_SECRET", "").strip()
    redirect = env.get("SLACK_REDIRECT_URI", "").strip()
    if not (client_id or secret or redirect):
        return {}
    lines = []
    if client_id and not re.fullmatch(r"[0-9]+\.[0-9]+", client_id):
        lines.append(f"SLACK_CLIENT_ID={client_id!r} is not a Client ID (digits, a dot, digits): copy the Client ID "
                     + _APP_CREDENTIALS)
    if secret and not re.fullmatch(r"[0-9a-fA-F]{16,128}", secret):  # not echoed: it is a secret
        lines.append("SLACK_CLIENT_SECRET is not 16 to 128 hexadecimal characters (0-9, a-f): copy the Client Secret "
                     + _APP_CREDENTIALS)
    if client_id and not secret:
        lines.append(f"SLACK_CLIENT_SECRET is not set: installing with OAuth (SLACK_CLIENT_ID) needs the Client Secret "
                     f"too, {_APP_CREDENTIALS}")
    if secret and not client_id:
        lines.append(f"SLACK_CLIENT_ID is not set: installing with OAuth (SLACK_CLIENT_SECRET) needs the Client ID "
                     f"too, {_APP_CREDENTIALS}")
    if redirect and not (client_id or secret):
        lines.append("SLACK_REDIRECT_URI is set without SLACK_CLIENT_ID: it is for installing with OAuth; unset it, "
                     "or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    elif redirect and not re.fullmatch(r"https?://[^/\s@]+/\S*", redirect):
        lines.append(f"SLACK_REDIRECT_URI={redirect!r} is not an http(s) URL: set it to the Redirect URL the app "
                     "lists under OAuth & Permissions, e.g. https://bot.example.com/slack/oauth_redirect, or unset it")
    elif redirect and urlsplit(redirect).path.rstrip("/") != OAUTH_REDIRECT_PATH:
        lines.append(f"SLACK_REDIRECT_URI={redirect!r} does not end in {OAUTH_REDIRECT_PATH}, where the bot takes "
                     f"Slack's redirect: set it to https://YOUR-HOST{OAUTH_REDIRECT_PATH}, or unset it")
    if client_id or secret:
        if env.get("SLACK_BOT_TOKEN", "").strip():
            lines.append("SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: unset SLACK_BOT_TOKEN to install in many "
                         "workspaces with OAuth (each gets a token of its own), or unset SLACK_CLIENT_ID and "
                         "SLACK_CLIENT_SECRET to serve one workspace with its bot token")
        if mode == "socket" or env.get("SLACK_APP_TOKEN", "").strip():
            lines.append("installing with OAuth (SLACK_CLIENT_ID) needs HTTP mode, and SLACK_APP_TOKEN or --socket "
                         "asks for Socket Mode: unset SLACK_APP_TOKEN and serve with --http (Socket Mode serves one "
                         "workspace with SLACK_BOT_TOKEN)")
        if not env.get("SLACK_SIGNING_SECRET", "").strip():
            lines.append("SLACK_SIGNING_SECRET is not set: installing with OAuth (SLACK_CLIENT_ID) serves HTTP, "
                         f"which needs the Signing Secret, under Basic Information, App Credentials, {_WHERE}")
    if lines:
        raise ConfigError(*lines)
    return {"client_id": client_id or None, "client_secret": secret or None, "redirect_uri": redirect or None}


# Where the OAuth flow is served (Bolt's defaults): the "Add to Slack" page, and Slack's redirect after it.
OAUTH_INSTALL_PATH = "/slack/install"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"


def _bot_token(env: Mapping[str, str]) -> str:
    return _token(env, "SLACK_BOT_TOKEN", "xoxb-", "the Bot User OAuth Token, under OAuth & Permissions")


def _app_token(env: Mapping[str, str]) -> str:
    return _token(env, "SLACK_APP_TOKEN", "xapp-", "an app-level token with connections:write, under Basic Information")


def _signing_secret(env: Mapping[str, str]) -> str:
    secret = _required(env, "SLACK_SIGNING_SECRET", "the Signing Secret, under Basic Information")
    if not re.fullmatch(r"[0-9a-fA-F]{16,128}", secret):
        raise ConfigError(f"SLACK_SIGNING_SECRET is not 16 to 128 hexadecimal characters (0-9, a-f): copy the "
                          f"Signing Secret {_WHERE}")
    return secret


def _behaviour(env: Mapping[str, str], checks: _Checks) -> dict[str, Any]:
    """Every `Config` field but the credentials and the mode, each variable checked (a malformed one kept in
    `checks`, its default used meanwhile)."""
    defaults = Config(bot_token="")
    fields: dict[str, tuple[Callable[[], Any], Any]] = {
        "port": (partial(_port, env), defaults.port),
        "api_url": (partial(_api_url, env), None),
        "command": (partial(_command, env), defaults.command),
        "log_level": (partial(_log_level, env), defaults.log_level),
        "log_format": (partial(_log_format, env), defaults.log_format),
        "redis_url": (partial(_redis_url, env), None),
        # Redis keeps it in whole seconds: 0.5 would be 0, remembering nothing, and answering Slack's retries again.
        "dedup_ttl": (lambda: int(_number(env, "DEDUP_TTL_SECONDS", 3600, 1, WEEK, "a number of seconds, 1 or more")),
                      defaults.dedup_ttl),
        "shutdown_grace": (partial(_number, env, "SHUTDOWN_GRACE_SECONDS", 10.0, 0, WEEK, SECONDS, above=True),
                           defaults.shutdown_grace),
        "admin_user_ids": (partial(admin_user_ids, env), frozenset()),
        "admin_usergroup": (partial(_admin_usergroup, env), None),
        "metrics_port": (partial(_metrics_port, env), None),
        "rate_limit": (lambda: int(_number(env, "RATE_LIMIT_PER_MINUTE", RATE_LIMIT_DEFAULT, 0, 100_000,
                                           "a number of questions", " (0 for no limit)", whole=True)),
                       RATE_LIMIT_DEFAULT),
        "follow_ups": (partial(_flag, env, "FOLLOW_UPS", True), defaults.follow_ups),
        "follow_up_hours": (partial(_number, env, "FOLLOW_UP_HOURS", FOLLOW_UP_HOURS_DEFAULT, 0, FOLLOW_UP_HOURS_MAX,
                                    f"a number of hours from above 0 to {FOLLOW_UP_HOURS_MAX:g}",
                                    ", turn follow-ups off with FOLLOW_UPS=false,", above=True),
                            defaults.follow_up_hours),
        "handoff_channel": (partial(channel_setting, env, "HANDOFF_CHANNEL"), None),
        "matching_processes": (lambda: int(_number(env, "MATCHING_PROCESSES", matching_processes_default(), 0,
                                                   MATCHING_PROCESSES_MAX, "a number of processes",
                                                   " (0 to match on threads of the bot's own process)", whole=True)),
                               0),
    }
    return {name: checks.read(read, fallback) for name, (read, fallback) in fields.items()}


DEFAULT_STORE_PATH = "openllm-bot.sqlite3"
RATE_LIMIT_DEFAULT = 20
MATCHING_PROCESSES_MAX = 64


MATCHING_PROCESSES_DEFAULT_MAX = 4


def matching_processes_default() -> int:
    """One matching process per CPU the bot may use, when it may use two or more, and at most
    MATCHING_PROCESSES_DEFAULT_MAX (one event loop feeds them: its own part of a question, about 1 ms, is close to half
    of matching one, so more would wait for it); else none (threads: one CPU gains nothing from a process of its
    own, and the fork's memory is saved)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cpus, MATCHING_PROCESSES_DEFAULT_MAX) if cpus >= 2 else 0


WEEK = 7 * 24 * 3600.0
SECONDS = "a number of seconds"
FOLLOW_UP_HOURS_DEFAULT = 24.0
# A month: longer, and a thread's old question is no longer what a reply there goes on from.
FOLLOW_UP_HOURS_MAX = 720.0


# A channel named in a setting: its id (C… or G…), or its name (lower case, # optional), kept as "#name".
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
_CHANNEL_NAME = re.compile(r"#?([^\s#<>@|,A-Z][^\s#<>@|,A-Z]{0,79})")


def channel_setting(env: Mapping[str, str], name: str) -> str | None:
    """The channel the variable `name` names: its id as given, or "#name"; None when it is unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if _CHANNEL_ID.fullmatch(raw):
        return raw
    if found := _CHANNEL_NAME.fullmatch(raw):
        return "#" + found[1]
    raise ConfigError(f"{name}={raw!r} is not a channel: set it to the channel's name (e.g. #llm-team, lower case) "
                      "or its id (e.g. C0123ABCD, at the bottom of the channel's details), or unset it")


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class DigestSettings:
    """The weekly digest: posted in `channel` (an id, or "#name"; None: no digest) each `day` (0 is Monday) at
    `hour` in `timezone` (an IANA name, e.g. Europe/Berlin), on the week before."""

    channel: str | None = None
    day: int = 0
    hour: int = 9
    timezone: str = "UTC"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DigestSettings:
        """DIGEST_CHANNEL, DIGEST_DAY, DIGEST_HOUR and DIGEST_TIMEZONE, each checked whether or not the digest is on."""
        env = os.environ if env is None else env
        checks = _Checks()
        channel = checks.read(partial(channel_setting, env, "DIGEST_CHANNEL"), None)
        day = checks.read(partial(_digest_day, env), cls.day)
        hour = checks.read(lambda: int(_number(env, "DIGEST_HOUR", cls.hour, 0, 23, "an hour from 0 to 23",
                                               " (a whole number: 9 for 09:00)", whole=True)), cls.hour)
        timezone = checks.read(partial(_timezone, env), cls.timezone)
        checks.done()
        return cls(channel, day, hour, timezone)


def _digest_day(env: Mapping[str, str]) -> int:
    raw = env.get("DIGEST_DAY", "").strip().lower()
    if not raw:
        return DigestSettings.day
    for number, day in enumerate(DAYS):
        if raw in (day, day[:3]):
            return number
    raise ConfigError(f"DIGEST_DAY={raw!r} is not a day of the week: set it to e.g. monday (or mon), or unset it "
                      "for Monday")


def _timezone(env: Mapping[str, str]) -> str:
    raw = env.get("DIGEST_TIMEZONE", "").strip()
    if not raw or raw.upper() == "UTC":
        return "UTC"
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"DIGEST_TIMEZONE={raw!r} is not a time zone: set it to a name such as Europe/Berlin or "
                          "America/New_York (as written, capitals too; the machine's time zone database must have "
                          "it: install tzdata if none does), or unset it for UTC") from None
    return raw


@dataclass(frozen=True)
class StoreSettings:
    """Where questions and votes are recorded (`url` None: nowhere), and how."""

    url: str | None = field(default=None, repr=False)
    hash_key: str | None = field(default=None, repr=False)
    keep_text: bool = True
    chosen: bool = False  # named by STORE_PATH or DATABASE_URL, not the default file

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreSettings:
        env = os.environ if env is None else env
        checks = _Checks()
        enabled = checks.read(partial(_flag, env, "STORE_ENABLED", True), True)
        hash_key = checks.read(partial(_hash_key, env), None)
        keep_text = checks.read(partial(_flag, env, "STORE_QUESTION_TEXT", True), True)
        database = checks.read(partial(_database, env), None)
        path = checks.read(partial(_store_path, env), "")
        if enabled and database and not database.startswith("sqlite") and not env.get("STORE_HASH_KEY", "").strip():
            checks.lines.append("STORE_HASH_KEY is not set: with DATABASE_URL, set it to a random string "
                                "(e.g. `openssl rand -hex 32`) so that user ids are hashed the same way by "
                                "every replica and after every restart")
        checks.done()
        if not enabled:
            return cls()
        if database:
            return cls(database, hash_key, keep_text, chosen=True)
        return cls(f"sqlite:///{path or DEFAULT_STORE_PATH}", hash_key, keep_text, chosen=bool(path))


def _hash_key(env: Mapping[str, str]) -> str | None:
    hash_key = env.get("STORE_HASH_KEY", "").strip() or None
    if hash_key is not None and len(hash_key) < 16:
        raise ConfigError("STORE_HASH_KEY is too short: set it to a random string of 16 characters or more "
                          "(e.g. the output of `openssl rand -hex 32`)")
    return hash_key


_IN_MEMORY = ("a database in memory, which every connection sees empty and which is gone when the bot stops: name a "
              "file")


def _database(env: Mapping[str, str]) -> str | None:
    database = env.get("DATABASE_URL", "").strip()
    if not database:
        return None
    if not re.match(r"^(?:postgres(?:ql)?(?:\+\w+)?|sqlite)://", database):
        raise ConfigError("DATABASE_URL is not a postgres:// or sqlite:// URL: set it to e.g. "
                          "postgres://user:password@host:5432/db or unset it for a SQLite file")
    _check_database_url(database)
    return database


def _store_path(env: Mapping[str, str]) -> str:
    path = env.get("STORE_PATH", "").strip()
    if path == ":memory:":
        raise ConfigError(f"STORE_PATH=':memory:' is {_IN_MEMORY} (e.g. /var/lib/openllm-bot/store.sqlite3), or set "
                          "STORE_ENABLED=false to record nothing")
    return path


def _check_database_url(database: str) -> None:
    """A port that is a port and a driver that is installed, checked before anything connects."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from .store import database_url

    try:
        url = make_url(database_url(database))
        port = url.port
        url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(f"DATABASE_URL names a database driver that is not installed ({url.drivername}): use "
                          "postgres:// (psycopg) or sqlite://") from None
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL cannot be read ({str(exc).splitlines()[0]}): set it to e.g. "
                          "postgres://user:password@host:5432/db") from None
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"DATABASE_URL has port {port}, which is not a port number (1 to 65535)")
    if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                              or url.query.get("mode") == "memory"):
        raise ConfigError(f"DATABASE_URL={database!r} is {_IN_MEMORY}: sqlite:///path/to/store.sqlite3, or unset "
                          "it and set STORE_PATH")


def admin_user_ids(env: Mapping[str, str]) -> frozenset[str]:
    ids = [part.strip() for part in re.split(r"[,\s]+", env.get("ADMIN_USER_IDS", "")) if part.strip()]
    for user in ids:
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
            raise ConfigError(f"ADMIN_USER_IDS has {user!r}, which is not a Slack user id: list ids like U012AB3CD, "
                              "separated by commas (in Slack: a profile's ⋮ menu, Copy member ID)")
    return frozenset(ids)


# A user group's handle as Slack shows it (lower case; the @ before it is allowed), or its id.
_USERGROUP_HANDLE = re.compile(r"@?([a-z0-9][a-z0-9._-]{0,79})")
_USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


def _admin_usergroup(env: Mapping[str, str]) -> str | None:
    raw = env.get("ADMIN_USERGROUP", "").strip()
    if not raw:
        return None
    if _USERGROUP_ID.fullmatch(raw):
        return raw
    if handle := _USERGROUP_HANDLE.fullmatch(raw):
        return handle[1]
    raise ConfigError(f"ADMIN_USERGROUP={raw!r} is not a user group's handle or id: set it to the handle Slack shows "
                      "(e.g. faq-keepers, lower case) or the group's id (e.g. S0123ABCD), or unset it")


def _metrics_port(env: Mapping[str, str]) -> int | None:
    raw = env.get("METRICS_PORT", "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"METRICS_PORT={raw!r} is not a port number: set it to e.g. 9100 or unset it")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not true or false: set it to true or false, or unset it")


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: set it to {what} {_WHERE} (see .env.example)")
    return value


def _token(env: Mapping[str, str], name: str, prefix: str, what: str) -> str:
    value = _required(env, name, what)
    if not value.startswith(prefix):
        raise ConfigError(f"{name} should start with {prefix!r}: set it to {what} {_WHERE}")
    return value


def _port(env: Mapping[str, str]) -> int:
    raw = env.get("PORT", "").strip()
    if not raw:
        return 3000
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"PORT={raw!r} is not a port number: set it to e.g. 3000 or unset it")
    return int(raw)


def _api_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("SLACK_API_URL", "").strip()
    if not raw:
        return None
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ConfigError(f"SLACK_API_URL={raw!r} is not an http(s) URL: set it to e.g. "
                          "https://slack.com/api/ or unset it")
    parts = urlsplit(raw)
    if "@" in parts.netloc:  # not echoed: it may hold a password
        raise ConfigError("SLACK_API_URL holds a user name or password (user:password@): remove it; the bot "
                          "authenticates to the Web API with its token, e.g. https://slack.com/api/")
    try:
        parts.port  # noqa: B018 (reading it is the check)
    except ValueError:
        raise ConfigError(f"SLACK_API_URL={raw!r} has a port that is not a port number (1 to 65535): set it to "
                          "e.g. https://slack.com/api/ or unset it") from None
    return raw if raw.endswith("/") else raw + "/"


def _command(env: Mapping[str, str]) -> str:
    raw = env.get("SLACK_COMMAND", "").strip() or "/openllm"
    if not _COMMAND.match(raw):
        raise ConfigError(f"SLACK_COMMAND={raw!r} is not a slash command: set it to e.g. /openllm "
                          "(a slash, then up to 31 lower-case letters, digits, - or _)")
    return raw


def _log_level(env: Mapping[str, str]) -> str:
    raw = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={raw!r} is not a log level: set it to one of {', '.join(LOG_LEVELS)}")
    return raw


def _log_format(env: Mapping[str, str]) -> LogFormat:
    raw = env.get("LOG_FORMAT", "").strip().lower() or "text"
    for known in LOG_FORMATS:
        if raw == known:
            return known
    raise ConfigError(f"LOG_FORMAT={raw!r} is not a log format: set it to text (lines to read) or json (one JSON "
                      "object a line), or unset it")


def _redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("REDIS_URL", "").strip()
    if not raw:
        return None
    if not re.match(r"^(?:rediss?|unix)://", raw):
        raise ConfigError("REDIS_URL is not a redis:// URL: set it to e.g. redis://localhost:6379/0 or unset it")
    from redis.connection import parse_url  # how the client will read it: its own reasons, without the URL

    try:
        parse_url(raw)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL cannot be read ({str(exc).splitlines()[0] if str(exc) else 'malformed'}): set "
                          "it to e.g. redis://localhost:6379/0 or unset it") from None
    return raw


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, what: str,
            advice: str = "", above: bool = False, whole: bool = False) -> float:
    """The variable `name` as a number from `low` (or `above` it) to `high`, `whole` when it must be; `default` when
    it is unset. Anything else (NaN included) is a `ConfigError` saying it is not `what`, with `advice`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw) if not whole or (raw.isascii() and raw.isdigit()) else math.nan
    except ValueError:
        value = math.nan
    if not (low < value if above else low <= value) or not value <= high:  # also refuses NaN
        raise ConfigError(f"{name}={raw!r} is not {what}: set it to e.g. {default:g}{advice} or unset it")
    return value


_THRESHOLD_VARIABLES = (("answer", "MATCH_ANSWER_THRESHOLD"), ("suggest", "MATCH_SUGGEST_THRESHOLD"))


def _thresholds(env: Mapping[str, str]) -> Thresholds | None:
    """The calibrated thresholds (policy.yaml) overridden by MATCH_* variables, or None when none is set."""
    raws = {name: env.get(var, "").strip() for name, var in _THRESHOLD_VARIABLES}
    if not any(raws.values()):
        return None
    policy = load_policy()
    values = {"answer": policy.answer, "suggest": policy.suggest}
    checks = _Checks()
    for name, var in _THRESHOLD_VARIABLES:
        values[name] = checks.read(partial(_number, env, var, round(values[name], 2), 0.0, 1.0, "a number from 0 to 1"),
                                   values[name])
    checks.done()
    if values["suggest"] > values["answer"]:
        raise ConfigError("MATCH_SUGGEST_THRESHOLD must not be above MATCH_ANSWER_THRESHOLD")
    return Thresholds(answer=values["answer"], suggest=values["suggest"])


@dataclass(frozen=True)
class FaqSettings:
    """Where the FAQ is read from and how it is built (the command line and reloads share it)."""

    faq_dir: Path = DEFAULT_FAQ_DIR
    seeds_dir: Path = DEFAULT_SEEDS_DIR
    thresholds: Thresholds | None = None
    source_base_url: str | None = None
    embedding_cache: Path | None = None  # where phrasing embeddings are kept between runs; None: not kept

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, faq_dir: str | Path | None = None) -> FaqSettings:
        """`--faq`, else KNOWLEDGE_DIR, else the shipped FAQ; SEEDS_DIR, MATCH_*, SOURCE_BASE_URL, and
        EMBEDDING_CACHE_DIR."""
        env = os.environ if env is None else env
        knowledge_dir, seeds_dir = env.get("KNOWLEDGE_DIR", "").strip(), env.get("SEEDS_DIR", "").strip()
        folders = {"the command line": Path(faq_dir)} if faq_dir else {"KNOWLEDGE_DIR": Path(knowledge_dir)} \
            if knowledge_dir else {}
        if seeds_dir:
            folders["SEEDS_DIR"] = Path(seeds_dir)
        checks = _Checks()
        for origin, folder in folders.items():
            if not folder.is_dir():
                checks.lines.append(f"{folder} (from {origin}) is not a folder: name the folder of the FAQ's YAML "
                                    "files (KNOWLEDGE_DIR, --faq) or of the seed documents (SEEDS_DIR), or unset it")
        thresholds = checks.read(partial(_thresholds, env), None)
        checks.done()
        return cls(Path(faq_dir or knowledge_dir or DEFAULT_FAQ_DIR), Path(seeds_dir or DEFAULT_SEEDS_DIR),
                   thresholds, env.get("SOURCE_BASE_URL", "").strip() or None, _embedding_cache(env))

    def watched(self) -> Iterable[Path]:
        """Where a change means a reload: the FAQ, the documents, the synonym list, the out-of-scope
        examples and the decision policy."""
        return (self.faq_dir, self.seeds_dir, SYNONYMS_FILE, OUT_OF_SCOPE_FILE, *POLICY_FILES.values())

    def load(self, policy: Policy | None = None, taught: Sequence[Taught] = (),
             written: Sequence[Written] = ()) -> KnowledgeBase:
        """Load and validate in full; raises `KnowledgeError` listing every problem. `policy` replaces
        the calibrated one (calibration fits a new one); `taught`: phrasings taught from Slack, trained with it;
        `written`: entries and answers written from Slack, applied to it."""
        return KnowledgeBase.load(self.faq_dir, self.seeds_dir, self.thresholds, self.source_base_url, policy, taught,
                                  self.embedding_cache, written)


def _embedding_cache(env: Mapping[str, str]) -> Path | None:
    """EMBEDDING_CACHE_DIR (empty: no cache), else the user's cache folder (XDG_CACHE_HOME, else ~/.cache)."""
    configured = env.get("EMBEDDING_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = env.get("XDG_CACHE_HOME", "").strip()
    if base:
        return Path(base) / "openllm-bot"
    home = env.get("HOME", "").strip()
    return Path(home) / ".cache" / "openllm-bot" if home else None


def slack_mode(env: Mapping[str, str] | None = None) -> Mode | None:
    """How `run` reaches Slack: Socket Mode with an app-level token, HTTP with only a bot token or installing with
    OAuth (SLACK_CLIENT_ID), None (the local console) without either."""
    env = os.environ if env is None else env
    if not env.get("SLACK_BOT_TOKEN", "").strip():
        return "http" if _installs_with_oauth(env) else None
    return "socket" if env.get("SLACK_APP_TOKEN", "").strip() else "http"


@dataclass(frozen=True)
class Settings:
    """All of the bot's settings; `slack` only when it serves Slack."""

    faq: FaqSettings
    store: StoreSettings
    slack: Config | None = None
    digest: DigestSettings = field(default_factory=DigestSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, mode: Mode | Literal["if configured"] | None = None,
                 faq_dir: str | Path | None = None) -> Settings:
        """Read and check every variable, whatever the command; raises `ConfigError` with every problem found.
        `mode`: the Slack credentials that mode needs are required too; "if configured": the mode `slack_mode` says,
        if any. Without a mode the Slack side's variables are checked all the same, but none is required."""
        env = os.environ if env is None else env
        if mode == "if configured":
            mode = slack_mode(env)
        checks = _Checks()
        faq = checks.read(partial(FaqSettings.from_env, env, faq_dir), FaqSettings())
        store = checks.read(partial(StoreSettings.from_env, env), StoreSettings())
        slack = checks.read(partial(Config.from_env, mode, env), None) if mode is not None else None
        if mode is None:
            checks.read(partial(Config.check_env, env), None)
        digest = checks.read(partial(DigestSettings.from_env, env), DigestSettings())
        _check_team_channels(env, store, digest, checks)
        if slack is not None and slack.oauth and store.url is None:
            checks.lines.append("STORE_ENABLED=false: installing with OAuth (SLACK_CLIENT_ID) keeps each workspace's "
                                "installation in the store; record in it (unset STORE_ENABLED: SQLite by default, "
                                "PostgreSQL with DATABASE_URL)")
        checks.done()
        return cls(faq, store, slack, digest)


def _check_team_channels(env: Mapping[str, str], store: StoreSettings, digest: DigestSettings,
                         checks: _Checks) -> None:
    """HANDOFF_CHANNEL and DIGEST_CHANNEL against the rest: both keep what they do in the store, and both name a
    channel of the one workspace a bot token serves."""
    named = [name for name, on in (("HANDOFF_CHANNEL", bool(env.get("HANDOFF_CHANNEL", "").strip())),
                                   ("DIGEST_CHANNEL", digest.channel is not None)) if on]
    for name in named:
        if store.url is None:
            checks.lines.append(f"{name} is set and STORE_ENABLED=false: {name.split('_')[0].lower()}s are kept in "
                                "the question store; unset STORE_ENABLED (SQLite by default), or unset " + name)
        if _installs_with_oauth(env):
            checks.lines.append(f"{name} names a channel of one workspace, and SLACK_CLIENT_ID installs the bot in "
                                f"many: unset {name} (it works with one workspace's SLACK_BOT_TOKEN)")
