"""Slack over HTTP on aiohttp's server: `POST /slack/events` (events, commands, interactivity), `GET /healthz` and
`GET /metrics` (Prometheus; or on a port of its own, `listen_metrics`).

The port is served from the start: until the app is ready (`Serving`), the health check and Slack's requests get
503. Slow and idle clients are closed (bot/adapter/guard.py). The signature is checked on the raw bytes before
anything else, then the payload's shape and what its kind must carry (bot/request.py).

Acknowledgements first: an event is acknowledged (HTTP 200) before Bolt handles it, but Bolt's work on it (signature
check, deduplication, the matcher, the reply) runs on the same event loop as the acknowledgements. Started at once,
a burst of 500 events queues ~500 pieces of that work ahead of the requests still arriving, and the last ones are
acknowledged only once most of the replies have been prepared. Here each event's work waits until the loop has gone
round once more (polling its sockets, so reading and acknowledging whatever arrived meanwhile) before the next one
starts, oldest first. Work that has started is not held back: waiting on Slack's Web API overlaps as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from ..config import OAUTH_INSTALL_PATH, OAUTH_REDIRECT_PATH, ConfigError
from ..metrics import METRICS_PATH, arrived, request_kind
from ..request import correctly_signed, lacking, request_name, slack_payload
from ..state import KnowledgeHolder
from .guard import DEFAULT_LIMITS, ConnectionGuard, GuardedSite, Limits

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Connections waiting to be accepted: a burst of events (or a load balancer) must not find the queue full.
BACKLOG = 1024
# After answering a request without reading all its body (413: too big), how long the rest is read before the
# connection is closed (so that the client sees the answer rather than a reset). aiohttp's 10 s kept a task alive
# that a SIGTERM then waited for.
LINGER_SECONDS = 1.0
# The largest request read (aiohttp's default): Slack's payloads are a few kB, the biggest tens of kB.
MAX_BODY_BYTES = 1024 ** 2
# How long a connection that carried a correctly signed request (Slack's) is kept open while idle: longer than the
# 60 s load balancers commonly keep idle connections, so that they close first (aiohttp's default is an hour).
KEEPALIVE_SECONDS = 75.0
# What a request is named and which workspace it came from, kept with it for the access log (`AccessLog`).
NAME: web.RequestKey[str] = web.RequestKey("name")
WORKSPACE: web.RequestKey[str | None] = web.RequestKey("workspace")


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


class Turns:
    """Lets waiting coroutines through one per pass of the running event loop, in the order they came."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._releasing = False

    def __len__(self) -> int:
        """How many are waiting."""
        return len(self._waiting)

    async def wait(self) -> None:
        """Return when it is this caller's turn (at the earliest on the loop's next pass)."""
        loop = asyncio.get_running_loop()
        turn = loop.create_future()
        self._waiting.append(turn)
        if not self._releasing:
            self._releasing = True
            loop.call_soon(self._release_one)
        await turn

    def _release_one(self) -> None:
        # A callback scheduled from a callback runs on the loop's next pass, after it has polled for I/O.
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # a waiter cancelled meanwhile gives up its turn
                turn.set_result(None)
                break
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._release_one)
        else:
            self._releasing = False


class Serving:
    """What the server answers from: nothing while the FAQ and the model load (the health check and Slack's requests
    get 503, and Slack retries), then the Bolt app and the knowledge it answers from (`ready`)."""

    def __init__(self, app: AsyncApp | None = None, holder: KnowledgeHolder | None = None) -> None:
        self.app, self.holder = app, holder
        self.store_problem: Callable[[], str | None] | None = None

    def ready(self, app: AsyncApp, holder: KnowledgeHolder, store_problem: Callable[[], str | None] | None = None
              ) -> None:
        """Answer from `app` and `holder`; `store_problem` says what is wrong with the question store, if anything
        (shown on /healthz, which stays 200: answers do not need the store)."""
        self.app, self.holder, self.store_problem = app, holder, store_problem


