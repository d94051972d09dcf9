"""Prometheus metrics, scraped over real HTTP on loopback: `GET /metrics` on the HTTP port (unauthenticated, like
/healthz) or on METRICS_PORT (Socket Mode, or HTTP mode apart from Slack's port); what a mention, a failing Web API
call, a rate limit, a failing store and a reload move; no user text and no user id in any label value; each app with a
registry of its own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from stuck_store import StuckStore

from bot.adapter.aiohttp import Serving, listen, listen_metrics
from bot.app import create_app
from bot.config import Config, ConfigError, FaqSettings
from bot.fakeslack import FakeSlack
from bot.metrics import OTHER, Bounded, reply_outcome, request_kind
from bot.recorder import Recorder
from bot.reload import Reloader, TaughtWatcher
from bot.state import KnowledgeHolder
from bot.store import Store
from knowledge import DEFAULT_SEEDS_DIR, KnowledgeBase

from .slackkit import COMMAND, FIXTURE_FAQ, LICENSING_Q, SECRET, STORE_KEY, Slack, make_config, start_slack, until

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
MENTION = {"type": "event", "name": "app_mention"}


async def scrape(url: str, accept: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of `GET url/metrics`, sent as Prometheus sends it: no signature, no token."""
    async with aiohttp.ClientSession() as http, http.get(
            url + "/metrics", headers={"Accept": accept} if accept else {}) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def samples(url: str) -> Samples:
    status, _, body = await scrape(url)
    assert status == 200, body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(found: Samples, metric: str, /, **labels: str) -> float:
    """The sample `metric` with exactly `labels`; 0 when there is none."""
    return found.get((metric, tuple(sorted(labels.items()))), 0.0)


async def settles(url: str, metric: str, expected: float, /, **labels: str) -> Samples:
    """Scrape until the sample `metric` with `labels` is `expected` (a reply is counted once it is sent)."""
    found: Samples = {}

    async def reached() -> bool:
        nonlocal found
        found = await samples(url)
        return value(found, metric, **labels) == expected

    try:
        await until(reached, attempts=500)
    except AssertionError:
        raise AssertionError(f"{metric}{labels} is {value(found, metric, **labels)}, not {expected}") from None
    return found


async def test_a_mention_answered_moves_the_counters_and_the_latency_histograms(slack: Slack) -> None:
    before = await samples(slack.url)
    assert value(before, "openllm_slack_requests_received_total", **MENTION) == 0
    assert value(before, "openllm_replies_total", surface="mention", outcome="answered") == 0  # there from the start
    assert ("openllm_replies_total", (("outcome", "hand_off"), ("surface", "mention"))) in before

    await slack.fake.mention(LICENSING_Q)
    await slack.reply()
    found = await settles(slack.url, "openllm_replies_total", 1, surface="mention", outcome="answered")
    assert value(found, "openllm_slack_requests_received_total", **MENTION) == 1
    assert value(found, "openllm_slack_requests_acknowledged_total", **MENTION) == 1
    assert value(found, "openllm_reply_seconds_count", surface="mention") == 1
    assert 0 < value(found, "openllm_reply_seconds_sum", surface="mention") < 10
    assert value(found, "openllm_matching_seconds_count") == 1
    assert value(found, "openllm_reply_seconds_bucket", surface="mention", le="+Inf") == 1
    assert value(found, "openllm_faq_entries") == len(slack.holder.current.knowledge.entries) > 0
    assert value(found, "openllm_faq_valid") == 1
    assert value(found, "openllm_taught_phrasings", state="applied") == 0
    assert value(found, "openllm_slack_api_errors_total", method="chat.postMessage", error="channel_not_found") == 0

    # Help is a reply too, and a slash command and a click are requests of their own kinds.
    await slack.fake.slash(COMMAND, "help")
    found = await settles(slack.url, "openllm_replies_total", 1, surface="slash", outcome="help")
    assert value(found, "openllm_slack_requests_acknowledged_total", type="command", name=COMMAND) == 1
    await slack.fake.click(slack.fake.visible_messages()[0], "related:llama")
    await slack.reply(count=2)
    found = await settles(slack.url, "openllm_slack_requests_acknowledged_total", 1, type="action", name="related")
    assert value(found, "openllm_slack_requests_received_total", type="action", name="related") == 1


