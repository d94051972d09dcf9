"""The database at its slowest: a real SQLite store whose calls hang until released, and a server that accepts
connections and never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.store import QuestionRecord, Store


class StuckStore(Store):
    """Question writes (and the methods named in `hang`) wait up to `wait` seconds, or until `release` is set."""

    def __init__(self, url: str, wait: float = 20.0, hang: tuple[str, ...] = ()) -> None:
        super().__init__(url)
        self.release = threading.Event()
        self.writing = threading.Event()  # set once a question write has begun (and hangs)
        self.wait = wait
        for name in hang:
            setattr(self, name, self._hanging(getattr(self, name)))

    def _hanging(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def hanging(*args: Any, **kwargs: Any) -> Any:
            self.release.wait(self.wait)
            return method(*args, **kwargs)
        return hanging

    def add_questions(self, records: list[QuestionRecord]) -> None:
        self.writing.set()
        self.release.wait(self.wait)
        super().add_questions(records)


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word (a database, or a Slack, that
    hangs); its port. Connections are closed when the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()
