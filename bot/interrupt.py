"""Ctrl-C during start-up, remembered from the first moment: a library may turn the KeyboardInterrupt it raises into
an error of its own (ONNX Runtime's import says "ImportError: initialization failed"), and the command line must
still end quietly with 130 rather than report that error."""

from __future__ import annotations

import signal
from types import FrameType

_came = False


def watch() -> None:
    """SIGINT raises KeyboardInterrupt, as by default, and is remembered (`came`). Serving replaces this handler with
    its own once the event loop runs: from then on SIGINT stops the bot gracefully instead."""
    signal.signal(signal.SIGINT, _interrupt)


def came() -> bool:
    """Whether SIGINT came while `watch`ed."""
    return _came


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _came
    _came = True
    raise KeyboardInterrupt
