"""The Bolt app and the HTTP application that serves it."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase

from .config import Config
from .dedup import Seen, dedup_middleware, seen_store
from .listeners import register
from .ratelimit import RateLimit, rate_limit_middleware
from .recorder import Recorder

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# How far a request's timestamp may be from now (Slack's rule: five minutes), against replays.
SIGNATURE_MAX_AGE = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


@dataclass
class Counters:
    """What went wrong since start-up, shown on /healthz."""

    failed_replies: int = 0
    duplicate_events: int = 0
    reload_failures: int = 0
    store_failures: int = 0  # questions or votes that could not be recorded


@dataclass
class FaqState:
    """Whether the FAQ on disk was valid when last loaded, when that was, and how many problems it had."""

    valid: bool = True
    checked_at: str = ""  # ISO 8601, UTC
    problems: int = 0
    why: str = "start-up"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KnowledgeHolder:
    """The knowledge base listeners answer from, read on every request so that it can be swapped;
    the counters the app and /healthz share, and the outcome of the last load of the FAQ on disk."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.current = kb
        self.counters = Counters()
        self.faq = FaqState(checked_at=_now_iso())

    def loaded(self, why: str, problems: int = 0) -> None:
        """Record a load of the FAQ on disk: valid when `problems` is 0 (one that could not be read counts 1)."""
        self.faq = FaqState(valid=not problems, checked_at=_now_iso(), problems=problems, why=why)


def request_name(body: Any) -> str:
    """How a log line names a request: the event id, or the command or action and its trigger."""
    if not isinstance(body, dict):
        return "request"
    if body.get("event_id"):
        return f"event {body['event_id']}"
    if body.get("command"):
        return f"command {body['command']} (trigger {body.get('trigger_id')})"
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    return f"{body.get('type', 'request')} {action.get('action_id', '')} (trigger {body.get('trigger_id')})"


# The request being handled (as `request_name` says it), for naming the tasks started on its behalf: a graceful
# shutdown that gives up on some says which events' replies were dropped.
handling: contextvars.ContextVar[str | None] = contextvars.ContextVar("handling", default=None)


def name_tasks_by_request(loop: asyncio.AbstractEventLoop) -> None:
    """Name every task `loop` creates from now on after the request being handled where it is created (Bolt starts
    the listeners as tasks of their own)."""

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        if (name := handling.get()) is not None and "name" not in kwargs:
            task.set_name(name)
        return task

    loop.set_task_factory(factory)


def correctly_signed(secret: str, raw: bytes, timestamp: str | None, signature: str | None,
                     now: float | None = None) -> bool:
    """Whether `raw`, the body exactly as received, carries Slack's signature (`v0=` HMAC-SHA256 of
    `v0:TIMESTAMP:BODY` with the signing secret) and a timestamp within SIGNATURE_MAX_AGE of `now`. Checked on the
    bytes, before anything decodes or parses them: whatever a request holds, this only answers True or False."""
    if not secret or not timestamp or not signature or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={expected}".encode(), signature.encode("utf-8", "replace"))


# The shape of Slack's payloads, where Bolt and the listeners rely on it: at any depth, a field of one of these names
# holds a value of these types. A correctly signed payload that breaks it is not Slack's; it is refused before Bolt
# (whose own parsing would fail on it) gets it.
_OBJECT = (dict,)
_TEXT = (str,)
_SHAPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(["event", "view", "message", "previous_message", "container", "item", "assistant_thread",
                     "workflow_step", "function_data", "inputs", "user_team", "state", "bot_profile"], _OBJECT),
    **dict.fromkeys(["team", "user", "channel"], (dict, str, type(None))),
    **dict.fromkeys(["text"], (dict, str)),  # Block Kit's text is an object
    **dict.fromkeys(["enterprise"], (dict, str, type(None))),
    **dict.fromkeys(["enterprise_id", "thread_ts"], (str, type(None))),
    **dict.fromkeys(["type", "subtype", "ts", "event_ts", "event_id", "user_id", "channel_id", "team_id",
                     "bot_id", "channel_type", "tab", "action_id", "block_id", "callback_id", "trigger_id",
                     "response_url", "command", "challenge", "token", "api_app_id", "function_execution_id",
                     "value"], _TEXT),
    **dict.fromkeys(["actions", "authorizations", "blocks", "elements", "response_urls"], (list,)),
    **dict.fromkeys(["is_enterprise_install", "is_ext_shared_channel", "is_ephemeral"], (bool, str)),
}
_LISTS_OF_OBJECTS = {"actions", "authorizations", "response_urls"}


