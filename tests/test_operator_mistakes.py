"""Operator mistakes get one line on stderr and a non-zero exit, never a traceback (issue 14, item 6)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from repo_paths import FIXTURE_FAQ, ROOT, SEEDS
from stuck_store import silent_server

from bot.store import Store


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


_INFO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ")


def one_line_after_start(out: subprocess.CompletedProcess[str]) -> str:
    """As `one_line`, for a mistake found once `serve` has started logging: its INFO lines aside."""
    return one_line(subprocess.CompletedProcess(out.args, out.returncode, out.stdout,
                                                "".join(line for line in out.stderr.splitlines(keepends=True)
                                                        if not _INFO.match(line))))


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


# Issue 25, item 14: more mistakes that ended in a traceback

SLACK = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "0123456789abcdef", "STORE_ENABLED": "false"}


def test_a_slack_api_url_with_a_password_is_one_line_without_the_password() -> None:
    out = run("serve", "--http", env={**SLACK, "SLACK_API_URL": "https://bot:hunter2@slack.example/api/"})
    assert "SLACK_API_URL holds a user name or password" in one_line(out) and "hunter2" not in out.stderr
    assert out.returncode == 2


def test_a_redis_url_with_a_port_that_is_not_a_number_is_one_line() -> None:
    out = run("serve", "--http", env={**SLACK, "REDIS_URL": "redis://cache:abc/0"})
    assert "REDIS_URL cannot be read (Port could not be cast to integer value as 'abc')" in one_line(out)
    assert out.returncode == 2


def test_a_dotenv_that_is_not_utf8_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"# r\xc3\xa9glages\nLOG_LEVEL=INFO\nSLACK_COMMAND=/caf\xe9\n")  # the last line in Latin-1
    out = run("topics", env={"DOTENV_PATH": str(dotenv)})
    assert one_line(out) == (f"openllm-bot: {dotenv}:3: not UTF-8 text (byte 0xe9): save it as UTF-8, or name "
                             "another file with DOTENV_PATH")
    assert out.returncode == 2


def test_a_slack_api_url_that_never_answers_is_one_line_within_10_seconds_of_asking() -> None:
    started = time.monotonic()
    with silent_server() as port:
        out = run("serve", "--http", env={**SLACK, "SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
                                          "PORT": str(_free_port())})
    assert "Slack's Web API did not answer the token check within 10 s" in one_line_after_start(out)
    assert out.returncode == 2
    assert time.monotonic() - started < 30  # loading the FAQ and the model, then 10 s (it was 35 s of retries)


def test_a_slack_api_url_nobody_listens_on_is_one_line_without_the_client_s_retries_before_it() -> None:
    with socket.socket() as closed:  # a port that refuses connections: bound, never listening
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        out = run("serve", "--http", env={**SLACK, "SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
                                          "PORT": str(_free_port())})
    assert "retry handler" not in out.stderr  # slack_sdk's INFO line at each retry
    assert "cannot reach Slack's Web API (ClientConnectorError)" in one_line_after_start(out)
    assert out.returncode == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody here may create files in: /sys for root (whom permissions do not stop), else a read-only one."""
    if os.geteuid() == 0:
        return Path("/sys/openllm-bot-test")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder / "data"


def test_the_console_with_its_store_in_a_folder_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    store = _unwritable_folder(tmp_path) / "store.sqlite3"
    out = subprocess.run([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), "console"], input="/quit\n",
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "DOTENV_PATH": "/dev/null", "STORE_PATH": str(store)})
    assert f"sqlite:///{store} cannot be created" in one_line(out)
    assert out.returncode == 1 and out.stdout == ""


def test_the_console_with_its_store_at_a_folder_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), "console"], input="/quit\n",
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "DOTENV_PATH": "/dev/null", "STORE_PATH": str(tmp_path)})
    assert "cannot be opened" in one_line(out) and "is it a folder" in one_line(out)


# The embedding model, moved aside or damaged in a copy: the repository's own files are never touched.
BROKEN_MODEL = """
import inspect
import sys
from pathlib import Path
import knowledge.decision.embedding as embedding
kind, folder, *argv = sys.argv[1:]
model, tokenizer = embedding.MODEL_FILE, embedding.TOKENIZER_FILE
if kind == "missing":
    model = Path(folder) / "absent.onnx"
elif kind == "tampered":
    model = Path(folder) / model.name
    model.write_bytes(embedding.MODEL_FILE.read_bytes()[:-100] + bytes(100))
elif kind == "tokenizer":
    tokenizer = Path(folder) / "tokenizer.json"
    tokenizer.write_text(embedding.TOKENIZER_FILE.read_text(encoding="utf-8")[:5000], encoding="utf-8")
embedding.MODEL_FILE, embedding.TOKENIZER_FILE = model, tokenizer  # checked against the checksums as the real ones
init = embedding.Embedder.__init__
named = {"model_file": model, "tokenizer_file": tokenizer}
positional = [p for p in inspect.signature(init).parameters.values()
              if p.default is not p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
init.__defaults__ = tuple(named.get(p.name, p.default) for p in positional)
init.__kwdefaults__ = {k: named.get(k, v) for k, v in (init.__kwdefaults__ or {}).items()} or None
from bot.cli import main
raise SystemExit(main(argv))
"""


