"""Blocking calls off the event loop (bot/offloop.py): a result, the call's own exception, Late after the time
allowed, Busy beyond the limit, and a caller cancelled as the result comes is cancelled (never handed the result)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.offloop import Busy, Late, OffLoop


async def test_the_result_or_the_calls_own_exception_comes_back() -> None:
    calls = OffLoop(1.0)
    assert await calls.run(lambda: 42) == 42
    with pytest.raises(TimeoutError, match="its own"):  # not taken for the call being late
        await calls.run(lambda: (_ for _ in ()).throw(TimeoutError("its own")))


async def test_a_call_that_takes_too_long_is_late_and_the_limit_holds_meanwhile() -> None:
    release = threading.Event()
    calls = OffLoop(0.1, limit=1)
    with pytest.raises(Late):
        await calls.run(lambda: release.wait(5))
    with pytest.raises(Busy):  # the first still holds its thread
        await calls.run(lambda: 1)
    release.set()


async def test_a_caller_cancelled_as_the_result_comes_is_cancelled() -> None:
    for _ in range(20):  # the two land in the same pass of the event loop each time
        done = threading.Event()

        def work(done: threading.Event = done) -> int:
            done.wait(5)
            return 1

        task = asyncio.ensure_future(OffLoop(5.0).run(work))
        await asyncio.sleep(0.01)  # waiting for the result
        done.set()
        time.sleep(0.05)  # the loop held: the result is scheduled and not yet taken
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
