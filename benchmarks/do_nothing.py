"""The do-nothing bots `load.py` measures beside ours: apps that acknowledge every event and post "ok" in the thread of
each mention, without reading the question. What a burst takes with them is what HTTP, the signature check and the
Web API (and Bolt) cost on this machine: the floor any bot answering over the same path stands on.

    SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=… SLACK_API_URL=http://127.0.0.1:…/api/ PORT=3000 \\
        .venv/bin/python benchmarks/do_nothing.py [--bare]

By default a Bolt app (AsyncApp, an `app_mention` listener calling `say`) served by Bolt's own aiohttp adapter, the
way Bolt's documentation serves one; `--bare`: no framework at all, the signature checked on the raw body, the
acknowledgement sent, and "ok" posted with one kept-alive HTTP session. Both serve `POST /slack/events` and
`GET /healthz` on 127.0.0.1 with the bot's listening backlog, and stop at SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncSay
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient


def app_from_env() -> web.Application:
    # The token goes to the client (for the Web API at SLACK_API_URL); left in the environment, AsyncApp would read
    # it too and warn that it is unused.
    client = AsyncWebClient(token=os.environ.pop("SLACK_BOT_TOKEN"),
                            base_url=os.environ.get("SLACK_API_URL") or AsyncWebClient.BASE_URL)
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @bolt.event("app_mention")
    async def mention(event: dict, say: AsyncSay) -> None:
        await say(text="ok", thread_ts=event.get("thread_ts") or event["ts"])

    async def events(request: web.Request) -> web.Response:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    served = web.Application()
    served.add_routes([web.post("/slack/events", events), web.get("/healthz", healthz)])
    return served


def bare_app_from_env() -> web.Application:
    token = os.environ["SLACK_BOT_TOKEN"]
    api = (os.environ.get("SLACK_API_URL") or AsyncWebClient.BASE_URL).rstrip("/") + "/"
    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    tasks: set[asyncio.Task[None]] = set()
    session: list[aiohttp.ClientSession] = []

    async def post_ok(event: dict) -> None:
        if not session:
            session.append(aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}))
        message = {"channel": event["channel"], "thread_ts": event.get("thread_ts") or event["ts"], "text": "ok"}
        async with session[0].post(api + "chat.postMessage", json=message) as reply:
            await reply.read()

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300 or not verifier.is_valid(body, stamp, signature):
            return web.Response(status=401)
        payload = json.loads(body)
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge")})
        event = payload.get("event") or {}
        if event.get("type") == "app_mention":
            task = asyncio.ensure_future(post_ok(event))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return web.Response()

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def close(_: web.Application) -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        if session:
            await session[0].close()

    served = web.Application()
    served.add_routes([web.post("/slack/events", events), web.get("/healthz", healthz)])
    served.on_cleanup.append(close)
    return served


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    served = bare_app_from_env() if "--bare" in sys.argv[1:] else app_from_env()
    # The bot's listening backlog (bot/adapter/aiohttp.py): with aiohttp's default of 128, a burst's later connections
    # wait for the kernel to retry them (1 s, then 3 s).
    web.run_app(served, host="127.0.0.1", port=int(os.environ.get("PORT", "3000")), backlog=1024,
                print=None)


if __name__ == "__main__":
    main()
