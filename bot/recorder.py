"""The bot's way into the store: records are queued and written on a background thread, so a reply never
waits for the database, and a failing database is logged and counted but never stops an answer. What someone waits
for (an admin's Home, a teaching) is read or written off the event loop with a bounded wait: a database that never
answers is a `StoreUnreachable` after CALL_SECONDS, never a click that hangs or a process that cannot exit."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url

from .config import StoreSettings
from .offloop import Busy, Late, OffLoop
from .store import (
    InvalidRecord,
    QuestionRecord,
    Store,
    StoreError,
    StoreUnreachable,
    TaughtAlready,
    VoteRecord,
    describe,
    user_hash,
    utcnow,
)
from .workspaces import here

log = logging.getLogger(__name__)

T = TypeVar("T")
# Records waiting to be written; beyond this (the database down for long under heavy use) they are counted
# and dropped rather than let memory grow without bound.
QUEUE_LIMIT = 10_000
BATCH = 200
# How long the writer gathers questions into one transaction once one comes: under a burst of questions a
# transaction each (with its commit) cost more CPU than answering them; a flush or a stop ends the wait at once.
GATHER_SECONDS = 0.05
# A question is stored with at most this many characters of its text: enough to read it, not a 40 kB message.
MAX_RECORDED_CHARS = 1000
_STOP = object()


@dataclass
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


READ_FLUSH_SECONDS = 2.0
# How long a read or a teaching waits for the store before it is told the store could not be reached: the store's own
# timeouts (connecting, one statement) end most waits sooner; this ends the rest (a connection that stopped answering).
CALL_SECONDS = 20.0
# Reads and teachings the store may be busy with at once: those that never returned count until they do.
MAX_CALLS = 8
# How long closing waits for the writer when the store is failing: enough for one that just came back.
CLOSE_FAILING_SECONDS = 1.0


class Recorder:
    """Queue questions and votes for `store`; user ids are kept only as hashes keyed with `hash_key`, and the
    question text only when `keep_text`. `on_failure(n)` is told of every n records that could not be written, and of
    every read or teaching the store failed. `problem` says what is wrong with the store, if anything (checked when
    the recorder starts, and with every write); it is logged once when it starts and once when it ends."""

    def __init__(self, store: Store, hash_key: bytes, keep_text: bool = True,
                 on_failure: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.hash_key = hash_key
        self.keep_text = keep_text
        self.problem: str | None = None
        self._on_failure = on_failure or (lambda n: None)
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_LIMIT)
        self._calls = OffLoop(CALL_SECONDS, MAX_CALLS, name="store-call")
        self._lost = 0  # records not written since the store started failing
        # Set while a flush or a stop is queued (`_urgent` of them): the writer then gathers nothing more.
        self._hurry = threading.Event()
        self._urgent = 0
        self._urgent_lock = threading.Lock()
        self._thread = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._thread.start()

    def question(self, record: QuestionRecord, user: str | None = None) -> None:
        """Queue `record`, with `user` (a Slack user id) kept as its keyed hash and the text trimmed or dropped, and
        the Enterprise Grid org of the request being handled (bot/workspaces.py) unless it names one."""
        text = record.text[:MAX_RECORDED_CHARS] if self.keep_text and record.text is not None else None
        self._put(replace(record, user_hash=user_hash(self.hash_key, record.team, user) if user else None, text=text,
                          enterprise_id=record.enterprise_id or here().enterprise_id))

    def vote(self, reply: str, team: str | None, user: str, entry_id: str, helpful: bool) -> None:
        """Queue a vote from the workspace `team` (and the org of the request being handled)."""
        self._put(VoteRecord(reply=reply, user_hash=user_hash(self.hash_key, team, user), entry_id=entry_id,
                             helpful=helpful, voted_at=utcnow(), team_id=team, enterprise_id=here().enterprise_id))

    async def read(self, query: Callable[[Store], T]) -> T:
        """`query(store)` on a worker thread, so that the event loop goes on serving meanwhile; what was queued
        before is written first (waiting up to READ_FLUSH_SECONDS), so the answer includes the latest questions."""

        def flushed_query(store: Store) -> T:
            self.flush(READ_FLUSH_SECONDS)
            return query(store)

        return await self.call(flushed_query)

    async def call(self, action: Callable[[Store], T]) -> T:
        """`action(store)` on a worker thread at once, not queued behind the records: for what someone waits for
        (an admin teaching the bot), whose outcome or error the caller needs. Raises `StoreUnreachable` when the
        store did not answer within CALL_SECONDS (or is still busy with MAX_CALLS earlier calls), and whatever
        `StoreError` the store raised; those but the refusals of what was asked (`InvalidRecord`, `TaughtAlready`)
        count as failures. Logging is the caller's: it knows what was being done."""
        try:
            result = await self._calls.run(lambda: action(self.store), CALL_SECONDS)
        except (Late, Busy) as exc:
            self._on_failure(1)
            raise StoreUnreachable(f"{describe(self.store.url)} did not answer: {exc}") from None
        except StoreError as exc:
            if not isinstance(exc, InvalidRecord | TaughtAlready):
                self.problem = str(exc)
                self._on_failure(1)
            raise
        return result

    def waiting(self) -> int:
        """How many records are queued, not yet written (/metrics)."""
        return self._queue.qsize()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been written (or has failed); False on timeout."""
        marker = _Flush()
        try:
            self._put_urgent(marker, timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then let the database go: within `timeout` seconds in all, however the database
        answers (a write or a disconnection still hanging then is left to a daemon thread), and within
        CLOSE_FAILING_SECONDS when the store is failing already (what is queued would not be written anyway)."""
        deadline = time.monotonic() + (timeout if self.problem is None else min(timeout, CLOSE_FAILING_SECONDS))
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._put_urgent(_STOP, timeout)
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.warning("store: %d record(s) still queued at shutdown were not written", self._queue.qsize())
        closing = threading.Thread(target=self.store.close, name="store-close", daemon=True)
        closing.start()
        closing.join(max(0.0, deadline - time.monotonic()))

    def _put(self, record: object) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            log.error("store: queue full (%d records waiting): one record dropped", QUEUE_LIMIT)
            self._on_failure(1)

    def _put_urgent(self, item: object, timeout: float) -> None:
        """Queue `item` (a flush or the stop), waking the writer if it is gathering; raises queue.Full."""
        with self._urgent_lock:
            self._urgent += 1
            self._hurry.set()
        try:
            self._queue.put(item, timeout=timeout)
        except queue.Full:
            self._urgent_done()
            raise

    def _urgent_done(self) -> None:
        with self._urgent_lock:
            self._urgent -= 1
            if not self._urgent:
                self._hurry.clear()

    def _write_loop(self) -> None:
        self._check()
        while True:
            batch = [self._queue.get()]
            if isinstance(batch[0], QuestionRecord | VoteRecord) and self._queue.qsize() < BATCH - 1:
                # What comes within GATHER_SECONDS goes into the same transaction (unless a whole one is queued
                # already). Asleep meanwhile: waiting on the queue would wake this thread at every record put, each
                # time taking the GIL from the event loop (under a burst, ~0.3 ms of CPU a question). A flush or a
                # stop queued wakes it at once.
                self._hurry.wait(GATHER_SECONDS)
            while len(batch) < BATCH:  # whatever is queued by now
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = False
            pending: list[QuestionRecord] = []
            for item in batch:
                if item is _STOP:
                    self._urgent_done()
                    stop = True
                elif isinstance(item, QuestionRecord):
                    pending.append(item)
                else:
                    self._write(pending)
                    pending = []
                    if isinstance(item, VoteRecord):
                        self._attempt(partial(self.store.add_vote, item), 1)
                    elif isinstance(item, _Flush):
                        self._urgent_done()
                        item.done.set()
            self._write(pending)
            if stop:
                return

    def _check(self) -> None:
        """Say at once, in one line, when the store cannot be used (rather than at each record it drops)."""
        self.problem = self.store.check()
        if self.problem is not None:
            log.error("store: questions and votes cannot be recorded: %s", self.problem)

    def _write(self, records: list[QuestionRecord]) -> None:
        if records:
            self._attempt(lambda: self.store.add_questions(records), len(records))

    def _attempt(self, write: Callable[[], None], count: int) -> None:
        """`write()`; a failure is counted, and logged when the store starts failing (once, until a write works
        again, which is logged too)."""
        try:
            write()
        except Exception as exc:  # any database error: the bot answers on, without this record
            failing = self.problem is not None
            said = str(exc).splitlines()[0] if str(exc) else ""
            # A StoreError names the store (without its password) and says what happened; anything else is a bug.
            self.problem = said if isinstance(exc, StoreError) else f"{exc.__class__.__name__}: {said}"
            if not failing:
                log.error("store: %d record(s) could not be written: %s (the records lost are counted until it "
                          "works again)", count, self.problem)
            self._lost += count
            self._on_failure(count)
        else:
            if self.problem is not None:
                log.info("store: writing to %s again; %d record(s) were lost meanwhile", describe(self.store.url),
                         self._lost)
            self.problem, self._lost = None, 0


def hash_key_for(url: str, configured: str | None) -> bytes:
    """The key user ids are hashed with: `STORE_HASH_KEY`, or for a SQLite store a random key kept in a file
    beside it (created on first start, readable by its owner only)."""
    if configured:
        return configured.encode()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return secrets.token_bytes(32)
    path = Path(parsed.database).expanduser().with_name(Path(parsed.database).name + ".key")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def open_recorder(settings: StoreSettings, on_failure: Callable[[int], None] | None = None) -> Recorder | None:
    """A recorder for the store `settings` name, or None when recording is off. The database itself is reached
    on the first write, so a database that is down at start-up delays nothing (it is logged and counted)."""
    if settings.url is None:
        return None
    store = Store(settings.url)
    # Debug, not info: serve opens the store before checking the token, whose error must stay the only line.
    log.debug("recording questions and votes in %s", describe(store.url))
    return Recorder(store, hash_key_for(store.url, settings.hash_key), settings.keep_text, on_failure)
