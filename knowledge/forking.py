"""What makes forking a process with threads safe for matching (bot/workers.py forks its matching processes).

A process forked while one of its threads holds a lock gives the child a copy of that lock, held, with no thread to
release it: the child's first question would wait forever. Two kinds are guarded here:

- Python locks used in matching (a matcher's result cache, the embedder's memory): each holder names its locks with
  `renew_after_fork`, and the child gets new, unlocked ones (what the standard library does for its own, e.g.
  logging).
- ONNX Runtime's own locks (its memory arena among them), which Python cannot replace: the embedding model runs
  within `model_running()`, and `no_model_running()` holds off new runs and waits for those under way to end before
  it lets the caller fork.
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
    """How many threads are inside the embedding model, and whether a fork is waiting for none to be."""

    def __init__(self) -> None:
        self.changed = threading.Condition(threading.Lock())
        self.running = 0
        self.forking = False


_runs = _Runs()


@contextmanager
def model_running() -> Iterator[None]:
    """Around a run of the embedding model: not while a fork is under way."""
    with _runs.changed:
        while _runs.forking:
            _runs.changed.wait()
        _runs.running += 1
    try:
        yield
    finally:
        with _runs.changed:
            _runs.running -= 1
            _runs.changed.notify_all()


@contextmanager
def no_model_running() -> Iterator[None]:
    """Within: no thread of this process is inside the embedding model, nor enters it (fork here)."""
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
    global _runs
    _runs = _Runs()  # the child runs the model from its one thread: nothing to wait for
    for holder, names in list(_holders.items()):
        for name in names:
            setattr(holder, name, threading.Lock())


os.register_at_fork(after_in_child=_renew)
