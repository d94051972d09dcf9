"""Forking a process with threads safely for matching (knowledge/forking.py): no fork while a thread matches, no
matching while a fork is under way, nested matching counted once, and locks renewed in the child."""

from __future__ import annotations

import os
import threading
import time

from knowledge.forking import matching, nothing_matching, renew_after_fork


def test_a_fork_waits_for_the_matching_under_way_to_end() -> None:
    inside, leave, forked = threading.Event(), threading.Event(), threading.Event()

    def match() -> None:
        with matching(), matching():  # nested: the embedding model within a question
            inside.set()
            leave.wait(5)

    def fork() -> None:
        with nothing_matching():
            forked.set()

    matcher = threading.Thread(target=match)
    matcher.start()
    assert inside.wait(5)
    forker = threading.Thread(target=fork)
    forker.start()
    assert not forked.wait(0.2)  # still matching
    leave.set()
    assert forked.wait(5)
    matcher.join(5)
    forker.join(5)


def test_no_matching_starts_while_a_fork_is_under_way() -> None:
    forking, done, started = threading.Event(), threading.Event(), threading.Event()

    def fork() -> None:
        with nothing_matching():
            forking.set()
            done.wait(5)

    def match() -> None:
        with matching():
            started.set()

    forker = threading.Thread(target=fork)
    forker.start()
    assert forking.wait(5)
    matcher = threading.Thread(target=match)
    matcher.start()
    assert not started.wait(0.2)
    done.set()
    assert started.wait(5)
    forker.join(5)
    matcher.join(5)


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
