"""The `ask --json` samples quoted in docs/using.md (once in the README) are what the command prints today."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from repo_paths import ROOT

DOC = ROOT / "docs" / "using.md"  # where the samples are quoted
SAMPLES = re.findall(r'^\$ \.venv/bin/openllm-bot ask --json "([^"]+)"\n(\{.*\})$',
                     DOC.read_text(encoding="utf-8"), re.M)


def test_the_readme_quotes_ask_json_samples() -> None:
    assert len(SAMPLES) >= 2


@pytest.mark.parametrize(("question", "quoted"), SAMPLES)
def test_a_quoted_ask_json_sample_is_todays_output(question: str, quoted: str) -> None:
    # The shipped policy, whatever a developer's environment or .env overrides.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MATCH_", "SLACK_"))} | {"DOTENV_PATH": "/dev/null"}
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", question], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=env)
    assert json.loads(out.stdout) == json.loads(quoted)
