"""What the bot counts for Prometheus (`GET /metrics`): Slack's requests received and acknowledged, replies by outcome,
how long replies and matching take, Slack Web API errors and retries, rate limits, the store, FAQ reloads, what the
bot answers from. Each running app has a registry of its own (never prometheus_client's global one), so that tests and
several apps in one process keep their counts apart; each replica is scraped on its own.

No label value is ever user text or a Slack id: every value is either one of a fixed set or a short token that Slack
or the bot's own code chose (an event type, an action's kind, a Web API method or error), and at most
`MAX_LABEL_VALUES` of those per kind; anything else is counted as "other"."""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import aiohttp
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from knowledge import KnowledgeBase

# The `…_created` series prometheus_client adds beside each counter (a timestamp per label set) double what is
# scraped and say nothing a dashboard uses. (A switch of the library's, for the whole process.)
prometheus_client.disable_created_metrics()

METRICS_PATH = "/metrics"
OTHER = "other"
# Distinct values one kind of label may take (request names, Web API methods, Web API errors); beyond, "other".
MAX_LABEL_VALUES = 64
# A label value that is not one of a fixed set: a short token of Slack's or the bot's own ("app_mention", "/openllm",
# "teach_means", "chat.postMessage", "channel_not_found"), with a lower-case letter in it: Slack's ids are upper case.
_TOKEN = re.compile(r"[A-Za-z/][A-Za-z0-9_./-]{0,63}")
_LOWER = re.compile(r"[a-z]")

REQUEST_TYPES = ("event", "command", "action", "view", "shortcut", "options", OTHER)
SURFACES = ("mention", "dm", "slash", "thread")  # where a question was asked (bot.store.Surface)
# What a reply was: the matcher's outcome ("answer", "suggest", "none") as said on a dashboard, a reply in a thread
# the bot follows (a follow-up, whatever it gave), a hand-off to people, or help (usage, topics, an introduction).
REPLY_OUTCOMES = ("answered", "suggested", "declined", "follow_up", "hand_off", "help")
_FROM_STATUS = {"answer": "answered", "suggest": "suggested", "none": "declined"}
RETRY_REASONS = ("rate_limited", "server_error", "connection_error", OTHER)
RELOAD_RESULTS = ("ok", "rejected")

# From the request's arrival to the reply sent: a few hundred ms when all is well, seconds when Slack is slow.
REPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# One question through the matcher: a few ms (the embedding model), more when the machine is busy.
MATCHING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# When the request being handled arrived (monotonic seconds), set by the adapters for the tasks it starts: a reply's
# latency runs from there, so that time spent waiting for a turn on the event loop or a matching thread counts.
_arrived: contextvars.ContextVar[float | None] = contextvars.ContextVar("arrived", default=None)


def arrived() -> None:
    """A request from Slack arrives: what is done on its behalf from now on measures its latency from now."""
    _arrived.set(time.monotonic())


def since_arrival() -> float | None:
    """Seconds since the request being handled arrived; None outside one."""
    started = _arrived.get()
    return None if started is None else time.monotonic() - started


class Bounded:
    """The values one kind of label may take: short tokens with a lower-case letter (never user text or a Slack id),
    the first `limit` distinct ones; anything else is "other"."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or not _TOKEN.fullmatch(value) or not _LOWER.search(value):
            return OTHER
        if value not in self._seen:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


def request_kind(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(type, name) of a Slack payload: ("event", its event type), ("command", the command), ("action", the kind of
    its first action: its action id up to the first ':'), ("view", the view's callback id), ("shortcut", its callback
    id), ("options", the select's kind), else ("other", the payload's type). The name is not bounded here."""
    kind = payload.get("type")
    first = _first(payload.get("actions"))
    if kind == "event_callback":
        return "event", str(_field(payload.get("event"), "type"))
    if "command" in payload:
        return "command", str(payload.get("command"))
    if kind == "block_actions":
        return "action", str(_field(first, "action_id")).partition(":")[0]
    if kind in ("view_submission", "view_closed"):
        return "view", str(_field(payload.get("view"), "callback_id") or kind).partition(":")[0]
    if kind in ("shortcut", "message_action"):
        return "shortcut", str(payload.get("callback_id") or kind)
    if kind == "block_suggestion":
        return "options", str(payload.get("action_id") or "").partition(":")[0]
    return OTHER, str(kind)


def _first(actions: object) -> object:
    return actions[0] if isinstance(actions, list) and actions else None


def _field(found: object, name: str) -> object:
    return found.get(name) if isinstance(found, dict) else None


def reply_outcome(surface: str, status: str | None) -> str:
    """The `outcome` label of a reply to a question asked on `surface` that the matcher gave `status` (None: help,
    topics or an introduction, not a question for the FAQ)."""
    if surface == "thread":
        return "follow_up"
    if status is None:
        return "help"
    found = _FROM_STATUS.get(status, status)
    return found if found in REPLY_OUTCOMES else OTHER


