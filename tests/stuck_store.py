"""A real SQLite store whose question writes hang until released: the database at its slowest."""

from __future__ import annotations

import threading

from bot.store import QuestionRecord, Store


class StuckStore(Store):
    def __init__(self, url: str, wait: float = 20.0) -> None:
        super().__init__(url)
        self.release = threading.Event()
        self.wait = wait

    def add_questions(self, records: list[QuestionRecord]) -> None:
        self.release.wait(self.wait)
        super().add_questions(records)
