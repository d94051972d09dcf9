"""`openllm-bot serve` as a real process on a database that accepts connections and never answers (issue 25, item 3):
said once at start-up, the admin's Home and clicks answered with the store named as unreachable (and counted on
/healthz), and SIGTERM still ends the process within moments."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
from stuck_store import silent_server

from bot.fakeslack import FakeSlack

from .slackkit import SECRET, all_text
from .test_deploy import STARTUP_SECONDS, _free_port, _serve, _wait_healthy

ADMIN = "UADMIN"
# A Home whose one control teaches a question as not covered: what an admin's click on it sends.
TEACHING_VIEW = {"type": "home", "blocks": [{
    "type": "actions", "block_id": "teach:can i sell what i make with it",
    "elements": [{"type": "button", "action_id": "teach_none:0", "value": "none",
                  "text": {"type": "plain_text", "text": "Not covered"}}]}]}


async def _health(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as response:
        return await response.json()


async def test_a_database_that_never_answers_is_said_refused_counted_and_does_not_hold_up_the_exit(
        fake: FakeSlack) -> None:
    with silent_server() as database:
        port = _free_port()
        process = await _serve(fake, "http", SLACK_SIGNING_SECRET=SECRET, PORT=str(port), STORE_ENABLED="true",
                               DATABASE_URL=f"postgresql://bot:secret-pw@127.0.0.1:{database}/openllm",
                               STORE_HASH_KEY="0123456789abcdef0123", ADMIN_USER_IDS=ADMIN,
                               SHUTDOWN_GRACE_SECONDS="2")
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_healthy(url, process)
            fake.send_over_http(url + "/slack/events", SECRET)

            await fake.open_home(user=ADMIN)  # before: never published, the read waiting for ever
            [home] = await fake.wait_for("views.publish", timeout=30)
            assert "The question store could not be read" in all_text(home.args["view"]["blocks"])

            await fake.act_in_view(TEACHING_VIEW, "teach_none:0", user=ADMIN)  # before: no note, no log line
            second = (await fake.wait_for("views.publish", count=2, timeout=30))[1]
            assert "the question store could not be reached (teaching)" in all_text(second.args["view"]["blocks"])
            health = await _health(url)
            assert health["store_failures"] >= 2  # the Home's read and the teaching
            assert health["ok"] and health["store"]["ok"] is False and health["store"]["problem"]  # answers go on

            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert await asyncio.wait_for(process.wait(), STARTUP_SECONDS) == 0  # before: still alive 50 s later
            assert time.monotonic() - started < 2 + 3  # the grace period, and closing the store (1 s when failing)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log = (await process.stderr.read()).decode()
    said = [line for line in log.splitlines() if "questions and votes cannot be recorded" in line]
    assert len(said) == 1 and "could not be reached" in said[0], log
    assert "secret-pw" not in log