class _Counted(Protocol):
    @property
    def failed_replies(self) -> int: ...
    @property
    def duplicate_events(self) -> int: ...
    @property
    def store_failures(self) -> int: ...


class _Faq(Protocol):
    @property
    def valid(self) -> bool: ...


class Watched(Protocol):
    """What the bot answers from and what went wrong so far (bot.state.KnowledgeHolder), read at each scrape."""

    @property
    def current(self) -> KnowledgeBase: ...
    def knowledge_bases(self) -> Mapping[str | None, KnowledgeBase]:
        """Every knowledge base answered from: one with a bot token; installed in many workspaces, the one they
        share and each installation's own (with what it taught)."""
        ...
    @property
    def counters(self) -> _Counted: ...
    @property
    def faq(self) -> _Faq: ...


class Queued(Protocol):
    """The store's writer (bot.recorder.Recorder)."""

    problem: str | None

    def waiting(self) -> int: ...


class _Readings(Collector):
    """What is read from the running bot at each scrape rather than counted as it happens."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched
        self.recorder: Queued | None = None

    def collect(self) -> Iterator[Metric]:
        kb, counters = self.watched.current, self.watched.counters
        yield GaugeMetricFamily("openllm_faq_entries", "FAQ entries the bot answers from",
                                value=len(kb.knowledge.entries))
        yield GaugeMetricFamily("openllm_faq_valid", "1 when the FAQ files on disk were valid at the last load or "
                                "reload, 0 when the last reload was rejected (the bot answers from the last good FAQ)",
                                value=int(self.watched.faq.valid))
        taught = GaugeMetricFamily("openllm_taught_phrasings", "Phrasings admins taught from Slack: applied to the "
                                   "matcher, or skipped (each is logged with why); of every workspace, installed in "
                                   "many", labels=["state"])
        # Outside a request `current` is the knowledge base workspaces share, which holds no workspace's phrasings.
        every = list(self.watched.knowledge_bases().values())
        taught.add_metric(["applied"], sum(len(each.taught) for each in every))
        taught.add_metric(["skipped"], sum(len(each.skipped) for each in every))
        yield taught
        yield CounterMetricFamily("openllm_failed_replies", "Replies that failed even after the Web API client's "
                                  "retries", value=counters.failed_replies)
        yield CounterMetricFamily("openllm_duplicate_events", "Events Slack sent again that were acknowledged and "
                                  "not answered again", value=counters.duplicate_events)
        yield CounterMetricFamily("openllm_store_failures", "Questions, votes, reads and teachings the question store "
                                  "failed (records lost included)", value=counters.store_failures)
        if self.recorder is not None:
            yield GaugeMetricFamily("openllm_store_queue_depth", "Records waiting to be written to the question store",
                                    value=self.recorder.waiting())
            yield GaugeMetricFamily("openllm_store_ok", "1 when the question store can be written, 0 when it is "
                                    "failing", value=int(self.recorder.problem is None))


class Metrics:
    """The bot's metrics in a registry of their own. Counted as it happens: Slack's requests, replies, latencies,
    Web API errors and retries, rate limits, reloads; read at each scrape from `watched`: the FAQ, taught phrasings,
    the counters of what went wrong, and the store's queue (`watch_recorder`)."""

    def __init__(self, watched: Watched | None = None) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._readings = _Readings(watched) if watched is not None else None
        if self._readings is not None:
            registry.register(self._readings)
        self._names, self._methods, self._errors = Bounded(), Bounded(), Bounded()
        kind = ["type", "name"]
        self._received = Counter("openllm_slack_requests_received", "Requests from Slack (correctly signed over HTTP, "
                                 "or Socket Mode envelopes), by kind", kind, registry=registry)
        self._acknowledged = Counter("openllm_slack_requests_acknowledged", "Requests from Slack acknowledged (HTTP "
                                     "2xx, or the envelope's acknowledgement sent)", kind, registry=registry)
        self._replies = Counter("openllm_replies", "Replies to questions (mentions, DMs, the slash command, "
                                "follow-ups), by outcome", ["surface", "outcome"], registry=registry)
        self._reply_seconds = Histogram("openllm_reply_seconds", "From a question's arrival to its reply sent",
                                        ["surface"], buckets=REPLY_BUCKETS, registry=registry)
        self._matching_seconds = Histogram("openllm_matching_seconds", "Matching one question (on a matching thread)",
                                           buckets=MATCHING_BUCKETS, registry=registry)
        self._api_errors = Counter("openllm_slack_api_errors", "Slack Web API calls that failed once retries were "
                                   "over: Slack's error code, http_<status>, timeout or connection_error",
                                   ["method", "error"], registry=registry)
        self._api_retries = Counter("openllm_slack_api_retries", "Slack Web API calls retried, by why",
                                    ["method", "reason"], registry=registry)
        self._limited = Counter("openllm_rate_limited_questions", "Questions not answered: their asker was over "
                                "RATE_LIMIT_PER_MINUTE", registry=registry)
        self._askers = Counter("openllm_rate_limited_askers", "Times someone went over RATE_LIMIT_PER_MINUTE (the "
                               "first question refused of each spell)", registry=registry)
        self._reloads = Counter("openllm_faq_reloads", "FAQ reloads: ok (swapped in) or rejected (invalid, the last "
                                "good FAQ kept)", ["result"], registry=registry)
        for result in RELOAD_RESULTS:
            self._reloads.labels(result)
        for surface in SURFACES:
            self._reply_seconds.labels(surface)
            for outcome in REPLY_OUTCOMES:
                if (surface == "thread") == (outcome == "follow_up"):
                    self._replies.labels(surface, outcome)

    def watch_recorder(self, recorder: Queued) -> None:
        """Show the store's queue depth and whether it can be written, read at each scrape."""
        if self._readings is not None:
            self._readings.recorder = recorder

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type) of a scrape: Prometheus's text format, or OpenMetrics when `accept` asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # ---- counted as it happens

    def received(self, kind: tuple[str, str]) -> None:
        self._received.labels(*self._kind(kind)).inc()

    def acknowledged(self, kind: tuple[str, str]) -> None:
        self._acknowledged.labels(*self._kind(kind)).inc()

    def _kind(self, kind: tuple[str, str]) -> tuple[str, str]:
        type_, name = kind
        return (type_ if type_ in REQUEST_TYPES else OTHER), self._names(name)

    def replied(self, surface: str, outcome: str, seconds: float | None = None,
                matching_seconds: float | None = None) -> None:
        """A reply to a question asked on `surface` (one of SURFACES), with `outcome` (one of REPLY_OUTCOMES, as
        `reply_outcome` says), `seconds` after the question arrived, its matching having taken `matching_seconds`."""
        surface = surface if surface in SURFACES else OTHER
        self._replies.labels(surface, outcome if outcome in REPLY_OUTCOMES else OTHER).inc()
        if seconds is not None:
            self._reply_seconds.labels(surface).observe(seconds)
        if matching_seconds is not None:
            self._matching_seconds.observe(matching_seconds)

    def rate_limited(self, first: bool) -> None:
        """A question refused by the rate limit; `first`: the first of its asker's spell."""
        self._limited.inc()
        if first:
            self._askers.inc()

    def faq_reloaded(self, ok: bool) -> None:
        self._reloads.labels(RELOAD_RESULTS[0] if ok else RELOAD_RESULTS[1]).inc()

    def api_failed(self, url: str, error: str) -> None:
        self._api_errors.labels(self._methods(_method(url)), self._errors(error)).inc()

    def api_retried(self, url: str, reason: str) -> None:
        self._api_retries.labels(self._methods(_method(url)), reason if reason in RETRY_REASONS else OTHER).inc()

    # ---- the Web API client's retry handlers

    def retry_handlers(self, handlers: list[AsyncRetryHandler]) -> list[AsyncRetryHandler]:
        """`handlers` with each retry counted, then one that retries nothing and counts the calls that failed."""
        return [*(_CountedRetries(self, h) for h in handlers), _FailedCalls(self)]


