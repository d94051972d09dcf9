"""Serving Slack: Socket Mode, or HTTP on aiohttp's server, until SIGINT or SIGTERM.

Start-up, in this order: SIGHUP ignored (it means "reload the FAQ", and by default it ends a process, one still
starting included), the signals handled, the HTTP port listening (the health check and Slack's requests answered 503
"loading"), the FAQ and the embedding model loaded off the event loop, the app built and the bot token checked with
Slack, then ready: 200 on /healthz, or connected in Socket Mode. A SIGHUP while loading reloads once loaded."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from knowledge import KnowledgeBase

from . import answering
from .adapter.aiohttp import BACKLOG, Serving, listen, listen_metrics, name_tasks_by_request
from .adapter.socket_mode import CheckedSocketModeHandler
from .app import create_app
from .channels import find_channels
from .config import OAUTH_INSTALL_PATH, OAUTH_REDIRECT_PATH, Config, ConfigError, Settings
from .dedup import seen_store
from .digest import digest_poster, start_posting
from .handoff import Handoffs, handoffs_for
from .logs import CLIENT_LOGGER, RedactSecrets, formatter, level_library_loggers
from .metrics import Metrics
from .recorder import Recorder, open_recorder
from .reload import Reloader, TaughtWatcher
from .state import KnowledgeHolder
from .store import describe
from .threads import thread_memory

log = logging.getLogger(__name__)

# File descriptors the process has room for from the start (see ready_for_bursts): the backlog, with as many again
# for connections to Slack, the store and the rest.
DESCRIPTORS = 4 * BACKLOG
# The FAQ and the model, or what loads them (then the HTTP port answers 503 while it does).
Knowledge = KnowledgeBase | Callable[[], KnowledgeBase]
T = TypeVar("T")


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log lines at `level` and above to standard error, as text or as JSON lines (LOG_FORMAT, bot/logs.py)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    level_library_loggers(level)


def hold_sighup() -> None:
    """Ignore SIGHUP until the event loop handles it (`Signals`): by default it ends the process. (Only the main
    thread can; serving from another, as some tests do, handles no signals.)"""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def socket_handler(app: AsyncApp, config: Config, metrics: Metrics | None = None) -> AsyncSocketModeHandler:
    """Bolt's Socket Mode handler, checking each envelope as HTTP checks each request (bot/adapter/socket_mode.py),
    and counting them in `metrics` when given."""
    # The app's own client, so that apps.connections.open also goes to SLACK_API_URL.
    return CheckedSocketModeHandler(app, metrics, app_token=config.app_token, web_client=app.client)


TOKEN_CHECK_SECONDS = 10.0  # a Web API address that accepts connections and never answers is said so


async def check_bot_token(app: AsyncApp, seconds: float = TOKEN_CHECK_SECONDS) -> None:
    """Fail at start-up, not at the first message, when Slack refuses the bot token or does not answer."""
    # The client's retries are logged at INFO as they happen; at start-up their outcome is the one line that matters.
    client_log = logging.getLogger(CLIENT_LOGGER)
    level = client_log.level
    client_log.setLevel(max(level, logging.WARNING))
    try:
        async with asyncio.timeout(seconds):  # not wait_for, which can lose a cancellation (Python 3.11)
            await app.client.auth_test()
    except TimeoutError:
        raise ConfigError(f"Slack's Web API did not answer the token check within {seconds:g} s: check the network "
                          "and SLACK_API_URL") from None
    except SlackApiError as exc:
        raise ConfigError(f"SLACK_BOT_TOKEN was refused by Slack ({exc.response.get('error')}): "
                          "copy the Bot User OAuth Token again and reinstall the app if needed") from None
    except aiohttp.ClientError as exc:
        raise ConfigError(f"cannot reach Slack's Web API ({exc.__class__.__name__}): check the network "
                          "and SLACK_API_URL") from None
    finally:
        client_log.setLevel(level)


class _Stopped(Exception):
    """SIGINT or SIGTERM came while starting; says what start-up was doing."""


class Signals:
    """SIGINT and SIGTERM set `stop`. SIGHUP reloads the FAQ (`reload_with`); one that comes while the FAQ is still
    loading reloads it as soon as there is one, since the files may have changed after they were read."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._reloader: Reloader | None = None
        self._pending = False
        self._reloads: set[asyncio.Task] = set()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(sig, self.stop.set)
            self._loop.add_signal_handler(signal.SIGHUP, self._hangup)

    async def before_stop(self, step: Awaitable[T], doing: str) -> T:
        """What `step` (a step of start-up) comes to; raises `_Stopped` if SIGINT or SIGTERM comes first, having
        given up on it (work on a worker thread goes on, and the process ends once it is over)."""
        task = asyncio.ensure_future(step)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done():
            task.cancel()
            raise _Stopped(doing)
        return task.result()

    def reload_with(self, reloader: Reloader) -> None:
        self._reloader = reloader
        if self._pending:
            self._pending = False
            self._reload()

    def _hangup(self) -> None:
        if self._reloader is not None:
            self._reload()
        elif not self._pending:
            self._pending = True
            log.info("SIGHUP while starting: the FAQ is reloaded once it is loaded")

    def _reload(self) -> None:
        assert self._reloader is not None
        task = self._loop.create_task(self._reloader.reload("SIGHUP"))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)