def slack_shaped(payload: dict[str, Any]) -> bool:
    """Whether every field of `payload` named in _SHAPES, at any depth, has the type Slack gives it."""
    pending: list[Any] = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in _SHAPES and not isinstance(item, _SHAPES[key]):
                    return False
                if key in _LISTS_OF_OBJECTS and not all(isinstance(i, dict) for i in item):
                    return False
                if isinstance(item, dict | list):
                    pending.append(item)
    return True


def slack_payload(raw: bytes, content_type: str) -> tuple[str, dict[str, Any]] | None:
    """The body as text and as Bolt will parse it, or None when it is not a Slack payload (not UTF-8, not JSON
    or a form, a `payload=` that is not a JSON object, JSON that is not an object, fields not of Slack's types)."""
    try:
        body = raw.decode("utf-8")
        parsed = parse_body(body, content_type or None)
    except (ValueError, RecursionError):  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
        return None
    return (body, parsed) if isinstance(parsed, dict) and slack_shaped(parsed) else None


def web_client(config: Config) -> AsyncWebClient:
    """The Web API client: `SLACK_API_URL` when set, retrying rate limits, server and connection errors."""
    retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    if config.api_url:
        return AsyncWebClient(token=config.bot_token, retry_handlers=retry_handlers,
                              logger=logging.getLogger("bot.slack"), base_url=config.api_url)
    return AsyncWebClient(token=config.bot_token, retry_handlers=retry_handlers, logger=logging.getLogger("bot.slack"))


class _TokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment even when given a client holding that very token,
    # then warns that the token is unused: noise for whoever reads the start-up log.
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_bolt_logger = logging.getLogger("bot.bolt")
_bolt_logger.addFilter(_TokenWarning())


def create_app(config: Config, kb: KnowledgeBase | KnowledgeHolder, seen: Seen | None = None,
               recorder: Recorder | None = None) -> AsyncApp:
    """The Bolt app with every listener registered; `kb` may be a holder whose `.current` changes.
    `seen` remembers answered events (default: Redis at `config.redis_url`, else this process); questions and
    votes go to `recorder` when given."""
    holder = kb if isinstance(kb, KnowledgeHolder) else KnowledgeHolder(kb)
    if recorder is not None:
        def store_failed(count: int) -> None:
            holder.counters.store_failures += count

        recorder.on_failure = store_failed
    app = AsyncApp(
        client=web_client(config),
        # Socket Mode requests are not signed; Bolt skips the check for them whatever this is.
        signing_secret=config.signing_secret or "",
        request_verification_enabled=True,
        process_before_response=config.process_before_response,
        logger=_bolt_logger,
    )
    seen = seen if seen is not None else seen_store(config.redis_url, config.dedup_ttl)

    def duplicate() -> None:
        holder.counters.duplicate_events += 1

    app.use(dedup_middleware(seen, duplicate))
    # After deduplication, so that Slack's retries of one event count once.
    app.use(rate_limit_middleware(RateLimit(config.rate_limit), config.command))

    @app.error
    async def failed(error: Exception, body: dict) -> None:
        # A reply that failed even after the client's retries: never dropped without a trace.
        holder.counters.failed_replies += 1
        log.error("reply to %s failed: %s: %s", request_name(body), error.__class__.__name__, error)

    register(app, holder, config.command, recorder, config.admin_user_ids)
    return app


