"""Matching in worker processes forked from the bot (`MATCHING_PROCESSES`), instead of on threads of its own.

Matching a question is mostly Python between the embedding model's runs. On threads it holds the GIL the event loop
needs to acknowledge events and post replies, so a burst of questions is matched one interpreter's worth at a time,
the replies waiting behind it. Forked processes each have their own interpreter: matching runs beside the event loop.

The processes of one generation are forked together, with every knowledge base the bot answers from, and share one
queue of questions: a socket pair of datagrams (SOCK_SEQPACKET), each taken whole by whichever process is free. Each
process answers on a stream of its own, which the event loop reads (no thread of the bot's waits on them). A
knowledge base they were not forked with (a reload, a phrasing taught, an entry written from Slack, a workspace
installed) forks a new generation; the old one answers what it was sent, then exits as its queue is closed. A process
that dies (killed, out of memory) ends its generation: the questions it had not answered are asked again of a new
one, once; each is answered once, whichever way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import resource
import signal
import socket
import struct
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from knowledge import KnowledgeBase
from knowledge.forking import nothing_matching

log = logging.getLogger(__name__)

T = TypeVar("T")

QUESTION_BYTES = 1 << 16  # the most a question takes pickled, with its asker (its text is clipped to 4,000 chars)
_LENGTH = struct.Struct("!I")  # before each answer on a process's stream: its length
# The most read from a process's stream at once: an answer is ~3 kB, and a larger buffer costs its allocation at each
# read (9 µs for 1 MB against 1 µs for 64 kB); a longer answer is read over several.
READ_BYTES = 1 << 16
_LEFT_TO_THE_BOT = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)  # signals a matching process ignores
FORK_AGAIN_SECONDS = 5.0  # after the processes could not be forked, how long questions go to threads before a retry


class WorkersGone(Exception):
    """The matching processes could not be forked, or died twice with the question unanswered."""


class _Died(Exception):
    """A process of the generation died before answering."""


def _serve(queue: socket.socket, out: socket.socket, bases: dict[int, KnowledgeBase]) -> None:
    """A matching process: take a question, answer it, until the queue is closed."""
    with contextlib.suppress(OSError):
        os.nice(5)  # as the matching threads: acknowledging an event never waits behind matching another
    while message := queue.recv(QUESTION_BYTES):  # empty: the queue was closed, this generation is done
        number, key, run, args = pickle.loads(message)
        try:
            answer = pickle.dumps((number, True, run(bases[key], *args)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # raised again where the question was asked
            try:
                answer = pickle.dumps((number, False, exc), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # an exception that does not pickle: its name and message do
                answer = pickle.dumps((number, False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        out.sendall(_LENGTH.pack(len(answer)) + answer)


def _only(*kept: int) -> None:
    """In a new matching process, let go of every file the bot had open but standard input, output and error and
    `kept`: a connection the bot closes must close (a copy kept here would hold it open), and an older generation's
    queue must end when the bot closes it. What the bot created is frozen first, out of the garbage collector's
    sight: an object collected here would close a descriptor number this process may have opened anew since."""
    gc.freeze()
    start = 3
    for fd in sorted(kept):
        os.closerange(start, fd)
        start = fd + 1
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    os.closerange(start, soft if soft != resource.RLIM_INFINITY else 1 << 20)


class _Stream:
    """What a process has answered so far on its stream, not yet read whole."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock, self.pid, self.buffer = sock, pid, bytearray()


