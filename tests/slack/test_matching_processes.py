"""Matching in forked worker processes (bot/workers.py): the same replies as on the bot's own threads, each question
answered once when a process dies, a new FAQ forks new processes and the old ones exit, nothing left running after
a stop."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
from collections.abc import AsyncIterator

import pytest

from bot.answering import Question, answer, handle_question
from bot.workers import READ_BYTES, Processes, WorkersGone
from knowledge import KnowledgeBase

from .slackkit import COMMAND, FIXTURE_FAQ, LICENSING_Q, LLAMA_Q, OFF_TOPIC_Q, alive, until

QUESTIONS = [LICENSING_Q, LLAMA_Q, OFF_TOPIC_Q, "can we use llama commercially?", "what is mistral", "help",
             "what GPU do I need for llama 3 70b", "is GPT-4 open source?", "llama vs mistral?"]


def reply_of(kb: KnowledgeBase, text: str) -> object:
    """What the bot would post for `text` (module level: it is pickled to the processes)."""
    return handle_question(kb, Question(text, "mention", "U1", "C1"), COMMAND).reply


def echo(kb: KnowledgeBase, value: object) -> tuple[int, int, object]:
    return os.getpid(), id(kb), value


def sized(kb: KnowledgeBase, size: int) -> str:
    return "y" * size


def fail(kb: KnowledgeBase, message: str) -> None:
    raise ValueError(message)


def slow(kb: KnowledgeBase, seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()


@pytest.fixture
async def processes(kb: KnowledgeBase) -> AsyncIterator[Processes]:
    workers = Processes(2, lambda: [kb])
    yield workers
    await workers.stop(timeout=5)


async def test_processes_reply_as_the_bots_own_threads_do(processes: Processes, kb: KnowledgeBase) -> None:
    asked = QUESTIONS * 5
    replies = await asyncio.gather(*(processes.run(kb, reply_of, q) for q in asked))
    assert replies == [reply_of(kb, q) for q in asked]
    assert len(processes.pids) == 2 and os.getpid() not in processes.pids
    assert processes.forks == 1


async def test_started_processes_are_forked_before_the_first_question(kb: KnowledgeBase) -> None:
    workers = Processes(2, lambda: [kb])
    try:
        workers.start()  # as `serve` does once the FAQ is loaded
        started = list(workers.pids)
        assert len(started) == 2 and all(alive(pid) for pid in started)
        assert await workers.run(kb, reply_of, LICENSING_Q) == reply_of(kb, LICENSING_Q)
        assert workers.forks == 1 and workers.pids == started
    finally:
        await workers.stop(timeout=5)


async def test_questions_go_to_whichever_process_is_free(processes: Processes, kb: KnowledgeBase) -> None:
    answered = await asyncio.gather(*(processes.run(kb, echo, i) for i in range(200)))
    assert [value for _, _, value in answered] == list(range(200))
    assert {pid for pid, _, _ in answered} <= set(processes.pids)
    assert {key for _, key, _ in answered} == {id(kb)}  # the process's copy of the same knowledge base


async def test_more_questions_than_the_queue_holds_are_all_answered(processes: Processes, kb: KnowledgeBase) -> None:
    text = "x" * 3000  # 3,000 questions of 3 kB: about 9 MB, far more than a socket's buffer
    answered = await asyncio.gather(*(processes.run(kb, echo, (i, text)) for i in range(3000)))
    assert [value for _, _, value in answered] == [(i, text) for i in range(3000)]


async def test_answers_longer_than_one_read_arrive_whole(processes: Processes, kb: KnowledgeBase) -> None:
    sizes = [1, READ_BYTES - 10, READ_BYTES, 3 * READ_BYTES + 7, 1 << 20, 5] * 3
    answered = await asyncio.gather(*(processes.run(kb, sized, n) for n in sizes))
    assert [len(a) for a in answered] == sizes and all(set(a) == {"y"} for a in answered)


async def test_an_error_while_matching_is_raised_where_the_question_was_asked(processes: Processes,
                                                                              kb: KnowledgeBase) -> None:
    with pytest.raises(ValueError, match="no such entry"):
        await processes.run(kb, fail, "no such entry")
    assert await processes.run(kb, reply_of, LICENSING_Q) == reply_of(kb, LICENSING_Q)  # and the processes go on


async def test_a_process_that_dies_leaves_no_question_unanswered(processes: Processes, kb: KnowledgeBase) -> None:
    await processes.run(kb, echo, 0)
    first = list(processes.pids)
    waiting = [asyncio.ensure_future(processes.run(kb, slow, 0.05)) for _ in range(20)]
    await asyncio.sleep(0.1)
    os.kill(first[0], signal.SIGKILL)
    answered = await asyncio.gather(*waiting)
    assert len(answered) == 20
    assert processes.forks == 2  # a new generation took the questions the dead one had not answered
    assert not any(alive(pid) for pid in first)
    assert set(answered) - set(first) and set(answered) - set(first) <= set(processes.pids)


async def test_a_stop_signal_to_a_worker_is_left_to_the_bot(processes: Processes, kb: KnowledgeBase) -> None:
    await processes.run(kb, echo, 0)
    for pid in processes.pids:  # as a service manager stopping the whole process group, or Ctrl-C in a terminal
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            os.kill(pid, sig)
    answered = await asyncio.gather(*(processes.run(kb, slow, 0.01) for _ in range(10)))
    assert set(answered) <= set(processes.pids) and processes.forks == 1  # the same workers, still answering


async def test_a_new_faq_forks_new_processes_and_the_old_ones_exit(kb: KnowledgeBase) -> None:
    known = [kb]
    workers = Processes(2, lambda: known)
    try:
        await workers.run(kb, echo, 0)
        old = list(workers.pids)
        reloaded = KnowledgeBase.load(FIXTURE_FAQ)
        known = [reloaded]
        pid, key, _ = await workers.run(reloaded, echo, 1)
        assert workers.forks == 2 and pid not in old and key == id(reloaded)
        await until(lambda: not any(alive(p) for p in old))
        assert sorted(workers.pids) != sorted(old) and len(workers.pids) == 2
    finally:
        await workers.stop(timeout=5)


async def test_stopping_waits_for_what_was_asked_then_leaves_nothing_running(kb: KnowledgeBase) -> None:
    workers = Processes(2, lambda: [kb])
    waiting = [asyncio.ensure_future(workers.run(kb, slow, 0.1)) for _ in range(4)]
    await asyncio.sleep(0.02)
    pids = list(workers.pids)
    await workers.stop(timeout=5)
    assert all(w.done() and not w.exception() for w in waiting)
    assert pids and not any(alive(p) for p in pids)


async def test_a_process_stuck_past_the_stop_timeout_is_killed(kb: KnowledgeBase) -> None:
    workers = Processes(1, lambda: [kb])
    waiting = asyncio.ensure_future(workers.run(kb, slow, 60))
    await asyncio.sleep(0.1)
    pids = list(workers.pids)
    await workers.stop(timeout=0.2)
    assert not any(alive(p) for p in pids)
    with pytest.raises(WorkersGone):  # asked of the bot's own threads instead (bot/answering.py)
        await waiting



async def test_processes_that_cannot_be_forked_are_logged_once_and_tried_again_later(
        kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("bot.workers.FORK_AGAIN_SECONDS", 0.3)
    caplog.set_level(logging.INFO, logger="bot.workers")
    forks: list[int] = []
    real_fork = os.fork

    def no_fork() -> int:
        forks.append(1)
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    workers = Processes(2, lambda: [kb])
    try:
        monkeypatch.setattr(os, "fork", no_fork)
        asked = QUESTIONS * 4  # a burst: all on the bot's own threads, one fork tried, one line logged
        handled = await asyncio.gather(*(answer(kb, Question(q, "mention", "U1", "C1"), COMMAND, workers)
                                         for q in asked))
        assert [h.reply for h in handled] == [reply_of(kb, q) for q in asked]
        assert len(forks) == 1 and workers.failing is not None and not workers.pids
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "cannot fork matching processes" in errors[0].getMessage()
        monkeypatch.setattr(os, "fork", real_fork)
        await asyncio.sleep(0.35)  # then forked again at the next question
        again = await answer(kb, Question(LICENSING_Q, "mention", "U1", "C1"), COMMAND, workers)
        assert again.reply == reply_of(kb, LICENSING_Q)
        assert len(workers.pids) == 2 and workers.failing is None
        assert any("answer again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    finally:
        await workers.stop(timeout=5)