def web_application(serving: Serving, signing_secret: str, guard: ConnectionGuard | None = None,
                    metrics: bool = True) -> web.Application:
    """aiohttp application: Bolt at `POST /slack/events` (events, commands, interactivity), `GET /healthz`, and
    with `metrics` `GET /metrics`; requests not signed with `signing_secret` are answered 401. `guard`, when given, is
    told which connections carried a correctly signed request, and when each request starts and ends."""
    secret = signing_secret
    dispatching: set[asyncio.Task] = set()
    turns = Turns()
    body_seconds = (guard.limits if guard is not None else DEFAULT_LIMITS).body_seconds

    async def dispatch(app: AsyncApp, body: str, query: str, headers: Any, name: str) -> web.Response:
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

    async def dispatch_in_turn(app: AsyncApp, body: str, query: str, headers: Any, name: str) -> None:
        await turns.wait()
        await dispatch(app, body, query, headers, name)

    async def read_body(request: web.Request) -> bytes | web.Response:
        """The body, or the answer when it cannot be had: too big (413, without reading it; the connection is
        closed after a short linger, LINGER_SECONDS, not the 10 s aiohttp would spend reading the rest, which held
        up a graceful shutdown), not sent within `body_seconds` (408, and the connection closed), or cut short."""
        limit = MAX_BODY_BYTES
        try:
            if request.content_length is not None and request.content_length > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
            async with asyncio.timeout(body_seconds):
                return await request.read()
        except web.HTTPRequestEntityTooLarge as too_large:
            return web.Response(status=413, text=too_large.text, headers={"Connection": "close"})
        except TimeoutError:
            log.debug("a request's body was not sent within %g s: 408, and the connection closed", body_seconds)
            return web.Response(status=408, text="request body not sent in time", headers={"Connection": "close"})
        except ConnectionError:  # the client left, or was closed (bot/adapter/guard.py), before sending it all
            return web.Response(status=400, text="request body cut short", headers={"Connection": "close"})

    async def events(request: web.Request) -> web.Response:
        arrived()  # a reply's latency runs from here (bot/metrics.py)
        raw = await read_body(request)
        if isinstance(raw, web.Response):
            return raw
        # The signature and timestamp first, on the raw bytes: a request that fails them is answered 401 whatever it
        # holds (junk, broken JSON, binary), and nothing else is done with it.
        if not correctly_signed(secret, raw, request.headers.get("X-Slack-Request-Timestamp"),
                                request.headers.get("X-Slack-Signature")):
            return web.Response(status=401, text="invalid request signature")
        if guard is not None:
            guard.verified(request.protocol)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if (found := slack_payload(raw, content_type)) is None:
            log.warning("ignored a signed request that is not a Slack payload (%d bytes of %s)", len(raw),
                        content_type or "no content type")
            return web.Response(status=400, text="not a Slack payload")
        body, payload = found
        request[NAME], request[WORKSPACE] = request_name(payload), workspace(payload)
        kind, counted = request_kind(payload), serving.holder.metrics if serving.holder is not None else None
        if counted is not None:
            counted.received(kind)
        if (missing := lacking(payload)) is not None:
            # Only Slack can sign: not a reply that failed, nothing to answer or record.
            log.warning("ignored %s: a signed request that lacks what Slack always sends (%s)", request[NAME],
                        missing)
            return web.Response(status=400, text=f"not a Slack payload: {missing}")
        app = serving.app
        if app is None:
            return web.Response(status=503, text="loading", headers={"Retry-After": "5"})
        if (not app.process_before_response and content_type == "application/json"
                and payload.get("type") == "event_callback"):
            # Events are acknowledged with an empty 200 whatever happens next: do it before Bolt's work, which
            # (building its request, signature check again, deduplication, listeners) continues in the background,
            # one event starting per pass of the loop so that a burst's acknowledgements are not queued behind its
            # replies (`Turns`). Each is a task from now on, so a graceful shutdown waits for those not yet
            # started. (Not for the console, which waits for each listener before it prints.)
            task = asyncio.get_running_loop().create_task(
                dispatch_in_turn(app, body, request.query_string, request.headers, request[NAME]), name=request[NAME])
            dispatching.add(task)
            task.add_done_callback(dispatching.discard)
            if counted is not None:
                counted.acknowledged(kind)
            return web.Response(status=200)
        response = await dispatch(app, body, request.query_string, request.headers, request[NAME])
        if counted is not None and response.status < 300:
            counted.acknowledged(kind)
        return response

    async def health(request: web.Request) -> web.Response:
        holder = serving.holder
        if serving.app is None or holder is None:
            return web.json_response({"ok": False, "status": "loading"}, status=503)
        entries = len(holder.current.knowledge.entries) if holder.current is not None else 0
        status = 200 if entries else 503
        # `faq`: whether the files on disk are valid now (the last reload's outcome and time), not only counts.
        store = {}
        if serving.store_problem is not None:
            problem = serving.store_problem()
            store = {"store": {"ok": problem is None, "problem": problem}}
        return web.json_response({"ok": bool(entries), "status": "ready" if entries else "no knowledge",
                                  "entries": entries, **asdict(holder.counters), "faq": asdict(holder.faq), **store},
                                 status=status)

    application = web.Application(client_max_size=MAX_BODY_BYTES,
                                  middlewares=[watched_by(guard)] if guard is not None else [])
    application.add_routes([web.post(EVENTS_PATH, events), web.get(HEALTH_PATH, health)])
    # Installing in many workspaces (OAuth): "Add to Slack" and Slack's redirect back; 404 with one bot token.
    application.add_routes([web.get(OAUTH_INSTALL_PATH, oauth_pages(serving)),
                            web.get(OAUTH_REDIRECT_PATH, oauth_pages(serving))])
    if metrics:
        application.add_routes([web.get(METRICS_PATH, scraped(serving))])
    return application