async def test_metrics_are_served_without_a_signature_in_prometheus_text_format(slack: Slack) -> None:
    status, content_type, body = await scrape(slack.url)
    assert status == 200 and content_type.startswith("text/plain") and "version=" in content_type
    assert "# TYPE openllm_replies_total counter" in body
    assert "# HELP openllm_reply_seconds " in body and "# TYPE openllm_reply_seconds histogram" in body
    assert "_created" not in body  # no timestamp series beside each counter
    status, content_type, body = await scrape(slack.url, accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and content_type.startswith("application/openmetrics-text") and body.endswith("# EOF\n")
    # Slack's path still wants a signature; /metrics answers nothing but GET.
    async with aiohttp.ClientSession() as http:
        async with http.post(slack.url + "/slack/events", data=b"{}") as response:
            assert response.status == 401
        async with http.post(slack.url + "/metrics", data=b"") as response:
            assert response.status == 405


async def test_a_web_api_error_and_a_retry_are_counted_by_method_and_error(slack: Slack) -> None:
    slack.fake.fail("chat.postMessage", "channel_not_found")
    await slack.fake.mention(LICENSING_Q)
    found = await settles(slack.url, "openllm_slack_api_errors_total", 1, method="chat.postMessage",
                          error="channel_not_found")
    await settles(slack.url, "openllm_failed_replies_total", 1)
    assert value(found, "openllm_slack_api_retries_total", method="chat.postMessage", reason="rate_limited") == 0

    # Over the rate limit once: retried after Retry-After, then posted; a retry, not an error.
    slack.fake.fail("chat.postMessage", status=429, headers={"Retry-After": "0"})
    await slack.fake.mention(LICENSING_Q)
    await slack.reply(count=2)
    found = await settles(slack.url, "openllm_slack_api_retries_total", 1, method="chat.postMessage",
                          reason="rate_limited")
    assert value(found, "openllm_slack_api_errors_total", method="chat.postMessage", error="channel_not_found") == 1
    assert sum(v for (name, _), v in found.items() if name == "openllm_slack_api_errors_total") == 1


SECRET_USER = "U0SECRET42"
SECRET_WORDS = "xyzzy-plover"


async def test_no_user_text_and_no_user_id_ever_becomes_a_label_value(slack: Slack) -> None:
    question = (f"<@{SECRET_USER}> says: {SECRET_WORDS} what are the licence terms for open models? "
                f"<#C0SECRET|secret-channel> <https://example.com/{SECRET_WORDS}|a link> " * 20)
    await slack.fake.mention(question, user=SECRET_USER)
    await slack.fake.message(question, user=SECRET_USER, channel="D0SECRET")
    await slack.fake.slash(COMMAND, question, user=SECRET_USER)
    await slack.reply(count=2)
    await slack.fake.wait_for("response_url")
    await slack.fake.click(slack.fake.visible_messages()[0], "related:llama", user=SECRET_USER)
    await slack.fake.react(slack.fake.visible_messages()[0].ts, user=SECRET_USER)
    await settles(slack.url, "openllm_slack_requests_received_total", 1, type="event", name="reaction_added")
    _, _, body = await scrape(slack.url)
    for secret in (SECRET_USER, "SECRET", "xyzzy", "plover", "example.com", "licence", "C0SECRET"):
        assert secret not in body, secret
    labels = {(k, v) for family in text_string_to_metric_families(body) for s in family.samples
              for k, v in s.labels.items()}
    assert {v for k, v in labels if k == "name"} <= {"app_mention", "message", "reaction_added", COMMAND, "related"}
    for key, label in labels:
        assert re.fullmatch(r"[a-z_./+0-9-]+|[A-Za-z.]+|[0-9.e+-]+|\+Inf", label), (key, label)


def test_label_values_are_short_tokens_and_never_slack_ids_or_text() -> None:
    names = Bounded(limit=3)
    assert [names(v) for v in ("app_mention", "U0SECRET42", "what is llama", "T0FAKE", None, "x" * 70)] == [
        "app_mention", OTHER, OTHER, OTHER, OTHER, OTHER]
    assert [names(v) for v in ("message", "reaction_added", "one_too_many", "app_mention")] == [
        "message", "reaction_added", OTHER, "app_mention"]  # at most `limit` distinct values, then "other"
    assert request_kind({"type": "event_callback", "event": {"type": "app_mention"}}) == ("event", "app_mention")
    assert request_kind({"type": "block_actions", "actions": [{"action_id": "teach_means:3:k"}]}) == (
        "action", "teach_means")
    assert request_kind({"command": "/openllm", "text": "secret"}) == ("command", "/openllm")
    assert request_kind({"type": "view_submission", "view": {"callback_id": "handoff:C1:1.2"}}) == ("view", "handoff")
    assert request_kind({"type": "event_callback", "event": "junk"}) == ("event", "None")
    assert [reply_outcome("mention", s) for s in ("answer", "suggest", "none", None, "hand_off", "junk")] == [
        "answered", "suggested", "declined", "help", "hand_off", OTHER]
    assert reply_outcome("thread", "answer") == "follow_up"


async def test_questions_over_the_rate_limit_and_their_askers_are_counted(fake: FakeSlack, kb: KnowledgeBase) -> None:
    slack = await start_slack(fake, kb, rate_limit=1)
    try:
        for _ in range(4):
            await fake.message(LICENSING_Q)
        await fake.message(LICENSING_Q, user="UBOB")
        found = await settles(slack.url, "openllm_rate_limited_questions_total", 3)
        assert value(found, "openllm_rate_limited_askers_total") == 1  # told once, whatever they send meanwhile
        await settles(slack.url, "openllm_replies_total", 2, surface="dm", outcome="answered")  # UALICE's first, UBOB
    finally:
        await slack.runner.cleanup()


async def test_store_failures_and_the_queue_depth_are_shown(fake: FakeSlack, kb: KnowledgeBase, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    holder = KnowledgeHolder(kb)
    recorder = Recorder(Store(f"sqlite:///{junk}"), STORE_KEY, on_failure=holder.counters.store_failed)
    slack = await start_slack(fake, kb, recorder, holder=holder)
    try:
        await fake.mention(LICENSING_Q)
        await slack.reply()
        found = await settles(slack.url, "openllm_store_failures_total", 1)
        assert value(found, "openllm_store_ok") == 0
        assert ("openllm_store_queue_depth", ()) in found
    finally:
        await slack.runner.cleanup()
        recorder.close(1.0)


async def test_the_queue_depth_counts_what_waits_for_the_store(fake: FakeSlack, kb: KnowledgeBase,
                                                               tmp_path: Path) -> None:
    store = StuckStore(f"sqlite:///{tmp_path / 'store.sqlite3'}")  # its writes hang until released
    holder = KnowledgeHolder(kb)
    recorder = Recorder(store, STORE_KEY, on_failure=holder.counters.store_failed)
    slack = await start_slack(fake, kb, recorder, holder=holder)
    try:
        await fake.message(LICENSING_Q)  # its record is taken by the writer, which then hangs
        await slack.reply()
        await settles(slack.url, "openllm_replies_total", 1, surface="dm", outcome="answered")  # its record queued
        await settles(slack.url, "openllm_store_queue_depth", 0)  # and taken by the writer
        await until(store.writing.is_set)  # which hangs writing it (it gathers what comes within 50 ms first)
        for _ in range(3):
            await fake.message(LICENSING_Q)
        found = await settles(slack.url, "openllm_store_queue_depth", 3)
        assert value(found, "openllm_store_ok") == 1
        store.release.set()
        await settles(slack.url, "openllm_store_queue_depth", 0)
    finally:
        store.release.set()
        await slack.runner.cleanup()
        recorder.close(1.0)


async def test_faq_reloads_ok_and_rejected_are_counted(fake: FakeSlack, tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FIXTURE_FAQ, faq)
    source = FaqSettings(faq, Path(DEFAULT_SEEDS_DIR))
    slack = await start_slack(fake, source.load())
    try:
        reloader = Reloader(slack.holder, source.load, [faq])
        good = (faq / "small.yaml").read_text(encoding="utf-8")
        (faq / "small.yaml").write_text(good + "\n  - this: [is not valid\n", encoding="utf-8")
        assert not await reloader.reload("test")
        found = await samples(slack.url)
        assert value(found, "openllm_faq_reloads_total", result="rejected") == 1
        assert value(found, "openllm_faq_reloads_total", result="ok") == 0
        assert value(found, "openllm_faq_valid") == 0
        (faq / "small.yaml").write_text(good, encoding="utf-8")
        assert await reloader.reload("test")
        found = await samples(slack.url)
        assert value(found, "openllm_faq_reloads_total", result="ok") == 1
        assert value(found, "openllm_faq_valid") == 1
    finally:
        await slack.runner.cleanup()


async def test_taught_phrasings_are_counted_over_every_workspace_installed_in(fake: FakeSlack, kb: KnowledgeBase,
                                                                               tmp_path: Path) -> None:
    # Installed with OAuth, each workspace that taught phrasings answers from a knowledge base of its own: a scrape,
    # outside any request, counts them all (not the shared knowledge base's, which holds none).
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    slack = await start_slack(fake, kb)
    try:
        slack.holder.per_workspace = True
        for text, entry, team in (("who owns the llama weights", "llama", "T0AAA"),
                                  ("is llama free to use", "licensing", "T0AAA"),
                                  ("can i sell what llama writes", "licensing", "T0BBB"),
                                  ("who made llama", "licensing", "T0BBB")):  # llama's own alternate: skipped
            store.add_taught(text, entry, None, "UADMIN", team_id=team)
        assert await TaughtWatcher(slack.holder, store).check()
        assert set(slack.holder.by_workspace) == {"T0AAA", "T0BBB"} and not slack.holder.base.taught
        found = await samples(slack.url)
        assert value(found, "openllm_taught_phrasings", state="applied") == 3
        assert value(found, "openllm_taught_phrasings", state="skipped") == 1
    finally:
        await slack.runner.cleanup()
        store.close()


async def test_two_apps_in_one_process_count_apart(kb: KnowledgeBase) -> None:
    fakes = [await FakeSlack().start(), await FakeSlack().start()]
    apps = [await start_slack(f, kb) for f in fakes]
    try:
        await fakes[0].mention(LICENSING_Q)
        await settles(apps[0].url, "openllm_replies_total", 1, surface="mention", outcome="answered")
        assert value(await samples(apps[1].url), "openllm_replies_total", surface="mention", outcome="answered") == 0
    finally:
        for app, fake in zip(apps, fakes, strict=True):
            await app.runner.cleanup()
            await fake.close()


async def test_while_loading_metrics_answer_503_and_a_metrics_port_serves_them_apart(fake: FakeSlack,
                                                                                      kb: KnowledgeBase) -> None:
    serving = Serving()
    runner, url = await listen(serving, SECRET, "127.0.0.1", 0, metrics=False)
    metrics_runner, metrics_url = await listen_metrics(serving, "127.0.0.1", 0)
    try:
        assert (await scrape(metrics_url))[0] == 503
        holder = KnowledgeHolder(kb)
        serving.ready(create_app(make_config(fake), holder), holder)
        fake.send_over_http(url + "/slack/events", SECRET)
        await fake.mention(LICENSING_Q)
        await settles(metrics_url, "openllm_replies_total", 1, surface="mention", outcome="answered")
        assert (await scrape(url))[0] == 404  # METRICS_PORT set: /metrics leaves Slack's port
    finally:
        await runner.cleanup()
        await metrics_runner.cleanup()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_socket_mode_serves_metrics_on_metrics_port(fake: FakeSlack) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MATCH_"))}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test", "SLACK_API_URL": fake.api_url,
                "KNOWLEDGE_DIR": str(FIXTURE_FAQ), "DOTENV_PATH": os.devnull, "STORE_ENABLED": "false",
                "METRICS_PORT": str(port)})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--socket", env=env,
                                                   cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        await fake.mention(LICENSING_Q)  # waits for the app to connect
        await fake.wait_for("chat.postMessage")
        found = await settles(url, "openllm_replies_total", 1, surface="mention", outcome="answered")
        assert value(found, "openllm_slack_requests_received_total", **MENTION) == 1
        assert value(found, "openllm_slack_requests_acknowledged_total", **MENTION) == 1
        assert value(found, "openllm_reply_seconds_count", surface="mention") == 1
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(("mode", "env", "message"), [
    ("socket", {"METRICS_PORT": "metrics"}, "METRICS_PORT='metrics' is not a port number"),
    ("http", {"METRICS_PORT": "0"}, "METRICS_PORT='0' is not a port number"),
    ("http", {"METRICS_PORT": "3000"}, "METRICS_PORT=3000 is PORT too"),
    ("http", {"METRICS_PORT": "9100", "PORT": "9100"}, "METRICS_PORT=9100 is PORT too"),
])
def test_a_bad_metrics_port_is_named_with_what_to_do(mode: str, env: dict[str, str], message: str) -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": SECRET}
    with pytest.raises(ConfigError) as caught:
        Config.from_env(mode, {**base, **env})  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_a_metrics_port_is_read() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": SECRET}
    assert Config.from_env("socket", {**base, "METRICS_PORT": "3000"}).metrics_port == 3000  # PORT is unused there
    assert Config.from_env("http", {**base, "METRICS_PORT": "9100"}).metrics_port == 9100
    assert Config.from_env("http", base).metrics_port is None


@pytest.fixture
async def slack(fake: FakeSlack, kb: KnowledgeBase) -> AsyncIterator[Slack]:
    slack = await start_slack(fake, kb)
    yield slack
    await slack.runner.cleanup()


async def test_the_grafana_dashboard_queries_only_metrics_the_bot_serves(fake: FakeSlack, kb: KnowledgeBase,
                                                                         tmp_path: Path) -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana" / "openllm-bot.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for e in exprs for name in re.findall(r"openllm_\w+", e)}
    assert len(used) >= 15
    recorder = Recorder(Store(f"sqlite:///{tmp_path / 'store.sqlite3'}"), STORE_KEY)
    slack = await start_slack(fake, kb, recorder)
    try:
        _, _, body = await scrape(slack.url)
    finally:
        await slack.runner.cleanup()
        recorder.close(1.0)
    served = set(re.findall(r"^# TYPE (\S+) ", body, re.MULTILINE))
    assert used <= served, used - served