def _method(url: str) -> str:
    """The Web API method a request's URL calls: its last path segment."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _retry_reason(handler: AsyncRetryHandler) -> str:
    name = type(handler).__name__
    for marker, reason in (("RateLimit", "rate_limited"), ("ServerError", "server_error"),
                           ("ConnectionError", "connection_error")):
        if marker in name:
            return reason
    return OTHER


class _CountedRetries(AsyncRetryHandler):
    """A retry handler of the Web API client's, each retry it makes counted."""

    def __init__(self, metrics: Metrics, inner: AsyncRetryHandler) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.metrics, self.inner, self.reason = metrics, inner, _retry_reason(inner)

    async def can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                              error: Exception | None = None) -> bool:
        return await self.inner.can_retry_async(state=state, request=request, response=response, error=error)

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        self.metrics.api_retried(request.url, self.reason)
        await self.inner.prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)


class _FailedCalls(AsyncRetryHandler):
    """Last of the client's retry handlers: asked about every response no other handler retries (the client asks
    each in turn), it retries none and counts those that failed."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self.metrics = metrics

    async def can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                              error: Exception | None = None) -> bool:
        if error is not None:
            self.metrics.api_failed(request.url, "timeout" if isinstance(error, TimeoutError)
                                    else "connection_error" if isinstance(error, aiohttp.ClientError) else OTHER)
        elif response is not None:
            body = response.body if isinstance(response.body, dict) else {}
            if body.get("ok") is False:
                self.metrics.api_failed(request.url, str(body.get("error") or f"http_{response.status_code}"))
            elif response.status_code >= 400:
                self.metrics.api_failed(request.url, f"http_{response.status_code}")
        return False