# What each OAuth page reads of its query (Bolt's flow reads no more): the rest is not handed on.
_OAUTH_QUERY = {OAUTH_INSTALL_PATH: ("team",), OAUTH_REDIRECT_PATH: ("code", "state", "error")}
# A workspace or org id, the one thing the install page passes on to Slack's authorize URL (Bolt does not escape it).
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,31}")


def oauth_pages(serving: Serving) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`GET /slack/install` (the "Add to Slack" page, which issues a `state`) and `GET /slack/oauth_redirect`
    (Slack's redirect back: the state checked against the browser's cookie and consumed, the code exchanged for the
    workspace's token with `oauth.v2.access`, the installation saved), handed to Bolt's OAuth flow with only the query
    parameters it reads. A forged, expired or replayed state is Bolt's 400 or 401 page; a database that cannot be
    reached, or Slack's Web API, 503. 404 when the bot is not installed with OAuth; 503 while it starts."""

    async def page(request: web.Request) -> web.Response:
        app = serving.app
        if app is None:
            return web.Response(status=503, text="loading", headers={"Retry-After": "5"})
        flow = app.oauth_flow
        if flow is None:
            return web.Response(status=404, text="Not Found: this bot is installed with a bot token, not OAuth")
        wanted = _OAUTH_QUERY[request.path]
        query = {key: value for key in wanted if isinstance(value := request.query.get(key), str) and value
                 and (key != "team" or _TEAM_ID.fullmatch(value))}
        bolt_request = AsyncBoltRequest(body="", query=urlencode(query), headers=request.headers)  # type: ignore[arg-type]
        installing = request.path == OAUTH_INSTALL_PATH
        try:
            response = await (flow.handle_installation if installing else flow.handle_callback)(bolt_request)
        except Exception as exc:  # the store (StoreError, one line) or Slack's Web API could not be had
            log.error("OAuth: %s failed: %s: %s", "the install page" if installing else "Slack's redirect back",
                      exc.__class__.__name__, str(exc).splitlines()[0] if str(exc) else "")
            return web.Response(status=503, text="The bot could not finish this now: try again in a minute.",
                                headers={"Retry-After": "30"})
        return await to_aiohttp_response(response)

    return page


def watched_by(guard: ConnectionGuard) -> Any:
    """Middleware telling `guard` when each request starts and ends."""

    @web.middleware
    async def watched(request: web.Request, handler: Any) -> web.StreamResponse:
        guard.started(request.protocol)
        try:
            return await handler(request)
        finally:
            guard.finished(request.protocol)

    return watched


def scraped(serving: Serving) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`GET /metrics`: the running bot's metrics in Prometheus's text format (OpenMetrics when the scraper asks for
    it), without authentication, like /healthz (they hold counts, never what people wrote nor who they are); 503
    while the bot starts."""

    async def metrics(request: web.Request) -> web.Response:
        holder = serving.holder
        if holder is None:
            return web.Response(status=503, text="loading", headers={"Retry-After": "5"})
        body, content_type = holder.metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    return metrics


def workspace(payload: dict[str, Any]) -> str | None:
    """The id of the workspace a payload comes from, when it says."""
    team = payload.get("team_id") or payload.get("team")
    found = team.get("id") if isinstance(team, dict) else team
    return found if isinstance(found, str) else None


class AccessLog(AbstractAccessLogger):
    """One line per request answered: Slack's at INFO (what it was, the workspace, the status and how long it took to
    answer), health checks and scrapes at DEBUG."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        level = logging.DEBUG if request.path in (HEALTH_PATH, METRICS_PATH) else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        latency = round(time * 1000, 1)
        name, team = request.get(NAME), request.get(WORKSPACE)
        about = f" ({name}{f', workspace {team}' if team else ''})" if name else ""
        self.logger.log(level, "%s %s %d in %g ms%s", request.method, request.path, response.status, latency, about,
                        extra={"event": "http_request", "workspace": team, "status": response.status,
                               "latency_ms": latency})

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)  # DEBUG too, then


