"""The local console: ask questions without Slack."""

from __future__ import annotations

from typing import TextIO

from knowledge import KnowledgeBase

from .plaintext import result_text


def run_console(kb: KnowledgeBase, stdin: TextIO, stdout: TextIO) -> int:
    stdout.write("openllm-bot console: ask a question about open source LLMs (Ctrl-D to quit).\n> ")
    stdout.flush()
    for line in stdin:
        if line.strip():
            stdout.write(result_text(kb, kb.ask(line)) + "\n")
        stdout.write("> ")
        stdout.flush()
    stdout.write("\n")
    return 0