def _others() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def finish_in_flight(grace: float) -> bool:
    """Wait up to `grace` seconds for every other task (replies being sent), and for the tasks those start in turn
    (an acknowledged event still waiting its turn starts Bolt's dispatch, which starts the listener); False if some
    were still running."""
    others = _others()
    if not others:
        return True
    log.info("finishing %d task(s) in flight, for up to %g s", len(others), grace)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while others:
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("%d task(s) still running after %g s: stopping anyway", len(others), grace)
            dropped = sorted({t.get_name() for t in others if not t.get_name().startswith("Task-")})
            for name in dropped:  # named after the request they work for (bot.adapter.aiohttp.name_tasks_by_request)
                log.error("reply to %s dropped: still in flight when the shutdown grace period ran out", name)
            return False
        await asyncio.wait(others, timeout=remaining)
        others = _others()
    return True


@asynccontextmanager
async def kept_alive_to_slack(app: AsyncApp) -> AsyncIterator[None]:
    """Every Web API call of `app` on one pool of kept-alive connections. Without a session of its own, slack_sdk
    opens a new one, so a new connection (and TLS handshake), for every call: under a burst that costs the server
    more than the replies themselves."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=app.client.timeout))
    app.client.session = session  # Bolt hands it on to the client of each request
    try:
        yield
    finally:
        app.client.session = None
        await session.close()


def ready_for_bursts(descriptors: int = DESCRIPTORS) -> None:
    """Once the server is set up, do now what would otherwise stall the event loop in the middle of the first burst
    of requests (measured with 500 new connections at once: 70-80 ms of a 140 ms acknowledgement):

    - Freeze what start-up created (modules, the app, the FAQ) out of the garbage collector's sight. Otherwise the
      objects a burst allocates soon set off a full collection, which walks all of them: ~50 ms with the loop
      standing still. What is frozen is still freed once no longer referenced (the FAQ a reload replaces), unless
      it is part of a reference cycle.
    - Grow the table of file descriptors to `descriptors` (within the soft RLIMIT_NOFILE). Linux grows it by
      doubling as descriptors are taken, and in a process with threads (the store writer) each growth waits for
      an RCU grace period: accepting hundreds of connections grew it several times, ~20 ms asleep in accept().
      A table never shrinks, so taking a high descriptor once and closing it keeps the room."""
    gc.collect()
    gc.freeze()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = (descriptors if soft == resource.RLIM_INFINITY else min(descriptors, soft)) - 1
    spare = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if highest > spare:
            os.close(fcntl.fcntl(spare, fcntl.F_DUPFD_CLOEXEC, highest))  # the lowest free descriptor >= highest
    except OSError as exc:  # not worth failing start-up for
        log.debug("could not reserve %d file descriptors: %s", descriptors, exc)
    finally:
        os.close(spare)


def _watch(holder: KnowledgeHolder, reloader: Reloader | None, recorder: Recorder | None) -> list[asyncio.Task]:
    """What keeps the bot answering from the FAQ's files as they are and with the phrasings taught on any replica."""
    loop = asyncio.get_running_loop()
    watchers = [loop.create_task(reloader.watch())] if reloader is not None else []
    if recorder is not None:
        watchers.append(loop.create_task(TaughtWatcher(holder, recorder.store).watch()))
    return watchers


