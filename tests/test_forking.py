"""Forking a process with threads safely for matching (knowledge/forking.py): no fork while a thread matches, no
matching while a fork is under way, nested matching counted once, and locks renewed in the child."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from knowledge.forking import matching, nothing_matching, renew_after_fork


def _entered_only_once_released(holding: Callable[[], AbstractContextManager[object]],
                                 entering: Callable[[], AbstractContextManager[object]]) -> None:
    """A thread within `holding()` keeps another out of `entering()` until it leaves."""
    inside, leave, entered = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with holding():
            inside.set()
            leave.wait(5)

    def enter() -> None:
        with entering():
            entered.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    other = threading.Thread(target=enter)
    other.start()
    assert not entered.wait(0.2)  # still held
    leave.set()
    assert entered.wait(5)
    holder.join(5)
    other.join(5)


@contextmanager
def _nested_matching() -> Iterator[None]:
    with matching(), matching():  # nested: the embedding model within a question
        yield


def test_a_fork_waits_for_the_matching_under_way_to_end() -> None:
    _entered_only_once_released(_nested_matching, nothing_matching)


def test_no_matching_starts_while_a_fork_is_under_way() -> None:
    _entered_only_once_released(nothing_matching, matching)


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()


def test_a_child_forked_while_a_lock_is_held_gets_it_unlocked() -> None:
    holder = _Holder()
    renew_after_fork(holder, "lock")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.lock:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the lock is a new one
        ok = holder.lock.acquire(timeout=1)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    release.set()
    thread.join(5)
    os.close(write)
    started = time.monotonic()
    assert os.read(read, 1) == b"1" and time.monotonic() - started < 1
    os.waitpid(pid, 0)
    os.close(read)
