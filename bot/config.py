"""Every setting the bot has, read from the environment once and checked before anything starts: `Settings`
holds where the FAQ comes from (`FaqSettings`), where questions are recorded (`StoreSettings`) and, to serve
Slack, the Slack app's credentials and behaviour (`Config`). A malformed or missing variable is a `ConfigError`:
one line naming it and what to do, exit code 2."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from knowledge import DEFAULT_FAQ_DIR, DEFAULT_SEEDS_DIR, KnowledgeBase, Taught, Thresholds
from knowledge.content.phrasings import OUT_OF_SCOPE_FILE
from knowledge.decision.decide import POLICY_FILES, Policy, load_policy
from knowledge.matching.analysis import SYNONYMS_FILE

Mode = Literal["socket", "http"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")
_WHERE = "from your Slack app's settings (https://api.slack.com/apps)"


class ConfigError(ValueError):
    """A missing or malformed variable; the message is one line naming it and what to do."""


@dataclass(frozen=True)
class Config:
    # Secrets stay out of repr so that logging a Config cannot leak them.
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    mode: Mode = "http"
    port: int = 3000
    api_url: str | None = None
    command: str = "/openllm"
    log_level: str = "INFO"
    # The console waits for each listener to finish before it prints; a server acks Slack first.
    process_before_response: bool = False
    # Where seen event ids are remembered (None: in this process), and for how long.
    redis_url: str | None = field(default=None, repr=False)
    dedup_ttl: int = 3600
    # How long SIGTERM waits for replies in flight before the process exits.
    shutdown_grace: float = 10.0
    # Whose App Home also shows the last 7 days of questions and votes.
    admin_user_ids: frozenset[str] = frozenset()
    # Questions one person may ask in any minute (0: no limit); `from_env` defaults to RATE_LIMIT_DEFAULT.
    rate_limit: int = 0
    # Whether replies in a thread the bot answered in are answered without a mention, and for how long after.
    follow_ups: bool = True
    follow_up_hours: float = 24.0

    @classmethod
    def from_env(cls, mode: Mode, env: Mapping[str, str] | None = None) -> Config:
        """The settings `mode` needs; raises `ConfigError` on the first problem."""
        env = os.environ if env is None else env
        bot_token = _token(env, "SLACK_BOT_TOKEN", "xoxb-", "the Bot User OAuth Token, under OAuth & Permissions")
        app_token = signing_secret = None
        if mode == "socket":
            app_token = _token(env, "SLACK_APP_TOKEN", "xapp-",
                               "an app-level token with connections:write, under Basic Information")
        else:
            signing_secret = _required(env, "SLACK_SIGNING_SECRET", "the Signing Secret, under Basic Information")
            if not re.fullmatch(r"[0-9a-fA-F]{16,128}", signing_secret):
                raise ConfigError(f"SLACK_SIGNING_SECRET is not 16 to 128 hexadecimal characters (0-9, a-f): copy the "
                                  f"Signing Secret {_WHERE}")
        return cls(bot_token=bot_token, app_token=app_token, signing_secret=signing_secret, mode=mode, port=_port(env),
                   api_url=_api_url(env), command=_command(env), log_level=_log_level(env),
                   redis_url=_redis_url(env),
                   dedup_ttl=int(_number(env, "DEDUP_TTL_SECONDS", 3600, 0, WEEK, SECONDS, above=True)),
                   shutdown_grace=_number(env, "SHUTDOWN_GRACE_SECONDS", 10.0, 0, WEEK, SECONDS, above=True),
                   admin_user_ids=admin_user_ids(env),
                   rate_limit=int(_number(env, "RATE_LIMIT_PER_MINUTE", RATE_LIMIT_DEFAULT, 0, 100_000,
                                          "a number of questions", " (0 for no limit)", whole=True)),
                   follow_ups=_flag(env, "FOLLOW_UPS", True),
                   follow_up_hours=_number(env, "FOLLOW_UP_HOURS", FOLLOW_UP_HOURS_DEFAULT, 0, FOLLOW_UP_HOURS_MAX,
                                           f"a number of hours from above 0 to {FOLLOW_UP_HOURS_MAX:g}",
                                           ", turn follow-ups off with FOLLOW_UPS=false,", above=True))


DEFAULT_STORE_PATH = "openllm-bot.sqlite3"
RATE_LIMIT_DEFAULT = 20


WEEK = 7 * 24 * 3600.0
SECONDS = "a number of seconds"
FOLLOW_UP_HOURS_DEFAULT = 24.0
# A month: longer, and a thread's old question is no longer what a reply there goes on from.
FOLLOW_UP_HOURS_MAX = 720.0


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
        if not _flag(env, "STORE_ENABLED", True):
            return cls()
        hash_key = env.get("STORE_HASH_KEY", "").strip() or None
        if hash_key is not None and len(hash_key) < 16:
            raise ConfigError("STORE_HASH_KEY is too short: set it to a random string of 16 characters or more "
                              "(e.g. the output of `openssl rand -hex 32`)")
        keep_text = _flag(env, "STORE_QUESTION_TEXT", True)
        database = env.get("DATABASE_URL", "").strip()
        if database:
            if not re.match(r"^(?:postgres(?:ql)?(?:\+\w+)?|sqlite)://", database):
                raise ConfigError("DATABASE_URL is not a postgres:// or sqlite:// URL: set it to e.g. "
                                  "postgres://user:password@host:5432/db or unset it for a SQLite file")
            _check_database_url(database)
            if hash_key is None and not database.startswith("sqlite"):
                raise ConfigError("STORE_HASH_KEY is not set: with DATABASE_URL, set it to a random string "
                                  "(e.g. `openssl rand -hex 32`) so that user ids are hashed the same way by "
                                  "every replica and after every restart")
            return cls(database, hash_key, keep_text, chosen=True)
        path = env.get("STORE_PATH", "").strip()
        return cls(f"sqlite:///{path or DEFAULT_STORE_PATH}", hash_key, keep_text, chosen=bool(path))


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


def admin_user_ids(env: Mapping[str, str]) -> frozenset[str]:
    ids = [part.strip() for part in re.split(r"[,\s]+", env.get("ADMIN_USER_IDS", "")) if part.strip()]
    for user in ids:
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
            raise ConfigError(f"ADMIN_USER_IDS has {user!r}, which is not a Slack user id: list ids like U012AB3CD, "
                              "separated by commas (in Slack: a profile's ⋮ menu, Copy member ID)")
    return frozenset(ids)


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


def _redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("REDIS_URL", "").strip()
    if not raw:
        return None
    if not re.match(r"^(?:rediss?|unix)://", raw):
        raise ConfigError("REDIS_URL is not a redis:// URL: set it to e.g. redis://localhost:6379/0 or unset it")
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
    for name, var in _THRESHOLD_VARIABLES:
        values[name] = _number(env, var, round(values[name], 2), 0.0, 1.0, "a number from 0 to 1")
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
        for origin, folder in folders.items():
            if not folder.is_dir():
                raise ConfigError(f"{folder} (from {origin}) is not a folder: name the folder of the FAQ's YAML files "
                                  "(KNOWLEDGE_DIR, --faq) or of the seed documents (SEEDS_DIR), or unset it")
        return cls(Path(faq_dir or knowledge_dir or DEFAULT_FAQ_DIR), Path(seeds_dir or DEFAULT_SEEDS_DIR),
                   _thresholds(env), env.get("SOURCE_BASE_URL", "").strip() or None, _embedding_cache(env))

    def watched(self) -> Iterable[Path]:
        """Where a change means a reload: the FAQ, the documents, the synonym list, the out-of-scope
        examples and the decision policy."""
        return (self.faq_dir, self.seeds_dir, SYNONYMS_FILE, OUT_OF_SCOPE_FILE, *POLICY_FILES.values())

    def load(self, policy: Policy | None = None, taught: Sequence[Taught] = ()) -> KnowledgeBase:
        """Load and validate in full; raises `KnowledgeError` listing every problem. `policy` replaces
        the calibrated one (calibration fits a new one); `taught`: phrasings taught from Slack, trained with it."""
        return KnowledgeBase.load(self.faq_dir, self.seeds_dir, self.thresholds, self.source_base_url, policy, taught,
                                  self.embedding_cache)


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
    """How `run` reaches Slack: Socket Mode with an app-level token, HTTP with only a bot token, None (the local
    console) without one."""
    env = os.environ if env is None else env
    if not env.get("SLACK_BOT_TOKEN", "").strip():
        return None
    return "socket" if env.get("SLACK_APP_TOKEN", "").strip() else "http"


@dataclass(frozen=True)
class Settings:
    """All of the bot's settings; `slack` only when it serves Slack."""

    faq: FaqSettings
    store: StoreSettings
    slack: Config | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, mode: Mode | Literal["if configured"] | None = None,
                 faq_dir: str | Path | None = None) -> Settings:
        """Read and check every variable; raises `ConfigError` on the first problem. `mode`: the Slack settings
        that mode needs are read and required too; "if configured": the mode `slack_mode` says, if any."""
        env = os.environ if env is None else env
        if mode == "if configured":
            mode = slack_mode(env)
        return cls(FaqSettings.from_env(env, faq_dir), StoreSettings.from_env(env),
                   Config.from_env(mode, env) if mode is not None else None)