async def _stop_watching(watchers: list[asyncio.Task]) -> None:
    for watcher in watchers:
        watcher.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)


@asynccontextmanager
async def serving_app(config: Config, holder: KnowledgeHolder, recorder: Recorder | None = None,
                      handoffs: Handoffs | None = None) -> AsyncIterator[AsyncApp]:
    """The app `serve` runs; what it holds open (connections to Slack and to Redis) is closed when it stops."""
    seen = seen_store(config.redis_url, config.dedup_ttl)
    threads = thread_memory(config.redis_url, config.follow_up_hours * 3600) if config.follow_ups else None
    try:
        app = create_app(config, holder, seen=seen, recorder=recorder, threads=threads, handoffs=handoffs)
        async with kept_alive_to_slack(app):
            yield app
    finally:
        await seen.close()
        if threads is not None:
            await threads.close()


async def _listen(serving: Serving, config: Config) -> Callable[[], Awaitable[None]]:
    """Listen on config.port, answering 503 until `serving` is ready; what stops listening (closes the socket, lets
    requests being read finish), at most once."""
    name_tasks_by_request(asyncio.get_running_loop())
    runner, _ = await listen(serving, config.signing_secret or "", "0.0.0.0", config.port,
                             shutdown_timeout=config.shutdown_grace, metrics=config.metrics_port is None)
    log.info("listening on port %d: /healthz answers 503 until the FAQ and the model are loaded", config.port)
    stopped = False

    async def stop_listening() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            await runner.cleanup()

    return stop_listening


async def _listen_metrics(serving: Serving, config: Config) -> Callable[[], Awaitable[None]] | None:
    """Serve /metrics on METRICS_PORT when set (503 until `serving` is ready); what stops that."""
    if config.metrics_port is None:
        return None
    runner, _ = await listen_metrics(serving, "0.0.0.0", config.metrics_port)
    log.info("serving /metrics on port %d", config.metrics_port)
    return runner.cleanup


async def _start_socket(app: AsyncApp, config: Config, metrics: Metrics | None = None
                        ) -> Callable[[], Awaitable[None]]:
    """Connect to Slack in Socket Mode; what disconnects."""
    handler = socket_handler(app, config, metrics)
    try:
        await handler.connect_async()
    except aiohttp.ClientError as exc:
        raise ConfigError(f"cannot reach Slack's Socket Mode server ({exc.__class__.__name__}): "
                          "check the network") from None
    except SlackApiError as exc:
        raise ConfigError(f"SLACK_APP_TOKEN was refused by Slack ({exc.response.get('error')}): use an "
                          "app-level token with the connections:write scope, and turn Socket Mode on") from None
    log.info("connected to Slack in Socket Mode")
    return handler.close_async


class _LoadFailed(Exception):
    """The FAQ could not be loaded: the loader said why and how the process ends (its `SystemExit`)."""

    def __init__(self, exit: SystemExit) -> None:
        super().__init__(exit.code)
        self.exit = exit


async def _loaded(knowledge: Knowledge) -> KnowledgeBase:
    """The knowledge base, loaded on a worker thread when `knowledge` is what loads it (the event loop goes on
    answering meanwhile)."""
    if isinstance(knowledge, KnowledgeBase):
        return knowledge

    def load() -> KnowledgeBase | SystemExit:
        try:
            kb = knowledge()
        except SystemExit as exc:  # raised through the event loop, it would skip the orderly stop
            return exc
        kb.ready()
        return kb

    if isinstance(kb := await asyncio.to_thread(load), SystemExit):
        raise _LoadFailed(kb)
    return kb


async def _open_recorder(settings: Settings, holder: KnowledgeHolder) -> Recorder | None:
    try:
        return await asyncio.to_thread(open_recorder, settings.store, holder.counters.store_failed)
    except OSError as exc:  # e.g. STORE_PATH in a folder it may not write to: answer on, unrecorded
        log.error("store: cannot record questions: %s", exc)
        return None