@pytest.mark.parametrize(("kind", "says"), [("missing", "embedding model missing"), ("tampered", "checksum"),
                                            ("tokenizer", "")])
def test_a_missing_or_damaged_model_is_refused_in_one_line(tmp_path: Path, kind: str, says: str) -> None:
    out = subprocess.run([sys.executable, "-c", BROKEN_MODEL, kind, str(tmp_path), "--faq", str(FIXTURE_FAQ), "ask",
                          "licence"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "DOTENV_PATH": "/dev/null", "EMBEDDING_CACHE_DIR": ""})
    assert says in one_line(out)
    assert out.returncode == 1


@pytest.mark.parametrize(("command", "after"), [(("ask", "--json"), 0.3), (("ask", "--json"), 1.0),
                                                (("ask", "--json"), 4.0), (("serve", "--http"), 0.3)])
def test_ctrl_c_during_start_up_exits_130_quietly(command: tuple[str, ...], after: float) -> None:
    # `ask` without a question reads them from standard input, left open: it never ends by itself. Slack never
    # answers `serve`'s token check. Either way the modules, the FAQ and the model load first.
    with silent_server() as port:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
        environment |= {**SLACK, "DOTENV_PATH": "/dev/null", "SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
                        "PORT": str(_free_port())}
        process = subprocess.Popen([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), *command], cwd=ROOT,
                                   env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(after)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    # 130 (128 + SIGINT), or killed by the SIGINT itself when it came before Python handled it (on a busy machine,
    # still starting): a shell reports both as 130.
    assert process.returncode in (130, -signal.SIGINT) and stdout == "", stderr
    assert [line for line in stderr.splitlines() if not _INFO.match(line)] == [], stderr


# Ctrl-C at the moment a library is doing something that turns the KeyboardInterrupt into an error of its own: ONNX
# Runtime's import says "ImportError: initialization failed", and a settings check would report its error.
TURNED_INTERRUPT = """
import builtins
import os
import signal
import sys
import time
turned = {"import": ImportError("initialization failed"), "settings": ValueError("could not be read")}[sys.argv[1]]

def ctrl_c_turned_into_an_error() -> None:
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the SIGINT handler raises KeyboardInterrupt here
    except KeyboardInterrupt:
        raise turned from None

if sys.argv[1] == "import":
    real_import = builtins.__import__

    def importing(name, *args, **kwargs):
        if name == "onnxruntime":
            ctrl_c_turned_into_an_error()
        return real_import(name, *args, **kwargs)

    builtins.__import__ = importing
else:
    import redis.connection
    redis.connection.parse_url = lambda url: ctrl_c_turned_into_an_error()
sys.argv = ["openllm-bot", *sys.argv[2:]]
import bot.__main__
raise SystemExit(bot.__main__.main())
"""


@pytest.mark.parametrize("when", ["import", "settings"])
def test_ctrl_c_turned_into_another_error_by_a_library_still_exits_130_quietly(when: str) -> None:
    out = subprocess.run([sys.executable, "-c", TURNED_INTERRUPT, when, "--faq", str(FIXTURE_FAQ), "ask", "licence"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "DOTENV_PATH": "/dev/null", "REDIS_URL": "redis://localhost:6379/0"})
    assert (out.returncode, out.stdout, out.stderr) == (130, "", "")


def test_a_report_with_standard_output_closed_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    Store(f"sqlite:///{store}").open().close()
    out = subprocess.run(f"exec {sys.executable} -m bot --faq {FIXTURE_FAQ} report >&-", shell=True,
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "DOTENV_PATH": "/dev/null", "STORE_PATH": str(store)})
    assert "standard output is closed" in one_line(out)
    assert out.returncode == 1


@pytest.mark.parametrize("command", [("report",), ("console",), ("serve", "--http")])
def test_a_database_in_memory_is_refused_in_one_line(command: tuple[str, ...]) -> None:
    out = run(*command, env={**SLACK, "STORE_ENABLED": "true", "DATABASE_URL": "sqlite:///:memory:"})
    assert "DATABASE_URL='sqlite:///:memory:' is a database in memory" in one_line(out)
    assert out.returncode == 2


def test_a_problem_in_a_file_beside_the_faq_names_that_file_and_counts_right(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    sources = seeds / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8") + "  - file: missing.txt\n", encoding="utf-8")
    out = run("validate", env={"SEEDS_DIR": str(seeds)})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    heading, *problems = out.stderr.splitlines()
    assert heading.startswith("openllm-bot: ") and heading.endswith("is invalid (1 problem):"), heading
    assert "sources.yaml" in heading and "/faq" not in heading
    assert len(problems) == 1 and "sources.yaml" in problems[0] and "missing.txt" in problems[0]
