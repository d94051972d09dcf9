"""Slow and idle clients must not hold the server: each connection whose requests have not been verified yet (not one
of them correctly signed) has a few seconds to send a request's headers, and there are at most so many such
connections at once: a new one pushes out the one that has been waiting longest. A flood of half-sent requests
then takes neither every file descriptor nor every slot, and Slack's signed requests and the health check still get
through. Connections that have carried a correctly signed request (Slack's) are left alone; the time to send a body
is bounded where the body is read (bot/adapter/aiohttp.py)."""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

# Unverified connections at most, whatever the descriptor limit (each holds one): as many as the listening backlog,
# so that a burst of Slack's new connections, accepted all at once before any is read, pushes none of them out.
MOST_UNVERIFIED = 1024


def unverified_room() -> int:
    """How many unverified connections to hold at most: MOST_UNVERIFIED, or half the process's descriptor limit
    when that is lower (the other half is for Slack's connections, the store, Redis and the rest)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MOST_UNVERIFIED if soft == resource.RLIM_INFINITY else max(16, min(MOST_UNVERIFIED, soft // 2))


@dataclass(frozen=True)
class Limits:
    """How long a client may take, and how many unverified connections are held at once (None: `unverified_room`)."""

    header_seconds: float = 10.0  # to send a request's headers, from connecting or from the last response on it
    body_seconds: float = 10.0  # to send its body, once the headers are in (Slack's are a few kB, sent at once)
    unverified: int | None = None


DEFAULT_LIMITS = Limits()


class ConnectionGuard:
    """The connections not yet verified, oldest first, each with the deadline for its next request's headers."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.room = limits.unverified if limits.unverified is not None else unverified_room()
        self._waiting: dict[RequestHandler, asyncio.TimerHandle | None] = {}  # None: a request is being handled
        self.pushed_out = 0

    def opened(self, handler: RequestHandler) -> None:
        while len(self._waiting) >= self.room:
            oldest = next(iter(self._waiting))
            self.pushed_out += 1
            if self.pushed_out == 1 or self.pushed_out % 1000 == 0:
                log.warning("%d unverified connections open at once: closing the oldest (%d so far)", self.room,
                            self.pushed_out)
            self._close(oldest)
        self._waiting[handler] = self._deadline(handler)

    def lost(self, handler: RequestHandler) -> None:
        self._forget(handler)

    def verified(self, handler: RequestHandler) -> None:
        """A correctly signed request came on `handler`'s connection: it is Slack's, and no longer watched."""
        self._forget(handler)

    def started(self, handler: RequestHandler) -> None:
        """A request's headers are in: no deadline for them now (the body has its own)."""
        if handler in self._waiting:
            self._cancel(handler)
            self._waiting[handler] = None

    def finished(self, handler: RequestHandler) -> None:
        """A request was answered: the connection, unverified still, waits for the next one's headers."""
        if handler in self._waiting:
            self._cancel(handler)
            del self._waiting[handler]  # to the end: the oldest is the one that has been waiting longest
            self._waiting[handler] = self._deadline(handler)

    def _deadline(self, handler: RequestHandler) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(self.limits.header_seconds, self._too_slow, handler)

    def _too_slow(self, handler: RequestHandler) -> None:
        if self._waiting.get(handler) is not None:
            log.debug("closed a connection that sent no request within %g s", self.limits.header_seconds)
            self._close(handler)

    def _close(self, handler: RequestHandler) -> None:
        self._forget(handler)
        handler.force_close()

    def _cancel(self, handler: RequestHandler) -> None:
        timer = self._waiting.get(handler)
        if timer is not None:
            timer.cancel()

    def _forget(self, handler: RequestHandler) -> None:
        self._cancel(handler)
        self._waiting.pop(handler, None)


class _Watched(asyncio.Protocol):
    """aiohttp's protocol for one connection, telling the guard when the connection opens and closes."""

    def __init__(self, handler: RequestHandler, guard: ConnectionGuard) -> None:
        self.handler, self.guard = handler, guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.guard.opened(self.handler)
        self.handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.lost(self.handler)
        self.handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.handler.data_received(data)

    def eof_received(self) -> None:
        self.handler.eof_received()  # nothing more will come: the connection is closed once answered

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections `guard` watches."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, backlog: int) -> None:
        super().__init__(runner, backlog=backlog)
        self._host, self._port, self._guard = host, port, guard
        self._serves = runner

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._serves.server
        assert server is not None

        def protocol() -> Any:
            return _Watched(server(), self._guard)

        self._server = await asyncio.get_running_loop().create_server(protocol, self._host, self._port,
                                                                      backlog=self._backlog)