async def run(settings: Settings, knowledge: Knowledge) -> None:
    """Serve Slack over HTTP or in Socket Mode (`settings.slack.mode`) until SIGINT or SIGTERM, then finish the
    replies in flight. Over HTTP the port is served from the start, answering 503 until ready."""
    config = settings.slack
    assert config is not None
    signals = Signals()
    serving = Serving()  # not ready: 503
    stop_listening = await _listen(serving, config) if config.mode == "http" else None
    stop_metrics = None
    try:
        stop_metrics = await _listen_metrics(serving, config)
        await _serve(settings, knowledge, signals, serving, stop_listening)
    except _Stopped as stopped:
        log.info("stopped while %s", stopped)
    finally:
        if stop_listening is not None:
            await stop_listening()
        if stop_metrics is not None:
            await stop_metrics()
    log.info("stopped")


async def _serve(settings: Settings, knowledge: Knowledge, signals: Signals, serving: Serving,
                 stop_listening: Callable[[], Awaitable[None]] | None) -> None:
    """Start (each step given up on at SIGINT or SIGTERM), serve until SIGINT or SIGTERM, and stop."""
    config = settings.slack
    assert config is not None
    kb = await signals.before_stop(_loaded(knowledge), "loading the FAQ")
    holder = KnowledgeHolder(kb)
    recorder = await signals.before_stop(_open_recorder(settings, holder), "opening the store")
    stopping: float | None = None  # when stopping began
    handoffs = handoffs_for(config, recorder)
    try:
        async with (answering.matching_in_processes(holder, config.matching_processes),
                    serving_app(config, holder, recorder, handoffs) as app):
            if not config.oauth:  # installed with OAuth, each workspace's token is checked as it is installed
                await signals.before_stop(check_bot_token(app), "checking the bot token with Slack")
            digest = digest_poster(settings.digest, app.client, recorder, holder, config.command)
            await signals.before_stop(find_channels(app.client, handoffs.channel if handoffs else None,
                                                    digest.channel if digest else None),
                                      "finding the hand-off and digest channels")
            if stop_listening is None:
                stop_serving = await signals.before_stop(_start_socket(app, config, holder.metrics),
                                                         "connecting to Slack")
                serving.ready(app, holder)  # for /metrics on METRICS_PORT
            else:
                stop_serving = stop_listening
                ready_for_bursts()
                serving.ready(app, holder, (lambda: recorder.problem) if recorder is not None else None)
                log.info("serving Slack over HTTP on port %d: POST /slack/events, GET /healthz", config.port)
                if config.oauth:
                    log.info("installing in many workspaces with OAuth: \"Add to Slack\" at GET %s, Slack's redirect "
                             "back at GET %s; installations kept in %s", OAUTH_INSTALL_PATH, OAUTH_REDIRECT_PATH,
                             describe(recorder.store.url) if recorder is not None else "the store")
            reloader = Reloader(holder, settings.faq.load, settings.faq.watched())
            watchers = [*_watch(holder, reloader, recorder), *start_posting(digest)]
            signals.reload_with(reloader)
            await signals.stop.wait()
            log.info("stopping: nothing new is taken in")
            await _stop_watching(watchers)
            await stop_serving()
            stopping = time.monotonic()
            await finish_in_flight(config.shutdown_grace)
    finally:
        if recorder is not None:  # what is queued is written within what is left of the grace period, 1 s at least
            left = config.shutdown_grace - (time.monotonic() - stopping) if stopping is not None else 0.0
            await asyncio.to_thread(recorder.close, max(1.0, left))


def serve(settings: Settings, knowledge: Knowledge) -> None:
    """Serve Slack as `settings.slack` says until stopped, answering from `knowledge`: the knowledge base, or what
    loads it (then over HTTP the port answers 503 while it loads; a `SystemExit` it raises ends the process once the
    port is closed). Raises `ConfigError` when Slack refuses the credentials at start-up. The FAQ is reloaded when
    its files change or on SIGHUP. Questions and votes go to the store `settings.store` names; what is queued is
    written before the process exits."""
    hold_sighup()
    config = settings.slack
    if config is None:
        raise ValueError("serve needs the Slack settings: Settings.from_env(mode=...)")
    configure_logging(config.log_level, config.log_format)
    try:
        asyncio.run(run(settings, knowledge))
    except _LoadFailed as failed:
        raise failed.exit from None
    finally:
        hold_sighup()  # the loop's handler is gone with the loop