def web_application(app: AsyncApp, holder: KnowledgeHolder) -> web.Application:
    """aiohttp application: Bolt at `POST /slack/events` (events, commands, interactivity), `GET /healthz`."""

    from .pacing import Turns  # here, not at the top: this function is the only part of the module it concerns

    secret = app._signing_secret or ""
    dispatching: set[asyncio.Task] = set()
    turns = Turns()

    async def dispatch(body: str, query: str, headers: Any, name: str) -> web.Response:
        """Bolt's handling of a correctly signed Slack payload. What goes wrong in a listener Bolt hands to the app's
        error handler (a failed reply, counted); a payload whose fields are not of the types Slack sends makes Bolt
        itself fail: that is logged in one line and answered 400."""
        handling.set(name)  # names the tasks Bolt starts for it
        try:
            return await to_aiohttp_response(
                await app.async_dispatch(AsyncBoltRequest(body=body, query=query, headers=headers)))
        except Exception as exc:
            log.warning("ignored a signed request Bolt cannot read: %s: %s", exc.__class__.__name__, exc)
            return web.Response(status=400, text="not a Slack payload")

    async def dispatch_in_turn(body: str, query: str, headers: Any, name: str) -> None:
        await turns.wait()
        await dispatch(body, query, headers, name)

    async def events(request: web.Request) -> web.Response:
        # Too big: 413 without reading it, and the connection closed after a short linger (LINGER_SECONDS, see
        # start_http), not the 10 s aiohttp would spend reading the rest, which held up a graceful shutdown.
        limit = request.app._client_max_size
        try:
            if request.content_length is not None and request.content_length > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge as too_large:
            return web.Response(status=413, text=too_large.text, headers={"Connection": "close"})
        # The signature and timestamp first, on the raw bytes: a request that fails them is answered 401 whatever it
        # holds (junk, broken JSON, binary), and nothing else is done with it.
        if not correctly_signed(secret, raw, request.headers.get("X-Slack-Request-Timestamp"),
                                request.headers.get("X-Slack-Signature")):
            return web.Response(status=401, text="invalid request signature")
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if (found := slack_payload(raw, content_type)) is None:
            log.warning("ignored a signed request that is not a Slack payload (%d bytes of %s)", len(raw),
                        content_type or "no content type")
            return web.Response(status=400, text="not a Slack payload")
        body, payload = found
        if (not app.process_before_response and content_type == "application/json"
                and payload.get("type") == "event_callback"):
            # Events are acknowledged with an empty 200 whatever happens next: do it before Bolt's work, which
            # (building its request, signature check again, deduplication, listeners) continues in the background,
            # one event starting per pass of the loop so that a burst's acknowledgements are not queued behind its
            # replies (bot/pacing.py). Each is a task from now on, so a graceful shutdown waits for those not yet
            # started. (Not for the console, which waits for each listener before it prints.)
            task = asyncio.get_running_loop().create_task(
                dispatch_in_turn(body, request.query_string, request.headers, request_name(payload)),
                name=request_name(payload))
            dispatching.add(task)
            task.add_done_callback(dispatching.discard)
            return web.Response(status=200)
        return await dispatch(body, request.query_string, request.headers, request_name(payload))

    async def health(request: web.Request) -> web.Response:
        entries = len(holder.current.knowledge.entries) if holder.current is not None else 0
        status = 200 if entries else 503
        # `faq`: whether the files on disk are valid now (the last reload's outcome and time), not only counts.
        return web.json_response({"ok": bool(entries), "entries": entries, **asdict(holder.counters),
                                  "faq": asdict(holder.faq)}, status=status)

    application = web.Application()
    application.add_routes([web.post(EVENTS_PATH, events), web.get(HEALTH_PATH, health)])
    return application
