"""Load benchmark (not a test): N @mentions sent at once over loopback HTTP to `openllm-bot serve --http` (a real
process), with the fake Slack as its Web API. Reports how many were answered exactly once, and p50/p99 of the
time to acknowledge (HTTP 200) and to reply (chat.postMessage arriving at the fake Slack).

    .venv/bin/python benchmarks/load.py [--events 500] [--channels 100] [--faq DIR]

Everything stays on 127.0.0.1; no token leaves the machine (the fake accepts any xoxb- token). Stops by itself:
it waits at most --timeout seconds for the replies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.fakeslack import FakeSlack, wait_until_healthy  # noqa: E402
from knowledge import KnowledgeBase  # noqa: E402

SECRET = "8f742231b10e8888abcd99eeefff85a5"
TARGETS = {"ack p99": 0.100, "reply p99": 1.0}


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


def questions(faq: str | None) -> list[str]:
    kb = KnowledgeBase.load(faq) if faq else KnowledgeBase.load()
    asked = [q for e in kb.knowledge.entries for q in (e.question, *e.alternates)]
    return [*asked, "what's the weather in berlin", "", "topics", "llama"]


async def _healthy(url: str, process: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    if not await wait_until_healthy(url, process, timeout):
        raise SystemExit("load: the server never became healthy")


async def run(events: int, channels: int, faq: str | None, timeout: float, warm: bool = False) -> dict[str, Any]:
    fake = await TimedSlack().start()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-load", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
                "PORT": str(port), "LOG_LEVEL": "WARNING", "DOTENV_PATH": os.devnull})
    if faq:
        env["KNOWLEDGE_DIR"] = faq
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--http", env=env,
                                                   cwd=ROOT, stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await _healthy(url, process)
        asked = questions(faq)
        bodies: list[tuple[str, str]] = []
        for i in range(events):
            payload = fake.mention_payload(asked[i % len(asked)], user=f"U{i % 97:04d}",
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
        replies = {ts: fake.replied.get(ts, []) for ts, _ in bodies}
        ack_times = [acks[ts] - sent[ts] for ts, _ in bodies if ts in acks]
        wire_times = [acks[ts] - written[ts] for ts, _ in bodies if ts in acks and ts in written]
        reply_times = [times[0] - sent[ts] for ts, times in replies.items() if times]
        return {
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
            "reply_p50_ms": 1000 * percentile(reply_times, 50), "reply_p99_ms": 1000 * percentile(reply_times, 99),
            "reply_max_ms": 1000 * max(reply_times, default=float("nan")),
            "reply_mean_ms": 1000 * statistics.fmean(reply_times) if reply_times else float("nan"),
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


async def send_burst(url: str, bodies: list[tuple[str, str]], warm: bool) -> dict[str, Any]:
    """Post every body at once; (monotonic) send and acknowledge times by event ts, and the status counts."""
    verifier = SignatureVerifier(SECRET)
    acks: dict[str, float] = {}
    sent: dict[str, float] = {}
    written: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    tracing = aiohttp.TraceConfig()

    async def on_written(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx:
            written.setdefault(context.trace_request_ctx["ts"], time.monotonic())

    tracing.on_request_chunk_sent.append(on_written)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trace_configs=[tracing]) as http:
        if warm:  # keep-alive connections already open, as from a load balancer or Slack's own pool

            async def health() -> None:
                async with http.get(url + "/healthz") as response:
                    await response.read()

            await asyncio.gather(*(health() for _ in range(len(bodies))))
        signed = []
        for ts, body in bodies:
            stamp = str(int(time.time()))
            signed.append((ts, body, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                                      "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body)}))

        async def post(ts: str, body: str, headers: dict[str, str]) -> None:
            sent[ts] = time.monotonic()
            async with http.post(url + "/slack/events", data=body, headers=headers,
                                 trace_request_ctx={"ts": ts}) as response:
                acks[ts] = time.monotonic()
                await response.read()
                statuses[response.status] += 1

        await asyncio.gather(*(post(*item) for item in signed))
    return {"sent": sent, "written": written, "acks": acks, "statuses": dict(statuses)}


def report(r: dict[str, Any]) -> str:
    ok_once = r["answered_exactly_once"] == r["events"]
    ack_ok = r["ack_p99_ms"] < 1000 * TARGETS["ack p99"]
    reply_ok = r["reply_p99_ms"] < 1000 * TARGETS["reply p99"]
    mark = {True: "ok", False: "MISSED"}
    return "\n".join([
        f"load: {r['events']} @mentions at once over {r['channels']} channels, loopback HTTP ({r['connections']} "
        "connections), "
        f"`openllm-bot serve --http` process, fake Web API ({os.cpu_count()} CPUs)",
        f"  HTTP 200:               {r['http_200']}/{r['events']}",
        f"  answered exactly once:  {r['answered_exactly_once']}/{r['events']} "
        f"(unanswered {r['unanswered']}, more than once {r['answered_more_than_once']})  [{mark[ok_once]}]",
        f"  acknowledge p50/p99/max: {r['ack_p50_ms']:.0f} / {r['ack_p99_ms']:.0f} / {r['ack_max_ms']:.0f} ms"
        f"  (target p99 < {1000 * TARGETS['ack p99']:.0f} ms)  [{mark[ack_ok]}]",
        f"  acknowledge p50/p99 counted from the request being written: {r['ack_after_written_p50_ms']:.0f} / "
        f"{r['ack_after_written_p99_ms']:.0f} ms (the sender takes {r['sender_spread_ms']:.0f} ms to write all)",
        f"  reply p50/p99/max:       {r['reply_p50_ms']:.0f} / {r['reply_p99_ms']:.0f} / {r['reply_max_ms']:.0f} ms"
        f"  (target p99 < {1000 * TARGETS['reply p99']:.0f} ms)  [{mark[reply_ok]}]",
        f"  all replies in:         {r['wall_s']:.2f} s",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--faq", help="knowledge folder (default: the shipped FAQ)")
    parser.add_argument("--timeout", type=float, default=60.0, help="longest wait for the replies, in seconds")
    parser.add_argument("--warm", action="store_true",
                        help="open the connections before the burst (keep-alive, as behind a load balancer)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--send-to", help=argparse.SUPPRESS)  # internal: the sender process
    args = parser.parse_args(argv)
    if args.send_to:
        bodies = [tuple(item) for item in json.load(sys.stdin)]
        print(json.dumps(asyncio.run(send_burst(args.send_to, bodies, args.warm))))
        return 0
    result = asyncio.run(run(args.events, args.channels, args.faq, args.timeout, args.warm))
    print(report(result))
    if args.json:
        print(json.dumps(result))
    return 0 if result["answered_exactly_once"] == result["events"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
