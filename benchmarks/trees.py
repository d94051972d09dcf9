"""The code the benchmarks compare: the matcher as it was at a git revision, and this working tree's.

`exported(rev)` writes the revision's `bot/`, `knowledge/` and `seeds/` to a temporary folder (`git archive`):
`python -m bot …` run there, or a script with that folder first on `sys.path`, runs the code and the data of that
revision (the project's editable install is only a fallback on the import path). `ours()` is this working tree, as it
will be once `openllm-bot calibrate --record` has written its policy: while the shipped policy has no cascade yet,
a copy of the tree with the policy the calibration fits (`recorded_policy`) in its `knowledge/policy.yaml`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The matcher before the cascade (issue 23, part 6): every decision through the embedding model.
BASELINE = "85b5fce"
PARTS = ("bot", "knowledge", "seeds")


@contextmanager
def exported(rev: str) -> Iterator[Path]:
    """`rev`'s tree (its bot, knowledge and seeds) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix=f"openllm-{rev[:12]}-") as folder:
        archive = subprocess.run(["git", "archive", "--format=tar", rev, *PARTS], cwd=ROOT, capture_output=True,
                                 check=False)
        if archive.returncode:
            raise SystemExit(f"cannot export {rev}: {archive.stderr.decode(errors='replace').strip()}")
        with tempfile.TemporaryFile() as tar:
            tar.write(archive.stdout)
            tar.seek(0)
            with tarfile.open(fileobj=tar) as opened:
                opened.extractall(folder, filter="data")
        yield Path(folder)


def recorded_policy() -> str | None:
    """The policy `openllm-bot calibrate --record` would write (fitted here, on the same labelled sets), while the
    shipped one has no cascade; None once it has."""
    from knowledge.content.loader import load_knowledge
    from knowledge.decision.calibration import calibrate, labelled_sets, neutral_policy
    from knowledge.decision.decide import dump_policy, load_policy
    from knowledge.decision.hybrid import HybridMatcher

    if load_policy().cascade is not None:
        return None
    matcher = HybridMatcher(load_knowledge(), policy=neutral_policy())
    return dump_policy(calibrate(matcher, labelled_sets()).policy)


@contextmanager
def ours(policy: str | None) -> Iterator[Path]:
    """This working tree; with `policy`, a copy of it with that policy in `knowledge/policy.yaml`."""
    if policy is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="openllm-ours-") as folder:
        for part in PARTS:
            shutil.copytree(ROOT / part, Path(folder) / part, ignore=shutil.ignore_patterns("__pycache__"))
        (Path(folder) / "knowledge" / "policy.yaml").write_text(policy, encoding="utf-8")
        yield Path(folder)
