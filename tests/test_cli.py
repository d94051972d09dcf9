"""The command line, run as a person (or an evaluation) runs it: a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import yaml
from repo_paths import FIXTURE_FAQ, ROOT

from bot.store import Store, utcnow
from knowledge.decision.evaluation import evaluate, format_report, load_cases
from knowledge.result import Candidate, MatchResult


def run(*args: str, stdin: str | None = None, env_faq: Path = FIXTURE_FAQ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "--faq", str(env_faq), *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_ask_prints_answer_and_linked_sources() -> None:
    out = run("ask", "licence terms for open models")
    assert out.returncode == 0, out.stderr
    assert "read the licence" in out.stdout
    assert "https://futuretechblog.space/open-source-large-language-model#:~:text=Some%20licenses" in out.stdout


def test_ask_json_has_status_id_score_candidates() -> None:
    out = run("ask", "--json", "licence terms for open models")
    payload = json.loads(out.stdout)
    assert payload["status"] == "answer" and payload["id"] == "licensing"
    assert set(payload) == {"status", "id", "score", "candidates"}
    assert payload["candidates"][0]["id"] == "licensing"


def test_ask_without_question_answers_each_stdin_line_as_json_in_one_process() -> None:
    out = run("ask", "--json", stdin="licence terms for open models\nwho made llama\nis it raining in berlin\n")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(p["status"], p["id"]) for p in lines] == [("answer", "licensing"), ("answer", "llama"), ("none", None)]


def test_ask_explain_says_which_terms_and_phrasing_matched() -> None:
    out = run("ask", "--explain", "who made llama")
    assert "Why:" in out.stdout
    assert "best phrasing 'who made llama'" in out.stdout


def test_topics_lists_entries_by_tag() -> None:
    out = run("topics")
    assert "licence: licensing" in out.stdout.splitlines()
    assert "meta: llama" in out.stdout.splitlines()


def test_validate_passes_on_a_good_folder() -> None:
    out = run("validate", str(FIXTURE_FAQ))
    assert out.returncode == 0
    assert out.stdout.startswith("ok: 3 entries, 3 quotes verified")


def test_validate_exits_1_listing_every_error(tmp_path: Path) -> None:
    text = (FIXTURE_FAQ / "small.yaml").read_text(encoding="utf-8")
    text = text.replace("related: [licensing, attention]", "related: [licensing, nope]")
    text = text.replace("under more permissive licenses", "under friendlier licenses")
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    out = run("validate", str(tmp_path))
    assert out.returncode == 1
    errors = [line.strip() for line in out.stderr.splitlines() if "bad.yaml:" in line]
    assert len(errors) == 2
    assert any("quote not found verbatim" in e for e in errors)
    assert any("related id 'nope' does not exist" in e for e in errors)
    assert "Traceback" not in out.stderr


def test_eval_prints_figures_overall_and_per_kind(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        '- {q: "licence terms for open models", expect: [licensing], kind: paraphrase}\n'
        '- {q: "who made llama", expect: [attention], kind: paraphrase}\n'
        '- {q: "is it raining in berlin", expect: [], kind: oos}\n', encoding="utf-8")
    out = run("eval", str(cases))
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line[:1].isalpha()}
    assert rows["all"][1:3] == ["3", "50.0%"]
    assert rows["paraphrase"][4] == "50.0%"  # the llama question answered against expectations: wrong
    assert rows["oos"][-2] == "100.0%"
    assert "WRONG llama" in out.stdout


def test_eval_counts_both_entries_by_kind_and_lists_the_questions_answered_with_one(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        '- {q: "llama vs mistral", expect: [llama, mistral], kind: comparison}\n'
        '- {q: "llama vs falcon", expect: [llama, falcon], kind: comparison}\n'
        '- {q: "what is bert and who makes falcon", expect: [bert-xlnet, falcon], kind: two-questions}\n',
        encoding="utf-8")
    answers = {"llama vs mistral": ("llama", "mistral"), "llama vs falcon": ("llama", None),
               "what is bert and who makes falcon": ("bert-xlnet", "falcon")}

    def ask(question: str) -> MatchResult:
        first, second = answers[question]
        return MatchResult("answer", first, 0.9, (Candidate(first, 0.9),), question, also=second)

    report = format_report(evaluate(load_cases(cases), ask))
    assert "questions expecting two entries: 2 of 3 answered with both (comparison 1 of 2, two-questions 1 of 1)" \
        in report
    listed = report.split("answered with one of the two entries expected (correct, but not both):\n")[1]
    assert listed.splitlines() == ["  [comparison] 'llama vs falcon': expected ['llama', 'falcon'], got llama"]


def test_console_answers_a_typed_question() -> None:
    out = run("console", stdin="licence terms for open models\n")
    assert out.returncode == 0
    assert "read the licence" in out.stdout


def test_console_without_a_store_configured_records_nothing_in_the_working_folder(tmp_path: Path) -> None:
    # Trial questions must not mix with real ones in the default openllm-bot.sqlite3: the console keeps a store of
    # its own for the session unless STORE_PATH or DATABASE_URL is set.
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("STORE_PATH", "DATABASE_URL")}
    out = subprocess.run([sys.executable, "-m", "bot", "--faq", str(FIXTURE_FAQ), "console"], cwd=tmp_path,
                         input="what's the weather in berlin\n/home\n", capture_output=True, text=True, timeout=120,
                         env={**env, "DOTENV_PATH": str(tmp_path / "none.env"),
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "Last 7 days" in out.stdout and "what's the weather in berlin" in out.stdout  # recorded for the session
    assert list(tmp_path.iterdir()) == []  # but nothing written where it ran


def test_console_records_into_store_path_when_it_is_set(tmp_path: Path) -> None:
    out = run("console", stdin="what's the weather in berlin\n")  # conftest sets STORE_PATH for every test
    assert out.returncode == 0, out.stderr
    import os

    assert Path(os.environ["STORE_PATH"]).exists()


# `openllm-bot taught`: what admins taught from Slack, read from the store as `report` reads it

HASH_KEY = "0123456789abcdef0123"


def run_taught(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "EMBEDDING_CACHE_DIR": "", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "bot", "taught", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**base, **env}, timeout=120)


def test_taught_list_shows_every_phrasing_taught_and_export_the_yaml_to_merge(store_url: str) -> None:
    store = Store(store_url)
    now = utcnow()
    store.add_taught("who owns the llama weights", "llama", None, "UADMIN", at=now - timedelta(days=3))
    taken_back = store.add_taught("can i sell it", "licensing", None, "UADMIN", at=now - timedelta(days=2))
    store.undo_taught(taken_back, "UOTHER", at=now - timedelta(days=1))
    store.add_taught("can i resell a model", None, "licensing", "UADMIN", at=now - timedelta(hours=2))
    store.add_taught("what's for lunch", None, None, "UADMIN", at=now - timedelta(hours=1))
    store.close()
    env = {"DATABASE_URL": store_url, "STORE_HASH_KEY": HASH_KEY}
    listed = run_taught(env, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 4 and 'UADMIN  llama: "who owns the llama weights"' in lines[0]
    assert 'licensing: "can i sell it"  [undone ' in lines[1] and lines[1].endswith(" by UOTHER]")
    assert lines[2].endswith('UADMIN  not covered (near licensing): "can i resell a model"')
    assert lines[3].endswith('UADMIN  not covered: "what\'s for lunch"')
    assert run_taught(env, "list", "--since", "36h").stdout.splitlines() == lines[2:]
    exported = run_taught(env, "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("# Phrasings admins taught from Slack")
    assert yaml.safe_load(exported.stdout) == {
        "entries": {"llama": {"alternates": ["who owns the llama weights"]},
                    "licensing": {"near_misses": ["can i resell a model"]}},
        "out_of_scope": ["what's for lunch"]}
    recent = yaml.safe_load(run_taught(env, "export", "--since", (now - timedelta(minutes=90)).isoformat()).stdout)
    assert recent == {"entries": {}, "out_of_scope": ["what's for lunch"]}


def test_taught_without_a_store_or_with_a_bad_since_fails_in_one_line(tmp_path: Path) -> None:
    missing = run_taught({"STORE_PATH": str(tmp_path / "typo.sqlite3")}, "list")
    assert (missing.returncode, missing.stderr.count("\n")) == (1, 1) and "there is no store at" in missing.stderr
    assert not (tmp_path / "typo.sqlite3").exists()  # read only: nothing created
    since = run_taught({"STORE_PATH": str(tmp_path / "typo.sqlite3")}, "export", "--since", "last tuesday")
    assert since.returncode == 2 and since.stderr == ("openllm-bot: --since 'last tuesday': give a span like 7d, 12h "
                                                      "or 2w, or a date like 2026-11-01\n")
    off = run_taught({"STORE_ENABLED": "false"}, "list")
    assert off.returncode == 2 and off.stderr == "openllm-bot: STORE_ENABLED=false: there is no store to read taught " \
                                                 "phrasings from\n"


def test_taught_export_leaves_out_what_the_faq_refuses_now_and_says_so(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    now = utcnow()
    store.add_taught("who made llama", "licensing", None, "UADMIN", at=now - timedelta(hours=2))  # the FAQ: llama
    store.add_taught("can i sell what i make", "licensing", None, "UADMIN", at=now - timedelta(hours=1))
    store.close()
    out = run_taught({"STORE_PATH": str(tmp_path / "store.sqlite3"), "KNOWLEDGE_DIR": str(FIXTURE_FAQ)}, "export")
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout) == {"entries": {"licensing": {"alternates": ["can i sell what i make"]}},
                                          "out_of_scope": []}  # merged into the FAQ, it validates
    heading, left_out = out.stderr.splitlines()
    assert heading.startswith("openllm-bot: 1 taught phrasing(s) left out, which the FAQ in ")
    assert '"who made llama"' in left_out and "already a phrasing of entry 'llama'" in left_out


def test_a_faq_with_more_problems_than_are_listed_counts_them_all_in_its_heading(tmp_path: Path) -> None:
    entries = "".join(f"  - id: entry-{i}\n    question: Question {i}?\n" for i in range(150))  # no answer, no sources
    (tmp_path / "many.yaml").write_text(f"entries:\n{entries}", encoding="utf-8")
    out = run("validate", str(tmp_path))
    assert out.returncode == 1
    heading = out.stderr.splitlines()[0]
    listed = [line for line in out.stderr.splitlines()[1:] if "many.yaml:" in line]
    total = int(heading.rsplit("(", 1)[1].split()[0].replace(",", ""))
    assert heading.startswith("openllm-bot: ") and "many.yaml is invalid" in heading
    assert total > len(listed) - 1 and "more problems from here on, not listed" in listed[-1]
