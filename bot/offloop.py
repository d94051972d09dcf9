"""Blocking calls made for the event loop, with a bounded wait. Each runs on a daemon thread of its own, so that a call
that never returns (a database that accepts connections and never answers) holds neither the event loop, nor a thread
of the loop's default executor (which `asyncio.run` and the interpreter wait for when the process exits), nor the
process's exit: the caller is told after `seconds`, and the thread is left to finish when it can."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar, cast

T = TypeVar("T")


class Late(TimeoutError):
    """The call did not return in time; it may still be running."""


class Busy(RuntimeError):
    """As many calls as allowed are still running (calls that did not return in time count until they do)."""


class OffLoop:
    """Runs blocking calls off the event loop, waiting at most `seconds` for each, with at most `limit` running at
    once: a store that hangs holds `limit` threads at most, however often it is called."""

    def __init__(self, seconds: float, limit: int = 8, name: str = "off-loop") -> None:
        self.seconds, self.limit, self.name = seconds, limit, name
        self._slots = threading.Semaphore(limit)

    async def run(self, work: Callable[[], T], seconds: float | None = None) -> T:
        """`work()` on a daemon thread: its result or its exception; `Late` after `seconds` (default: the
        instance's), `Busy` at once when `limit` calls are still running."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.limit} earlier calls have not returned yet")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: T, error: BaseException | None) -> None:
            if future.done():  # given up on (Late), or cancelled with its caller
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def call() -> None:
            error: BaseException | None = None
            result = cast(T, None)
            try:
                result = work()
            except BaseException as exc:  # handed to the caller as it is
                error = exc
            finally:
                self._slots.release()
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=call, name=self.name, daemon=True).start()
        limit = self.seconds if seconds is None else seconds
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when it comes as its caller is
        # cancelled, and the cancellation is lost (a TaughtWatcher cancelled then looked again forever).
        try:
            async with asyncio.timeout(limit):
                return await future  # cancels `future` on time-out, or when the caller is cancelled
        except TimeoutError:
            if future.cancelled():
                raise Late(f"no answer within {limit:g} s") from None
            raise  # raised by `work` itself
