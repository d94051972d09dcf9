"""The local console drives the real Slack listeners through the fake Slack and prints their replies."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.console import mrkdwn_to_text, run_console
from bot.recorder import Recorder
from bot.store import Store
from knowledge import KnowledgeBase

FIXTURE_FAQ = Path(__file__).resolve().parent / "fixtures" / "faq"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(FIXTURE_FAQ)


def console(kb: KnowledgeBase, *lines: str) -> str:
    out = io.StringIO()
    assert run_console(kb, io.StringIO("".join(line + "\n" for line in lines)), out) == 0
    return out.getvalue()


def button(output: str, label: str) -> str:
    """The number the console gave the last button called `label`."""
    return re.findall(rf"\[(\d+)\] {re.escape(label)}", output)[-1]


def test_console_question_is_a_mention_answered_in_a_thread_with_numbered_buttons(kb) -> None:
    out = console(kb, "licence terms for open models")
    assert "[openllm, in the thread]\n*Can we use open LLMs commercially?*" in out
    assert "Open Source Large Language Models: The Future is Now (https://futuretechblog.space/" in out
    assert "[1] What are Meta's LLaMA models?" in out
    assert "[2] 👍 Helpful  [3] 👎 Not helpful" in out


def test_console_click_runs_the_button_listener(kb) -> None:
    out = console(kb, "licence terms for open models", "/click 1", "/click 3")
    assert out.count("[openllm, in the thread]") == 2
    assert "LLaMA is Meta's family of models" in out
    assert "[openllm, only visible to you]\n  Thanks for the feedback!" in out


def test_console_slash_command_is_ephemeral_and_share_posts_publicly(kb) -> None:
    first = console(kb, "/openllm licence terms for open models")
    assert "[openllm, only visible to you]" in first and "Share in channel" in first
    out = console(kb, "/openllm licence terms for open models", f"/click {button(first, 'Share in channel')}")
    assert "[openllm, in the channel]" in out
    assert "Shared by @UCONSOLE" in out
    assert "(openllm removed its private reply)" in out


def test_console_slash_topics_help_dm_and_home(kb) -> None:
    out = console(kb, "/openllm topics", "/openllm help", "/dm who made llama", "/home")
    assert "`attention`" in out and "• What is the attention mechanism?" in out
    assert "How to ask" in out
    assert "[openllm, in your DM]\n*What are Meta's LLaMA models?*" in out
    assert "[App Home]\n== openllm: answers about open source LLMs ==" in out


def test_console_declines_out_of_scope_questions_and_never_echoes_pings(kb) -> None:
    out = console(kb, "<!channel> what's the weather in berlin")
    assert "outside what my documents cover" in out
    assert "<!channel>" not in out and "@channel" not in out


def test_console_reports_unknown_buttons_and_commands_and_quits(kb) -> None:
    out = console(kb, "/click 7", "/frobnicate", "/quit", "licence terms for open models")
    assert "There is no button [7]" in out
    assert "Unknown command /frobnicate" in out
    assert "Can we use open LLMs commercially?" not in out  # nothing after /quit


def test_console_says_when_a_button_is_gone(kb) -> None:
    out = console(kb, "/openllm licence terms for open models", "/click 4", "/click 4")
    assert "Button [4] is no longer there." in out


def test_mrkdwn_links_and_entities_read_as_plain_text() -> None:
    assert mrkdwn_to_text("<https://x.test|A &amp; B> &lt;!here&gt; <@U1>") == "A & B (https://x.test) <!here> @U1"


def test_console_says_what_the_documents_do_not_say_and_offers_the_entry() -> None:
    out = console(KnowledgeBase.load(), "what year was falcon released?", "/click 1")
    assert "My documents don't give dates. They do cover:" in out
    assert "[1] What are the Falcon models?" in out
    assert "Technology Innovation Institute" in out


UNSURE_Q = "who owns the llama weights"  # suggestions from the fixture FAQ
UNKNOWN_Q = "can my startup ship llama inside an app"  # declined


def recording_console(kb: KnowledgeBase, store: Path, *lines: str) -> str:
    """The console recording into `store`, as `openllm-bot console` does, so that /home has questions to teach."""
    out = io.StringIO()
    recorder = Recorder(Store(f"sqlite:///{store}"), b"console-test-key")
    assert run_console(kb, io.StringIO("".join(line + "\n" for line in lines)), out, recorder) == 0
    return out.getvalue()


def test_console_home_teaches_the_bot_with_its_buttons_and_menus(kb, tmp_path: Path) -> None:
    asked = (UNSURE_Q, UNKNOWN_Q, "/home")
    home = recording_console(kb, tmp_path / "1.sqlite3", *asked)
    assert "== Last 7 days (admins only) ==" in home  # the console's user is an admin
    means = "/click " + button(home, "It means: What are Meta's LLaMA models?")
    taught = recording_console(kb, tmp_path / "2.sqlite3", *asked, means)
    assert f"Taught: “{UNSURE_Q}” → *What are Meta's LLaMA models?*" in taught
    menu = button(taught, "Another entry…")  # in the Home drawn again
    assert f"[{menu}] Another entry… (/click {menu} ENTRY)" in taught
    # A menu needs an option: an entry's id, or words of its question naming only one ("what" names them all).
    out = recording_console(kb, tmp_path / "3.sqlite3", *asked, means, f"/click {menu}", f"/click {menu} what",
                            f"/click {menu} commercially", UNSURE_Q, UNKNOWN_Q)
    assert out.count(f"[{menu}] is a menu: choose an entry by its id or words of its question, e.g. /click {menu} "
                     "licensing") == 2
    assert f"Taught: “{UNKNOWN_Q}” → *Can we use open LLMs commercially?*" in out
    *_, llama, licensing = out.split("[openllm, in the thread]")
    assert "*What are Meta's LLaMA models?*" in llama and "*Can we use open LLMs commercially?*" in licensing
    store = Store(f"sqlite:///{tmp_path / '3.sqlite3'}")
    assert [(t.text, t.entry_id, t.taught_by) for t in store.taught()] == [
        (UNSURE_Q, "llama", "UCONSOLE"), (UNKNOWN_Q, "licensing", "UCONSOLE")]
    store.close()


def test_console_undo_and_a_home_drawn_again_retire_the_old_buttons(kb, tmp_path: Path) -> None:
    asked = (UNSURE_Q, "/home")
    home = recording_console(kb, tmp_path / "1.sqlite3", *asked)
    means = "/click " + button(home, "It means: What are Meta's LLaMA models?")
    taught = recording_console(kb, tmp_path / "2.sqlite3", *asked, means)
    undo = f"/click {button(taught, 'Undo')}"
    out = recording_console(kb, tmp_path / "3.sqlite3", *asked, means, means, undo, UNSURE_Q)
    assert f"Button [{means.split()[1]}] is no longer there." in out  # the Home was drawn again
    assert f"Undone: “{UNSURE_Q}” → *What are Meta's LLaMA models?*" in out
    assert out.rsplit("[openllm, in the thread]", 1)[1].startswith("\nI'm not sure I understood; did you mean...")


def test_console_reply_is_a_follow_up_in_the_thread_of_the_last_answer(kb) -> None:
    out = console(kb, "/reply how does attention work in neural networks?", "licence terms for open models",
                  "/reply how does attention work in neural networks?", "/reply thanks!", "/reply stop",
                  "/reply and what about llama?")
    assert "There is no thread yet" in out
    assert out.count("[openllm, in the thread]") == 2
    assert "[openllm, in the thread]\n*What is the attention mechanism?*" in out
    assert "[openllm, only visible to you]\nOK, I'll stay out of this thread" in out
    assert out.count("(no reply from openllm)") == 2  # the thanks, and the question after "stop"
    assert "/reply TEXT" in out  # listed in the help


def test_console_reply_naming_the_bot_is_answered_once(kb) -> None:
    out = console(kb, "licence terms for open models", "/reply @openllm how does attention work in neural networks?")
    assert out.count("*What is the attention mechanism?*") == 1
