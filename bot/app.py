"""The Bolt app and the HTTP application that serves it."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import KnowledgeBase

from .config import Config
from .dedup import Seen, dedup_middleware, seen_store
from .listeners import register
from .recorder import Recorder

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


@dataclass
class Counters:
    """What went wrong since start-up, shown on /healthz."""

    failed_replies: int = 0
    duplicate_events: int = 0
    reload_failures: int = 0
    store_failures: int = 0  # questions or votes that could not be recorded


class KnowledgeHolder:
    """The knowledge base listeners answer from, read on every request so that it can be swapped;
    and the counters the app and /healthz share."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.current = kb
        self.counters = Counters()


def request_name(body: dict[str, Any]) -> str:
    """How a log line names a request: the event id, or the command or action and its trigger."""
    if body.get("event_id"):
        return f"event {body['event_id']}"
    if body.get("command"):
        return f"command {body['command']} (trigger {body.get('trigger_id')})"
    actions = body.get("actions") or [{}]
    return f"{body.get('type', 'request')} {actions[0].get('action_id', '')} (trigger {body.get('trigger_id')})"


def web_client(config: Config) -> AsyncWebClient:
    """The Web API client: `SLACK_API_URL` when set, retrying rate limits, server and connection errors."""
    retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    extra = {"base_url": config.api_url} if config.api_url else {}
    return AsyncWebClient(token=config.bot_token, retry_handlers=retry_handlers,
                          logger=logging.getLogger("bot.slack"), **extra)


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

    # Only when Bolt would ack first anyway (a server), not when the caller waits for the listener (the console).
    verifier = (SignatureVerifier(app._signing_secret)
                if app._signing_secret and not app.process_before_response else None)
    dispatching: set[asyncio.Task] = set()
    turns = Turns()

    async def dispatch_in_turn(body: str, query: str, headers: Any) -> None:
        await turns.wait()
        await app.async_dispatch(AsyncBoltRequest(body=body, query=query, headers=headers))

    def signed_event(request: web.Request, body: str) -> bool:
        # The signature and timestamp first, on the raw body: nothing else is done with a request that fails them.
        if verifier is None or request.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return False
        try:
            if not verifier.is_valid(body, request.headers.get("X-Slack-Request-Timestamp"),
                                     request.headers.get("X-Slack-Signature")):
                return False
            payload = json.loads(body)
        except ValueError:  # a timestamp or a body that is not what it should be: Bolt answers it
            return False
        return isinstance(payload, dict) and payload.get("type") == "event_callback"

    async def events(request: web.Request) -> web.Response:
        body = await request.text()
        if signed_event(request, body):
            # Events are acknowledged with an empty 200 whatever happens next: do it before Bolt's work, which
            # (building its request, signature check again, deduplication, listeners) continues in the background,
            # one event starting per pass of the loop so that a burst's acknowledgements are not queued behind its
            # replies (bot/pacing.py). Each is a task from now on, so a graceful shutdown waits for those not yet
            # started.
            task = asyncio.get_running_loop().create_task(
                dispatch_in_turn(body, request.query_string, request.headers))
            dispatching.add(task)
            task.add_done_callback(dispatching.discard)
            return web.Response(status=200)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    async def health(request: web.Request) -> web.Response:
        entries = len(holder.current.knowledge.entries) if holder.current is not None else 0
        status = 200 if entries else 503
        return web.json_response({"ok": bool(entries), "entries": entries, **asdict(holder.counters)},
                                 status=status)

    application = web.Application()
    application.add_routes([web.post(EVENTS_PATH, events), web.get(HEALTH_PATH, health)])
    return application
