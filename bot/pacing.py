"""Acknowledgements first: the work behind an acknowledged event waits its turn, one event per pass of the loop.

An event is acknowledged (HTTP 200) before Bolt handles it, but Bolt's work on it (signature check, deduplication,
the matcher, the reply) runs on the same event loop as the acknowledgements. Started at once, a burst of 500 events
queues ~500 pieces of that work ahead of the requests still arriving, and the last ones are acknowledged only once
most of the replies have been prepared. Here each event's work waits until the loop has gone round once more
(polling its sockets, so reading and acknowledging whatever arrived meanwhile) before the next one starts, oldest
first. Work that has started is not held back: waiting on Slack's Web API overlaps as before.
"""

from __future__ import annotations

import asyncio
from collections import deque


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