class Generation:
    """`count` matching processes forked together with the knowledge bases `bases`, sharing one queue."""

    def __init__(self, count: int, bases: dict[int, KnowledgeBase], loop: asyncio.AbstractEventLoop) -> None:
        self._bases = {key: weakref.ref(kb) for key, kb in bases.items()}
        self._loop = loop
        self._waiting: dict[int, asyncio.Future[Any]] = {}  # sent and not answered, by number
        self._unsent: deque[bytes] = deque()  # what the queue had no room for yet
        self.broken = self._closing = False
        self._queue, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._queue.setblocking(False)
        self._streams: dict[int, _Stream] = {}
        self.pids: list[int] = []
        try:
            with nothing_matching():
                for _ in range(count):
                    self._fork(theirs, bases)
        except OSError:
            self.kill()
            raise
        finally:
            theirs.close()

    def _fork(self, queue: socket.socket, bases: dict[int, KnowledgeBase]) -> None:
        ours, out = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Held back from the moment of the fork until the child ignores them: Ctrl-C in a terminal, and a service
        # manager stopping the whole group, reach the workers too, and the bot decides. It closes their queue once
        # the questions they were given are answered (or kills them); if it dies, the queue closes with it.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _LEFT_TO_THE_BOT)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            ours.close()
            out.close()
            raise
        if pid == 0:  # the matching process: never back into the bot's code
            code = 0
            try:
                signal.set_wakeup_fd(-1)  # the bot's event loop's, inherited: a signal here must not wake it
                for sig in _LEFT_TO_THE_BOT:
                    signal.signal(sig, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                _only(queue.fileno(), out.fileno())
                _serve(queue, out, bases)
            except BaseException:  # whatever it was, this process only exits
                code = 1
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        out.close()
        ours.setblocking(False)
        self.pids.append(pid)
        self._streams[ours.fileno()] = _Stream(ours, pid)
        self._loop.add_reader(ours.fileno(), self._read, ours.fileno())

    def knows(self, kb: KnowledgeBase) -> bool:
        ref = self._bases.get(id(kb))
        return ref is not None and ref() is kb

    async def ask(self, number: int, message: bytes) -> Any:
        """The answer to the pickled question `message`; raises _Died when a process of this generation died
        first."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._waiting[number] = future
        if self._unsent:
            self._unsent.append(message)
        else:
            try:
                self._queue.send(message)
            except BlockingIOError:  # the queue is full: the rest goes as the processes take from it
                self._unsent.append(message)
                self._loop.add_writer(self._queue.fileno(), self._send_more)
        try:
            return await future
        finally:
            self._waiting.pop(number, None)

    def _send_more(self) -> None:
        while self._unsent:
            try:
                self._queue.send(self._unsent[0])
            except BlockingIOError:
                return
            self._unsent.popleft()
        self._loop.remove_writer(self._queue.fileno())
        if self._closing:
            self._close_queue()

    def _read(self, fd: int) -> None:
        stream = self._streams[fd]
        buffer, ended = stream.buffer, False
        while True:  # all there is now
            try:
                data = stream.sock.recv(READ_BYTES)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:  # the process exited (its queue closed, or it died): once what it sent is read
                ended = True
                break
            buffer += data
            if len(data) < READ_BYTES:
                break
        while len(buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buffer)
            if len(buffer) < _LENGTH.size + size:
                break
            number, ok, value = pickle.loads(memoryview(buffer)[_LENGTH.size:_LENGTH.size + size])
            del buffer[:_LENGTH.size + size]
            future = self._waiting.get(number)
            if future is not None and not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        if ended:
            self._ended(fd)

    def _ended(self, fd: int) -> None:
        stream = self._streams.pop(fd)
        self._loop.remove_reader(fd)
        stream.sock.close()
        status = 0
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(stream.pid, 0)  # it exited: at once
        self.pids.remove(stream.pid)
        # Done: its queue closed and empty, it exited with 0 (its siblings may still be answering what they took).
        # Else it died, and none of this generation's answers can be counted on.
        if not self._closing or os.waitstatus_to_exitcode(status) != 0:
            log.warning("matching process %d died with %d question(s) unanswered", stream.pid, len(self._waiting))
            self.broken = True
            self.kill()

    def close(self) -> None:
        """Let the processes answer what was sent, then exit."""
        self._closing = True
        if not self._unsent:
            self._close_queue()

    def _close_queue(self) -> None:
        if self._queue.fileno() >= 0:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(self._queue.fileno())
            self._queue.close()

    def kill(self) -> None:
        """End the processes now; what they were asked fails with _Died."""
        for fd, stream in list(self._streams.items()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(stream.pid, signal.SIGKILL)
            self._loop.remove_reader(fd)
            stream.sock.close()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stream.pid, 0)
        self._streams.clear()
        self.pids.clear()
        self._unsent.clear()
        self._close_queue()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(_Died())

    @property
    def running(self) -> bool:
        return bool(self._streams)


class Processes:
    """`count` matching processes running `run(kb, *args)` for the knowledge bases `known()` names, forked again when
    asked about one they were not forked with."""

    def __init__(self, count: int, known: Callable[[], Iterable[KnowledgeBase]]) -> None:
        if count < 1:
            raise ValueError("at least one process")
        self.count = count
        self._known = known
        self._current: Generation | None = None
        self._old: list[Generation] = []
        self._numbers = 0
        self._stopped = False
        self.forks = 0  # how many generations were forked (for tests and the log)
        self.failing: str | None = None  # why questions go to the bot's own threads, while they do (logged once)
        self._fork_again_at = 0.0  # after a failed fork, the next is not tried before this (the loop's clock)

    async def run(self, kb: KnowledgeBase, run: Callable[..., T], *args: Any) -> T:
        """`run(kb, *args)` in a matching process (`run` a module-level function, `args` picklable), asked again of
        new processes when one died first. Raises WorkersGone when they cannot be forked or died twice."""
        self._numbers += 1
        number = self._numbers
        message = pickle.dumps((number, id(kb), run, args), protocol=pickle.HIGHEST_PROTOCOL)
        if len(message) > QUESTION_BYTES:
            raise ValueError(f"a question of {len(message)} bytes pickled, more than {QUESTION_BYTES}")
        loop = asyncio.get_running_loop()
        for _ in range(2):
            if self._stopped:
                raise WorkersGone("matching processes stopped")
            if self.failing is not None and loop.time() < self._fork_again_at:
                raise WorkersGone(self.failing)
            try:
                generation = self._generation_for(kb)
            except OSError as exc:
                # Not tried again at every question of a burst: each attempt costs a fork that fails the same way.
                self._fork_again_at = loop.time() + FORK_AGAIN_SECONDS
                raise self._gone(f"cannot fork matching processes: {exc.strerror or exc}") from None
            try:
                answer = await generation.ask(number, message)
            except _Died:
                continue
            if self.failing is not None:
                log.info("matching processes answer again (%s before)", self.failing)
                self.failing = None
            return answer
        raise self._gone("matching processes died twice in a row")

    def _gone(self, why: str) -> WorkersGone:
        """WorkersGone saying `why`, logged once until the processes answer again."""
        if self.failing is None:
            log.error("%s: questions are matched on threads of the bot's own until they can be forked again", why)
        self.failing = why
        return WorkersGone(why)

    def start(self) -> None:
        """Fork the processes now, with the knowledge bases `known()` names (else at the first question, which would
        wait for it). Raises OSError when they cannot be forked."""
        if self._current is None and not self._stopped:
            known = list(self._known())
            if known:
                self._generation_for(known[0])

    @property
    def _generations(self) -> list[Generation]:
        """The old generations still answering, and the current one."""
        return [*self._old, *([self._current] if self._current else [])]

    @property
    def pids(self) -> list[int]:
        """The processes running now, of every generation."""
        return [pid for g in self._generations for pid in g.pids]

    def _generation_for(self, kb: KnowledgeBase) -> Generation:
        current = self._current
        if current is not None and not current.broken and current.knows(kb):
            return current
        bases = {id(k): k for k in (*self._known(), kb)}
        self._current = Generation(self.count, bases, asyncio.get_running_loop())
        self.forks += 1
        log.debug("matching processes forked (%d) with %d knowledge base(s)", self.count, len(bases))
        if current is not None:
            current.close()
            self._old.append(current)
        self._old = [g for g in self._old if g.running]
        return self._current

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop the processes once they have answered what was sent to them (killed after `timeout` seconds)."""
        generations = self._generations
        self._current, self._old, self._stopped = None, [], True
        for generation in generations:
            generation.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(g.running for g in generations) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for generation in generations:
            generation.kill()
