"""Load benchmark (not a test): N @mentions sent at once over loopback HTTP to `openllm-bot serve --http` (a real
process), with the fake Slack as its Web API. Reports how many were answered exactly once, p50/p99 of the time to
acknowledge (HTTP 200) and to reply (chat.postMessage arriving at the fake Slack), and when the last reply arrived.

    .venv/bin/python benchmarks/load.py [--events 500] [--rounds 3] [--distinct N] [--bots …] [--baseline REV] [--warm]

The questions are ones people wrote (the texts of eval/blind/blind1.yaml and blind2.yaml, then of the labelled
sets; never their labels, never the FAQ's own phrasings), each different (`--distinct 5`: five of them, repeated).
The bots take the same burst in turn, in each round: `stand-in`, a do-nothing bot (benchmarks/do_nothing.py: Bolt
acknowledges, and "ok" is posted in the thread); `bare`, the same with no framework (the signature checked, the
acknowledgement sent, "ok" posted); `baseline`, the bot at git revision `--baseline` (the matcher
before the cascade, see benchmarks/trees.py); and `ours`, this working tree (with the policy `openllm-bot calibrate`
fits, while the shipped one has no cascade yet). The target: every question answered exactly once, the last reply
within 3x a do-nothing bot's in the same round (both are shown).

Both times are counted per request from the moment that request was sent: its connection opened (new connections)
or its first byte written (--warm, connections opened and used once beforehand). The sender is a process of its
own writing prepared, signed requests from plain non-blocking sockets (all 500 in about 10 ms kept alive, 30-50 ms
on new connections), so that what is measured is the server, not a Python HTTP client queueing its own requests.

Everything stays on 127.0.0.1; no token leaves the machine (the fake accepts any xoxb- token). Stops by itself:
it waits at most --timeout seconds for the replies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import selectors
import signal
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from trees import BASELINE, exported, ours, recorded_policy  # noqa: E402

from bot.fakeslack import FakeSlack, wait_until_healthy  # noqa: E402
from knowledge.decision.calibration import labelled_sets  # noqa: E402
from knowledge.decision.evaluation import load_cases  # noqa: E402

SECRET = "8f742231b10e8888abcd99eeefff85a5"
TARGETS = {"ack p99": 0.100, "last reply x stand-in": 3.0, "rss MiB": 400}
BOTS = ("stand-in", "bare", "baseline", "ours")
STAND_INS = ("stand-in", "bare")
PEOPLE = (ROOT / "eval" / "blind" / "blind1.yaml", ROOT / "eval" / "blind" / "blind2.yaml")


class TimedSlack(FakeSlack):
    """The fake Slack, noting when each reply (by its thread) arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.replied: dict[str, list[float]] = {}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        self.replied.setdefault(str(args.get("thread_ts")), []).append(time.monotonic())
        return super()._chat_postMessage(args)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def questions(events: int, distinct: int | None = None) -> list[str]:
    """`events` questions as people wrote them, each different (or `distinct` different ones, repeated in turn)."""
    texts = list(dict.fromkeys(c.q for path in (*PEOPLE, *labelled_sets()) for c in load_cases(path)))
    wanted = min(distinct or events, events)
    if wanted > len(texts):
        raise SystemExit(f"load: only {len(texts)} different questions in the sets, {wanted} asked for")
    return [texts[i % wanted] for i in range(events)]


@dataclass(frozen=True)
class Bot:
    """How to start one bot: its command line and working folder."""

    name: str
    command: tuple[str, ...]
    folder: Path


