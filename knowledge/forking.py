"""What makes forking a process with threads safe for matching (bot/workers.py forks its matching processes).

A process forked while one of its threads holds a lock gives the child a copy of that lock, held, with no thread to
release it: the child's first question would wait forever. Two kinds are guarded here:

- Python locks used in matching (a matcher's result cache, the embedder's memory): each holder names its locks with
  `renew_after_fork`, and the child gets new, unlocked ones (what the standard library does for its own, e.g.
  logging).
- Native code's own locks (ONNX Runtime's memory arena, BLAS's buffers), which Python cannot replace: matching a
  question and running the embedding model happen within `matching()`, and `nothing_matching()` holds off new
  matching and waits for what is under way to end before it lets the caller fork.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

_holders: weakref.WeakKeyDictionary[object, tuple[str, ...]] = weakref.WeakKeyDictionary()


def renew_after_fork(holder: object, *names: str) -> None:
    """In a forked child, `holder`'s attributes `names` are new unlocked `threading.Lock`s (for as long as `holder`
    lives in the parent; a module can be a holder)."""
    _holders[holder] = (*_holders.get(holder, ()), *names)


class _Runs:
    """How many threads are matching, and whether a fork is waiting for none to be."""

    def __init__(self) -> None:
        self.changed = threading.Condition(threading.Lock())
        self.running = 0
        self.forking = False


_runs = _Runs()
_depth = threading.local()  # how deep within `matching()` this thread is: only the outermost counts


@contextmanager
def matching() -> Iterator[None]:
    """Around matching a question or running the embedding model (native code: ONNX Runtime, BLAS): not while a fork
    is under way. Nested, only the outermost waits and counts."""
    depth = getattr(_depth, "value", 0)
    if depth == 0:
        with _runs.changed:
            while _runs.forking:
                _runs.changed.wait()
            _runs.running += 1
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth
        if depth == 0:
            with _runs.changed:
                _runs.running -= 1
                _runs.changed.notify_all()


@contextmanager
def nothing_matching() -> Iterator[None]:
    """Within: no other thread of this process is matching, nor starts to (fork here). Not from within `matching()`."""
    with _runs.changed:
        while _runs.forking:  # another fork first
            _runs.changed.wait()
        _runs.forking = True
        while _runs.running:
            _runs.changed.wait()
    try:
        yield
    finally:
        with _runs.changed:
            _runs.forking = False
            _runs.changed.notify_all()


def _renew() -> None:
    global _runs, _depth
    _runs, _depth = _Runs(), threading.local()  # the child matches on its one thread: nothing to wait for
    for holder, names in list(_holders.items()):
        for name in names:
            setattr(holder, name, threading.Lock())


os.register_at_fork(after_in_child=_renew)
