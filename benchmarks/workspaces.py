"""What installing in many workspaces costs: the memory and build time of a knowledge base per workspace that taught
phrasings of its own, and finding a request's installation in the store off the event loop.

Run from the repository root: `.venv/bin/python benchmarks/workspaces.py [--workspaces N] [--postgres]`.

- Knowledge bases: the shipped FAQ loaded once, then N workspaces each with 5 phrasings of their own
  (`KnowledgeBase.with_taught`, as `bot.reload` builds them); resident memory (VmRSS) after each step, and the median
  and longest build.
- Installations: 100 installations saved in a SQLite store (and a throwaway PostgreSQL database with --postgres,
  tests/postgres.py), then 500 lookups of one of them as Bolt makes at each request (`async_find_installation`),
  through bot/installations.py (a thread per call, bounded wait) and, for comparison, the same query on the event
  loop's own thread. Median and p95 of wall time (this machine is shared: expect the tails to swing)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk.oauth.installation_store import Installation  # noqa: E402

from bot.config import Config  # noqa: E402
from bot.installations import Installations, oauth_settings  # noqa: E402
from bot.store import Store  # noqa: E402
from knowledge import KnowledgeBase, Taught  # noqa: E402

PHRASINGS = 5  # taught by each workspace
INSTALLATIONS = 100
LOOKUPS = 500


def resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def knowledge_bases(workspaces: int) -> None:
    kb = KnowledgeBase.load()
    ids = [e.id for e in kb.knowledge.entries]
    gc.collect()
    base = resident_mib()
    print(f"the shipped FAQ ({len(ids)} entries) loaded: {base:.0f} MiB resident")
    kept, took = [], []
    for n in range(workspaces):
        taught = tuple(Taught(f"workspace {n} asks question {k} about {ids[(n * PHRASINGS + k) % len(ids)]}",
                              ids[(n * PHRASINGS + k) % len(ids)], None) for k in range(PHRASINGS))
        started = time.perf_counter()
        kept.append(kb.with_taught(taught))
        took.append(time.perf_counter() - started)
        if n + 1 in (1, 10, workspaces):
            gc.collect()
            now = resident_mib()
            print(f"{n + 1:>3} workspace(s) with {PHRASINGS} phrasings each: {now:.0f} MiB resident "
                  f"(+{(now - base) / (n + 1):.1f} MiB each); built in {statistics.median(took):.2f} s median, "
                  f"{max(took):.2f} s at most")


def _quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {ordered[int(len(ordered) * 0.95)] * 1000:.2f} ms"


async def lookups(url: str) -> None:
    store = Store(url)
    config = Config(bot_token="", signing_secret="ab" * 16, client_id="1.2", client_secret="ab" * 16)
    installations = oauth_settings(config, store).installation_store
    assert isinstance(installations, Installations)
    for n in range(INSTALLATIONS):
        await installations.async_save(Installation(app_id="A1", team_id=f"T{n:04d}", bot_token=f"xoxb-{n}",
                                                    bot_id="B1", bot_user_id="U1", user_id="U2"))
    off_loop, on_loop = [], []
    sync = installations._sync
    for n in range(LOOKUPS):
        team = f"T{n % INSTALLATIONS:04d}"
        started = time.perf_counter()
        await installations.async_find_installation(enterprise_id=None, team_id=team)
        off_loop.append(time.perf_counter() - started)
        started = time.perf_counter()
        sync.find_installation(enterprise_id=None, team_id=team)
        on_loop.append(time.perf_counter() - started)
    print(f"{store.dialect}: a lookup off the event loop {_quantiles(off_loop)}; the same query on the loop's "
          f"thread {_quantiles(on_loop)}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=50, help="workspaces with phrasings of their own (50)")
    parser.add_argument("--postgres", action="store_true", help="also look installations up in PostgreSQL")
    args = parser.parse_args()
    knowledge_bases(args.workspaces)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(lookups(f"sqlite:///{folder}/store.sqlite3"))
    if args.postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        import postgres

        server = postgres.start_server()
        try:
            asyncio.run(lookups(server.create_database()))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