async def listen(serving: Serving, signing_secret: str, host: str, port: int, shutdown_timeout: float = 10.0,
                 limits: Limits = DEFAULT_LIMITS, metrics: bool = True) -> tuple[web.AppRunner, str]:
    """Serve on aiohttp's server at host:port (0: any free port), answering from `serving` as soon as it is ready
    (`/metrics` too, unless not `metrics`); the runner and the base URL."""
    guard = ConnectionGuard(limits)
    runner = web.AppRunner(web_application(serving, signing_secret, guard, metrics), shutdown_timeout=shutdown_timeout,
                           lingering_time=LINGER_SECONDS, keepalive_timeout=KEEPALIVE_SECONDS,
                           access_log_class=AccessLog, access_log=logging.getLogger("bot.access"))
    await runner.setup()
    try:
        await GuardedSite(runner, host, port, guard, backlog=BACKLOG).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"PORT={port} cannot be used ({exc.strerror or exc}): set PORT to a free port") from None
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


async def start_http(app: AsyncApp, holder: KnowledgeHolder, signing_secret: str, host: str, port: int,
                     shutdown_timeout: float = 10.0, limits: Limits = DEFAULT_LIMITS) -> tuple[web.AppRunner, str]:
    """Serve `app` on aiohttp's server at host:port (0: any free port); the runner and the base URL."""
    return await listen(Serving(app, holder), signing_secret, host, port, shutdown_timeout, limits)


async def listen_metrics(serving: Serving, host: str, port: int, limits: Limits = DEFAULT_LIMITS
                         ) -> tuple[web.AppRunner, str]:
    """Serve only `GET /metrics` at host:port (METRICS_PORT; 0: any free port), from `serving` once it is ready (503
    before); the runner and the base URL. Slow and idle clients are closed as on the main port."""
    guard = ConnectionGuard(limits)
    application = web.Application(middlewares=[watched_by(guard)])
    application.add_routes([web.get(METRICS_PATH, scraped(serving))])
    runner = web.AppRunner(application, shutdown_timeout=1.0, access_log_class=AccessLog,
                           access_log=logging.getLogger("bot.access"))
    await runner.setup()
    try:
        await GuardedSite(runner, host, port, guard, backlog=64).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"METRICS_PORT={port} cannot be used ({exc.strerror or exc}): set METRICS_PORT to a free "
                          "port") from None
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"
