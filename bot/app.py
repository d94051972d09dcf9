"""The Bolt app: its Web API client, middleware (deduplication, rate limits), error handler and listeners."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from . import blocks
from .admins import Admins
from .config import Config, ConfigError
from .dedup import Seen, dedup_middleware, seen_store
from .entry_views import modal_key
from .follow_ups import classify, shipped_vocabulary
from .handoff import Handoffs, handoffs_for
from .installations import authorize, oauth_settings
from .listeners import Deps, register
from .logs import BOLT_LOGGER, CLIENT_LOGGER
from .metrics import Metrics
from .ratelimit import RateLimit, rate_limit_middleware
from .recorder import Recorder
from .request import request_name
from .state import KnowledgeHolder
from .threads import Threads, thread_memory
from .workspaces import workspace_middleware

log = logging.getLogger(__name__)


def web_client(config: Config, metrics: Metrics | None = None) -> AsyncWebClient:
    """The Web API client: `SLACK_API_URL` when set, retrying rate limits, server and connection errors (each retry,
    and each call that failed in the end, counted in `metrics` when given)."""
    retry_handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    if metrics is not None:
        retry_handlers = metrics.retry_handlers(retry_handlers)
    token = config.bot_token or None  # none when installed with OAuth: each request gets its workspace's
    if config.api_url:
        return AsyncWebClient(token=token, retry_handlers=retry_handlers, logger=logging.getLogger(CLIENT_LOGGER),
                              base_url=config.api_url)
    return AsyncWebClient(token=token, retry_handlers=retry_handlers, logger=logging.getLogger(CLIENT_LOGGER))


class _TokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment even when given a client holding that very token,
    # then warns that the token is unused: noise for whoever reads the start-up log.
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_bolt_logger = logging.getLogger(BOLT_LOGGER)
_bolt_logger.addFilter(_TokenWarning())


def create_app(config: Config, holder: KnowledgeHolder, seen: Seen | None = None,
               recorder: Recorder | None = None, threads: Threads | None = None,
               handoffs: Handoffs | None = None) -> AsyncApp:
    """The Bolt app with every listener registered, answering from `holder.current` (which a reload swaps).
    `seen` remembers answered events (default: Redis at `config.redis_url`, else this process); questions and
    votes go to `recorder` when given (built with `holder.counters.store_failed` as its `on_failure`). `threads`
    remembers the threads the bot follows (default: as `seen`); with `config.follow_ups` off, none are.

    Installed with OAuth (`config.oauth`), Bolt's OAuth flow keeps each workspace's installation in `recorder`'s
    store (bot/installations.py), answers each request with its workspace's token and forgets a workspace on
    `app_uninstalled` and `tokens_revoked`; each installation is answered from its own knowledge base.

    With `config.handoff_channel` (and a recorder), replies that decline or are unsure offer "Ask the team": through
    `handoffs` when given (serve checks its channel at start-up), else through its own."""
    oauth = None
    if config.oauth:
        if recorder is None:
            raise ConfigError("installing with OAuth (SLACK_CLIENT_ID) keeps each workspace's installation in the "
                              "store, which cannot be opened: check STORE_PATH or DATABASE_URL")
        oauth = oauth_settings(config, recorder.store)
    app = AsyncApp(
        client=web_client(config, holder.metrics),
        # Socket Mode requests are not signed; Bolt skips the check for them whatever this is.
        signing_secret=config.signing_secret or "",
        request_verification_enabled=True,
        process_before_response=config.process_before_response,
        logger=_bolt_logger,
        oauth_settings=oauth,
        # An AsyncAuthorize, which Bolt takes as it is (its hint names only plain functions).
        authorize=authorize(oauth) if oauth is not None else None,  # type: ignore[arg-type]
    )
    if oauth is not None:
        app.enable_token_revocation_listeners()
    # First: every middleware and listener after it knows which installation the request is for.
    holder.per_workspace = config.oauth
    app.use(workspace_middleware(single=not config.oauth))
    seen = seen if seen is not None else seen_store(config.redis_url, config.dedup_ttl)

    def duplicate() -> None:
        holder.counters.duplicate_events += 1

    # Thread replies the follow-up path would ignore anyway are not remembered either (classifying is ~20 µs).
    vocabulary = shipped_vocabulary()
    app.use(dedup_middleware(seen, duplicate, (lambda text: classify(text, "", None, vocabulary).kind != "ignore")
                             if config.follow_ups else None))
    # After deduplication, so that Slack's retries of one event count once.
    limit = RateLimit(config.rate_limit, on_refused=holder.metrics.rate_limited)
    # Clicks that post an answer count as questions: a button clicked 60 times is not 60 answers.
    app.use(rate_limit_middleware(limit, config.command, (blocks.SUGGEST, blocks.RELATED, blocks.SHARE)))

    @app.error
    async def failed(error: Exception, body: dict) -> None:
        # A reply that failed even after the client's retries: never dropped without a trace.
        holder.counters.failed_replies += 1
        log.error("reply to %s failed: %s: %s", request_name(body), error.__class__.__name__, error)

    if not config.follow_ups:
        threads = None
    elif threads is None:
        threads = thread_memory(config.redis_url, config.follow_up_hours * 3600)
    if recorder is not None:
        holder.metrics.watch_recorder(recorder)
    register(app, Deps(holder, config.command, recorder, Admins(config.admin_user_ids, config.admin_usergroup),
                       threads, limit, vocabulary,
                       modal_key=modal_key(config.signing_secret, config.app_token, config.bot_token),
                       handoffs=handoffs or handoffs_for(config, recorder)))
    return app
