"""Operator mistakes get one line on stderr and a non-zero exit, never a traceback (issue 14, item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ, ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("SLACK_", "MATCH_", "DATABASE_URL", "STORE_"))} | {"DOTENV_PATH": "/dev/null"}
    environment |= env or {}
    return subprocess.run([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env=environment)


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


HASH = {"STORE_HASH_KEY": "0123456789abcdef0123"}


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://u:p@localhost:99999/db", "port 99999, which is not a port number"),
    ("postgresql://u:p@localhost:abc/db", "DATABASE_URL cannot be read"),
    ("postgresql+nodriver://u@localhost/db", "driver that is not installed"),
])
@pytest.mark.parametrize("command", [("report",), ("console",)])
def test_a_bad_database_url_is_one_line(url: str, says: str, command: tuple[str, ...]) -> None:
    out = run(*command, env={"DATABASE_URL": url, **HASH})
    assert says in one_line(out)
    assert out.returncode == 2


def test_report_into_a_missing_folder_or_onto_a_folder_is_one_line(tmp_path: Path) -> None:
    store = {"STORE_PATH": str(tmp_path / "q.sqlite3")}
    assert "does not exist" in one_line(run("report", "-o", str(tmp_path / "no" / "r.csv"), env=store))
    assert "is a folder" in one_line(run("report", "-o", str(tmp_path), env=store))


def test_a_span_reaching_before_the_year_one_is_one_line() -> None:
    assert "reaches back before the year 1" in one_line(run("report", "--since", "99999999d"))


def test_eval_with_a_missing_broken_or_incomplete_file_is_one_line(tmp_path: Path) -> None:
    assert "cannot read it" in one_line(run("eval", str(tmp_path / "absent.yaml")))
    broken = tmp_path / "broken.yaml"
    broken.write_text("- q: [unclosed\n", encoding="utf-8")
    assert one_line(run("eval", str(broken))).startswith(f"openllm-bot: {broken}:")
    no_q = tmp_path / "no_q.yaml"
    no_q.write_text("- q: fine\n  expect: [licensing]\n- expect: []\n", encoding="utf-8")
    assert "case 2 has no question ('q')" in one_line(run("eval", str(no_q)))


def test_topics_into_a_closed_pipe_ends_quietly() -> None:
    out = subprocess.run(f"{sys.executable} -m bot --faq {FIXTURE_FAQ} topics | head -1", shell=True,
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.count("\n") == 1
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_validate_on_deeply_nested_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("entries:\n  - " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "bot", "validate", str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{tmp_path / 'deep.yaml'}:2: YAML nested more than 100 levels deep" in out.stderr


def test_a_signing_secret_that_is_not_hex_says_so() -> None:
    out = run("serve", "--http", env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "not-a-secret"})
    assert "is not 16 to 128 hexadecimal characters" in one_line(out)
    assert out.returncode == 2


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "abc"])
def test_a_threshold_outside_0_to_1_is_refused_at_start_up(value: str) -> None:
    out = run("ask", "licence", env={"MATCH_ANSWER_THRESHOLD": value})
    assert "MATCH_ANSWER_THRESHOLD" in one_line(out) and "from 0 to 1" in one_line(out)
    assert out.returncode == 2