async def _healthy(url: str, process: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    if not await wait_until_healthy(url, process, timeout):
        raise SystemExit("load: the server never became healthy")


async def run(bot: Bot, asked: list[str], channels: int, faq: str | None, timeout: float,
              warm: bool = False) -> dict[str, Any]:
    events = len(asked)
    fake = await TimedSlack().start()
    port = _free_port()
    store_dir = tempfile.TemporaryDirectory(prefix="openllm-load-")  # questions are recorded, as in production
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-load", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
                "PORT": str(port), "LOG_LEVEL": "WARNING", "DOTENV_PATH": os.devnull,
                "STORE_ENABLED": "true", "STORE_PATH": str(Path(store_dir.name) / "load.sqlite3")})
    if faq:
        env["KNOWLEDGE_DIR"] = faq
    process = await asyncio.create_subprocess_exec(*bot.command, env=env, cwd=bot.folder,
                                                   stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await _healthy(url, process)
        bodies: list[tuple[str, str]] = []
        for i in range(events):
            payload = fake.mention_payload(asked[i], user=f"U{i % 97:04d}",
                                           channel=f"CLOAD{i % channels:04d}")
            bodies.append((payload["event"]["ts"], json.dumps(payload)))
        # One request first (connection set-up, the first auth.test), not counted.
        async with aiohttp.ClientSession() as http:
            warm_up = json.dumps(fake.mention_payload("warm up", channel="CWARM"))
            stamp = str(int(time.time()))
            async with http.post(url + "/slack/events", data=warm_up, headers={
                    "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=warm_up)
            }) as response:
                await response.read()
        await fake.wait_for("chat.postMessage", 1, timeout)
        cpu_before, fake_before = _cpu_s(process.pid), time.process_time()
        # The sender is its own process, so that the fake Slack's work does not delay reading the acks.
        sender = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--send-to", url, *(["--warm"] if warm else []),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(sender.communicate(json.dumps(bodies).encode()), timeout)
        burst = json.loads(out)
        sent, acks, written = burst["sent"], burst["acks"], burst["written"]
        statuses = Counter({int(k): v for k, v in burst["statuses"].items()})
        started = min(sent.values())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sum(1 for ts, _ in bodies if ts in fake.replied) < events:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # a late duplicate would show up here
        finished = time.monotonic()
        cpu_after, memory = _cpu_s(process.pid), _pss_mib(process.pid)
        server_cpu, workers_cpu = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
        fake_cpu = time.process_time() - fake_before
        replies = {ts: fake.replied.get(ts, []) for ts, _ in bodies}
        ack_times = [acks[ts] - sent[ts] for ts, _ in bodies if ts in acks]
        wire_times = [acks[ts] - written[ts] for ts, _ in bodies if ts in acks and ts in written]
        reply_times = [times[0] - sent[ts] for ts, times in replies.items() if times]
        firsts = [times[0] for times in replies.values() if times]
        return {
            "bot": bot.name,
            "server_peak_rss_mib": _peak_rss_mib(process.pid),
            "pss_mib": memory,
            "server_cpu_s": server_cpu, "workers_cpu_s": workers_cpu, "fake_slack_cpu_s": fake_cpu,
            "events": events, "channels": channels, "connections": "kept alive" if warm else "new",
            "http_200": statuses.get(200, 0),
            "answered_exactly_once": sum(1 for t in replies.values() if len(t) == 1),
            "unanswered": sum(1 for t in replies.values() if not t),
            "answered_more_than_once": sum(1 for t in replies.values() if len(t) > 1),
            "ack_p50_ms": 1000 * percentile(ack_times, 50), "ack_p99_ms": 1000 * percentile(ack_times, 99),
            "ack_max_ms": 1000 * max(ack_times, default=float("nan")),
            "ack_after_written_p50_ms": 1000 * percentile(wire_times, 50),
            "ack_after_written_p99_ms": 1000 * percentile(wire_times, 99),
            "sender_spread_ms": 1000 * (max(written.values()) - min(sent.values())) if written else float("nan"),
            "last_ack_ms": 1000 * (max(acks.values()) - min(sent.values())) if acks else float("nan"),
            "reply_p50_ms": 1000 * percentile(reply_times, 50), "reply_p99_ms": 1000 * percentile(reply_times, 99),
            "reply_max_ms": 1000 * max(reply_times, default=float("nan")),
            "reply_mean_ms": 1000 * statistics.fmean(reply_times) if reply_times else float("nan"),
            "last_reply_s": max(firsts) - started if firsts else float("nan"),
            "wall_s": finished - started - 0.5,
        }
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await fake.close()
        store_dir.cleanup()


def _request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Reader:
    """One HTTP/1.1 response read bit by bit from a non-blocking socket: done once its body is in."""

    def __init__(self) -> None:
        self.data = b""
        self.status: int | None = None
        self.length = 0
        self.header_end = -1

    def feed(self, chunk: bytes) -> bool:
        self.data += chunk
        if self.header_end < 0:
            self.header_end = self.data.find(b"\r\n\r\n")
            if self.header_end < 0:
                return False
            head = self.data[:self.header_end].decode("latin-1").split("\r\n")
            self.status = int(head[0].split()[1])
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    self.length = int(value)
        return len(self.data) >= self.header_end + 4 + self.length


def send_burst(url: str, bodies: list[tuple[str, str]], warm: bool) -> dict[str, Any]:
    """Post every body at once from plain non-blocking sockets (a cheap sender, so that the server's time is what
    gets measured); (monotonic) send, written and acknowledge times by event ts, and the status counts. A request's
    time starts when its connection is opened (new connections) or its first byte is written (--warm)."""
    parsed = urllib.parse.urlsplit(url)
    address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
    verifier = SignatureVerifier(SECRET)
    acks: dict[str, float] = {}
    sent: dict[str, float] = {}
    written: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    selector = selectors.DefaultSelector()
    readers: dict[socket.socket, tuple[str, _Reader]] = {}

    def connect() -> socket.socket:
        sock = socket.create_connection(address, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def read_ready(timeout: float | None) -> None:
        for key, _ in selector.select(timeout):
            sock = key.fileobj
            ts, reader = readers[sock]  # type: ignore[index]
            try:
                chunk = sock.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if reader.feed(chunk) or not chunk:
                acks[ts] = time.monotonic()
                statuses[reader.status or 0] += 1
                selector.unregister(sock)
                del readers[sock]  # type: ignore[arg-type]
                sock.close()  # type: ignore[union-attr]

    opened: list[socket.socket] = []
    if warm:  # keep-alive connections already open and used once, as from a load balancer or Slack's own pool
        health = f"GET /healthz HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n\r\n".encode()
        for _ in bodies:
            sock = connect()
            sock.sendall(health)
            reader = _Reader()
            while not reader.feed(sock.recv(65536)):
                pass
            opened.append(sock)
    requests = []
    for ts, body in bodies:
        stamp = str(int(time.time()))
        requests.append((ts, _request(address[0], address[1], "/slack/events", body.encode(), {
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body)})))
    for i, (ts, data) in enumerate(requests):
        sent[ts] = time.monotonic()
        sock = opened[i] if warm else connect()
        sock.sendall(data)
        written[ts] = time.monotonic()
        sock.setblocking(False)
        readers[sock] = (ts, _Reader())
        selector.register(sock, selectors.EVENT_READ)
        read_ready(0)  # acknowledgements already in are stamped now, not after the whole burst is written
    deadline = time.monotonic() + 60
    while readers and time.monotonic() < deadline:
        read_ready(1.0)
    for sock in readers:
        sock.close()
    selector.close()
    return {"sent": sent, "written": written, "acks": acks, "statuses": dict(statuses)}


def _peak_rss_mib(pid: int) -> float:
    """The serving process's peak resident memory so far (Linux: VmHWM), NaN where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux: /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            with contextlib.suppress(OSError):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    found.append(int(entry.name))
    return found


def _pss_mib(pid: int) -> float:
    """The memory the bot and its matching processes take together: their proportional set sizes (pages they share,
    such as a forked worker's copy of the FAQ and the model, counted once in all), Linux only, else NaN."""
    total = 0
    for one in (pid, *_children(pid)):
        try:
            rollup = Path(f"/proc/{one}/smaps_rollup").read_text()
        except OSError:
            return float("nan")
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total += int(match.group(1)) if match else 0
    return total / 1024


def _cpu_s(pid: int) -> tuple[float, float]:
    """The CPU time so far, user and system, all threads, of the process and of its children (its matching
    processes) (Linux: /proc); NaN elsewhere."""
    def seconds(stat: str) -> float:
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, fields 14 and 15

    try:
        own = seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return float("nan"), float("nan")
    children = 0.0
    for child in _children(pid):
        with contextlib.suppress(OSError):
            children += seconds(Path(f"/proc/{child}/stat").read_text())
    return own, children


def report(r: dict[str, Any]) -> str:
    """One bot's burst, in a few lines."""
    return "\n".join([
        f"  {r['bot']:<9} answered exactly once {r['answered_exactly_once']}/{r['events']} (unanswered "
        f"{r['unanswered']}, more than once {r['answered_more_than_once']}); HTTP 200 {r['http_200']}/{r['events']}",
        f"            acknowledge p50/p99/max {r['ack_p50_ms']:.0f} / {r['ack_p99_ms']:.0f} / {r['ack_max_ms']:.0f} "
        "ms; "
        f"reply p50/p99 {r['reply_p50_ms']:.0f} / {r['reply_p99_ms']:.0f} ms; last reply {r['last_reply_s']:.2f} s; "
        f"peak RSS {r['server_peak_rss_mib']:.0f} MiB; with its matching processes {r['pss_mib']:.0f} MiB (PSS)",
        f"            CPU over the burst: the bot {r['server_cpu_s']:.2f} s, its matching processes "
        f"{r['workers_cpu_s']:.2f} s, the fake Slack {r['fake_slack_cpu_s']:.2f} s",
    ])


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    """Median and range of a figure over the rounds."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return f"{statistics.median(values):.{digits}f}{unit} (range {min(values):.{digits}f}-{max(values):.{digits}f})"


def summary(rounds: list[dict[str, dict[str, Any]]]) -> str:
    """Each bot's figures over the rounds, each against the stand-in of its own round, and the targets."""
    mark = {True: "met   ", False: "MISSED"}
    names = [n for n in BOTS if n in rounds[0]]
    lines = [f"over {len(rounds)} round(s): median (range)"]
    for name in names:
        runs = [r[name] for r in rounds]
        lines.append(f"  {name:<9} last reply {spread([x['last_reply_s'] for x in runs], ' s')}; reply p50 "
                     f"{spread([x['reply_p50_ms'] for x in runs], ' ms', 0)}, p99 "
                     f"{spread([x['reply_p99_ms'] for x in runs], ' ms', 0)}; ack p99 "
                     f"{spread([x['ack_p99_ms'] for x in runs], ' ms', 0)}; peak RSS "
                     f"{spread([x['server_peak_rss_mib'] for x in runs], ' MiB', 0)}; with its matching processes "
                     f"{spread([x['pss_mib'] for x in runs], ' MiB', 0)} (PSS)")
    checks = []
    for stand_in in (n for n in STAND_INS if n in names):
        for name in names:
            if name in STAND_INS:
                continue
            ratios = [r[name]["last_reply_s"] / r[stand_in]["last_reply_s"] for r in rounds]
            lines.append(f"  {name:<9} last reply / {stand_in}'s in the same round: {spread(ratios, 'x', 1)}")
            if name == "ours":
                checks.append((f"last reply within {TARGETS['last reply x stand-in']:g}x {stand_in}'s, every round",
                               max(ratios) <= TARGETS["last reply x stand-in"]))
    if {"baseline", "ours"} <= set(names):
        ratios = [r["baseline"]["last_reply_s"] / r["ours"]["last_reply_s"] for r in rounds]
        lines.append(f"  ours answers the burst {spread(ratios, 'x', 1)} as fast as the baseline")
    for name in names:
        if name in STAND_INS:
            continue
        runs = [r[name] for r in rounds]
        every = all(x["answered_exactly_once"] == x["events"] for x in runs)
        checks.append((f"{name}: every question answered exactly once, every round", every))
        checks.append((f"{name}: acknowledge p99 < {1000 * TARGETS['ack p99']:.0f} ms, every round",
                       all(x["ack_p99_ms"] < 1000 * TARGETS["ack p99"] for x in runs)))
        checks.append((f"{name}: peak RSS, and the memory of it and its matching processes together (PSS), "
                       f"< {TARGETS['rss MiB']:.0f} MiB, every round",
                       all(max(x["server_peak_rss_mib"], x["pss_mib"]) < TARGETS["rss MiB"] for x in runs)))
    lines.append("targets")
    lines.extend(f"  {mark[ok]} {what}" for what, ok in checks)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--distinct", type=int, help="this many different questions, repeated (default: all different)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per bot, the bots taking turns")
    parser.add_argument("--bots", default=",".join(BOTS), help=f"which of {', '.join(BOTS)} (default: all, in turn)")
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision of the baseline bot (default {BASELINE})")
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--faq", help="knowledge folder (default: each bot's own FAQ)")
    parser.add_argument("--timeout", type=float, default=60.0, help="longest wait for the replies, in seconds")
    parser.add_argument("--warm", action="store_true",
                        help="open the connections before the burst (keep-alive, as behind a load balancer)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--send-to", help=argparse.SUPPRESS)  # internal: the sender process
    args = parser.parse_args(argv)
    if args.send_to:
        bodies = [tuple(item) for item in json.load(sys.stdin)]
        print(json.dumps(send_burst(args.send_to, bodies, args.warm)))
        return 0
    chosen = [b.strip() for b in args.bots.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BOTS]
    if unknown or not chosen:
        parser.error(f"--bots: {', '.join(unknown) or 'none given'}; choose from {', '.join(BOTS)}")
    asked = questions(args.events, args.distinct)
    serve = (sys.executable, "-m", "bot", "serve", "--http")
    with ExitStack() as stack:
        bots: list[Bot] = []
        do_nothing = (sys.executable, str(ROOT / "benchmarks" / "do_nothing.py"))
        if "stand-in" in chosen:
            bots.append(Bot("stand-in", do_nothing, ROOT))
        if "bare" in chosen:
            bots.append(Bot("bare", (*do_nothing, "--bare"), ROOT))
        if "baseline" in chosen:
            bots.append(Bot("baseline", serve, stack.enter_context(exported(args.baseline))))
        if "ours" in chosen:
            policy = recorded_policy()
            if policy is not None:
                print("ours: the shipped policy has no cascade yet; run with the one `openllm-bot calibrate` fits "
                      "(what `calibrate --record` writes)")
            bots.append(Bot("ours", serve, stack.enter_context(ours(policy))))
        print(f"load: {args.events} @mentions at once ({len(set(asked))} different questions people wrote) over "
              f"{args.channels} channels, loopback HTTP ({'kept-alive' if args.warm else 'new'} connections), each "
              f"bot a process of its own, fake Web API; {os.cpu_count()} CPUs, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; baseline: {args.baseline}")
        rounds: list[dict[str, dict[str, Any]]] = []
        for n in range(args.rounds):
            print(f"round {n + 1}")
            results: dict[str, dict[str, Any]] = {}
            for bot in bots[n % len(bots):] + bots[:n % len(bots)]:  # each bot first in turn
                results[bot.name] = asyncio.run(run(bot, asked, args.channels, args.faq, args.timeout, args.warm))
                print(report(results[bot.name]), flush=True)
            rounds.append(results)
    print(summary(rounds))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        print(json.dumps(rounds))
    answered = all(r["answered_exactly_once"] == r["events"] for rs in rounds for r in rs.values())
    return 0 if answered else 1


if __name__ == "__main__":
    raise SystemExit(main())
