"""A small fake Slack on 127.0.0.1 for tests and the local console.

It plays both sides of Slack: the Web API the app calls (recording every call and its
arguments, keeping the messages it posts), `response_url`s, and a Socket Mode WebSocket;
and the sender of events, slash commands and button clicks, signed for HTTP mode or sent
as Socket Mode envelopes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

JSON_ARGS = ("blocks", "view", "attachments")
WAIT_SECONDS = 10.0
# What conversations.list lists unless a test says otherwise: channels with and without the bot in them.
CHANNELS = (
    {"id": "CGENERAL", "name": "general", "is_channel": True, "is_private": False, "is_member": True},
    {"id": "CTEAM", "name": "llm-team", "is_channel": True, "is_private": False, "is_member": True},
    {"id": "CDIGEST", "name": "faq-digest", "is_channel": True, "is_private": False, "is_member": True},
    {"id": "CRANDOM", "name": "random", "is_channel": True, "is_private": False, "is_member": False},
)


@dataclass
class Call:
    """One request the app made: a Web API `method` (or `response_url`) and its arguments."""

    method: str
    args: dict[str, Any]
    token: str | None = None


@dataclass
class Message:
    """A message as Slack would show it; `ephemeral` ones are seen only by `user`."""

    id: str
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    ephemeral: bool = False
    user: str | None = None
    response_token: str | None = None
    deleted: bool = False

    def buttons(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(block_id, button) for every button, in order."""
        for block in self.blocks:
            if block.get("type") == "actions":
                for element in block.get("elements", []):
                    if element.get("type") == "button":
                        yield block.get("block_id", ""), element


@dataclass
class Effect:
    """What a user would see change: a message `posted`, `updated` or `deleted`, or the `home` tab."""

    kind: str
    message: Message


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_id: str | None = None
    thread_ts: str | None = None


@dataclass
class _Failure:
    error: str | None
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """Start with `await FakeSlack().start()`; point the app at `api_url`; then either
    `send_over_http(events_url, signing_secret)` or let the app connect in Socket Mode."""

    def __init__(self, team: str = "T0FAKE", bot_user: str = "UBOT", bot_id: str = "BBOT",
                 app_id: str = "A0FAKE") -> None:
        self.team, self.bot_user, self.bot_id, self.app_id = team, bot_user, bot_id, app_id
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.effects: list[Effect] = []
        self.home: dict[str, dict[str, Any]] = {}
        self.envelopes: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self.url = ""
        self._events_url: str | None = None
        self._verifier: SignatureVerifier | None = None
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self._responses: dict[str, _ResponseTarget] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self.delayed: list[str] = []
        self.sent: dict[str, dict[str, Any]] = {}  # the message events sent to the app, by ts (for edits, reactions)
        self.usergroups: dict[str, dict[str, Any]] = {}  # user groups by id: {"handle": …, "users": [user ids]}
        # Bot tokens `oauth.v2.access` minted, and the installation each is for (`auth.test` answers as it); the codes
        # exchanged (a code is good once).
        self.installed: dict[str, dict[str, Any]] = {}
        self.codes_used: set[str] = set()
        self._closing = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._socket_ready = asyncio.Event()
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        # The channels conversations.list lists (the bot's membership in each): a test may change them.
        self.channels: list[dict[str, Any]] = [dict(c) for c in CHANNELS]

    # ---- lifecycle

    async def start(self) -> FakeSlack:
        application = web.Application()
        application.add_routes([
            web.post("/api/{method}", self._api),
            web.get("/api/{method}", self._api),
            web.post("/response/{token}", self._response_url),
            web.get("/link", self._link),
        ])
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def send_over_http(self, events_url: str, signing_secret: str) -> None:
        """Deliver events, commands and clicks as signed HTTP requests to `events_url`."""
        self._events_url = events_url
        self._verifier = SignatureVerifier(signing_secret)

    # ---- what the app did

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = WAIT_SECONDS) -> list[Call]:
        """The calls to `method` once there are at least `count`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} call(s) to {method}; calls made: {seen}")
            await asyncio.sleep(0.01)
        return self.calls_to(method)

    def fail(self, method: str, error: str | None = None, status: int = 200,
             headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Make the next `times` calls to `method` fail: with `{"ok": false, "error": error}`, or an HTTP
        `status`."""
        self._failures.setdefault(method, []).extend(_Failure(error, status, headers or {}) for _ in range(times))

    def hold(self, method: str) -> None:
        """Make calls to `method` wait, unrecorded and unanswered, until `release(method)` (a slow Slack);
        `delayed` lists the calls that have arrived and are waiting."""
        self._holds[method] = asyncio.Event()

    def release(self, method: str) -> None:
        self._holds.pop(method).set()

    def visible_messages(self, channel: str | None = None) -> list[Message]:
        return [m for m in self.messages.values() if not m.deleted and (channel is None or m.channel == channel)]

    # ---- Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json() if request.can_read_body else {})
        elif request.can_read_body:
            args.update(await request.post())
        for key in JSON_ARGS:
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") or args.pop("token", None)
        held = self._holds.get(method)
        if held is not None:
            self.delayed.append(method)
            closing = asyncio.ensure_future(self._closing.wait())
            await asyncio.wait([closing, asyncio.ensure_future(held.wait())], return_when=asyncio.FIRST_COMPLETED)
            closing.cancel()
        self.calls.append(Call(method, args, token))
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            if failure.error is None:
                return web.json_response({"ok": False}, status=failure.status, headers=failure.headers)
            return web.json_response({"ok": False, "error": failure.error}, headers=failure.headers)
        # oauth.v2.access is authenticated with the app's client id and secret (HTTP Basic), not a token.
        expected = {"apps.connections.open": "xapp-", "oauth.v2.access": "Basic "}.get(method, "xoxb-")
        if not token or not token.startswith(expected):
            return web.json_response({"ok": False, "error": "not_authed"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response({"ok": True, **handler(args)})

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        installed = self.installed.get(self.calls[-1].token or "")  # a token oauth.v2.access minted: its own
        if installed is not None:
            return {"url": "https://fake.slack.test/", "team": "Fake", "user": "openllm",
                    "team_id": installed["team_id"] or installed["enterprise_id"], "user_id": self.bot_user,
                    "bot_id": self.bot_id, "is_enterprise_install": installed["org_wide"],
                    **({"enterprise_id": installed["enterprise_id"]} if installed["enterprise_id"] else {})}
        return {"url": "https://fake.slack.test/", "team": "Fake", "user": "openllm", "team_id": self.team,
                "user_id": self.bot_user, "bot_id": self.bot_id, "is_enterprise_install": False}

    def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange an OAuth `code` (once) for a new bot token, as at the end of an install. The code names what is
        installed: `T…` a workspace, `E…/T…` a workspace of an Enterprise Grid org, `E…` an org-wide installation;
        anything else, or a code used before, is `invalid_code`."""
        code = str(args.get("code", ""))
        enterprise, slash, team = code.rpartition("/")
        org_wide = not slash and team.startswith("E")
        if code in self.codes_used or not (team.startswith("T") or org_wide) or (slash and enterprise[:1] != "E"):
            return {"ok": False, "error": "invalid_code"}
        self.codes_used.add(code)
        team_id, enterprise_id = (None, team) if org_wide else (team, enterprise or None)
        token = f"xoxb-{team}-{next(self._ids)}"
        self.installed[token] = {"team_id": team_id, "enterprise_id": enterprise_id, "org_wide": org_wide}
        return {"access_token": token, "token_type": "bot", "scope": str(args.get("scope") or "chat:write,commands"),
                "bot_user_id": self.bot_user, "app_id": self.app_id,
                "team": {"id": team_id, "name": f"Workspace {team_id}"} if team_id else None,
                "enterprise": {"id": enterprise_id, "name": f"Org {enterprise_id}"} if enterprise_id else None,
                "authed_user": {"id": "UINSTALLER"}, "is_enterprise_install": org_wide}

    def _ts(self) -> str:
        return f"{1700000000 + next(self._clock)}.000100"

    def _new_message(self, channel: str, args: dict[str, Any], thread_ts: str | None = None,
                     ephemeral: bool = False, user: str | None = None) -> Message:
        ts = self._ts()
        token = self._response_token(channel, user or "", None)
        message = Message(id=("eph-" if ephemeral else "") + ts, channel=channel, ts=ts, text=args.get("text", ""),
                          blocks=args.get("blocks", []), thread_ts=thread_ts, ephemeral=ephemeral, user=user,
                          response_token=token)
        self._responses[token].message_id = message.id
        self._responses[token].thread_ts = thread_ts
        self.messages[message.id] = message
        self.effects.append(Effect("posted", message))
        return message

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._new_message(args["channel"], args, thread_ts=args.get("thread_ts") or None)
        return {"channel": message.channel, "ts": message.ts,
                "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks,
                            "bot_id": self.bot_id, "user": self.bot_user}}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread as Slack lists it: the parent first, then the replies, oldest first, people's (the messages
        sent to the app) and the bot's (those it posted), at most `limit`."""
        channel, ts = args.get("channel"), str(args.get("ts", ""))
        people = [{"type": "message", "user": e.get("user"), "text": e.get("text", ""), "ts": e["ts"],
                   **({"thread_ts": e["thread_ts"]} if e.get("thread_ts") else {})}
                  for e in self.sent.values() if e.get("channel") == channel and ts in (e["ts"], e.get("thread_ts"))]
        bot = [{"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "text": m.text, "ts": m.ts,
                **({"thread_ts": m.thread_ts} if m.thread_ts else {})}
               for m in self.messages.values() if m.channel == channel and not m.ephemeral and not m.deleted
               and ts in (m.ts, m.thread_ts)]
        thread = sorted({m["ts"]: m for m in people + bot}.values(), key=lambda m: float(m["ts"]))
        if not any(m["ts"] == ts for m in thread):
            return {"ok": False, "error": "thread_not_found"}  # overrides the "ok": True of a handler's answer
        return {"messages": thread[:int(args.get("limit") or 1000)], "has_more": False}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._new_message(args["channel"], args, thread_ts=args.get("thread_ts") or None,
                                    ephemeral=True, user=args["user"])
        return {"message_ts": message.ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(args["ts"])
        if message is None or message.deleted:
            return {"ok": False, "error": "message_not_found"}
        message.text, message.blocks = args.get("text", message.text), args.get("blocks", message.blocks)
        self.effects.append(Effect("updated", message))
        return {"channel": message.channel, "ts": message.ts, "text": message.text}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"]
        self.home[args["user_id"]] = view
        self.effects.append(Effect("home", Message(id="home", channel="home", ts="", text="",
                                                   blocks=view.get("blocks", []), user=args["user_id"])))
        return {"view": {"id": "V0HOME", **view}}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """A modal opened on a click's (or command's) trigger: Slack answers with the view as it holds it, its id and
        an empty state. The view is in the call's arguments (`calls_to("views.open")`), for `submit_view`."""
        if not str(args.get("trigger_id", "")).startswith("trigger-"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = args["view"]
        return {"view": {"id": f"V{next(self._ids):08d}", "team_id": self.team, "state": {"values": {}},
                         "private_metadata": "", "callback_id": "", **view}}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        """A modal changed in place (by `view_id` or `external_id`), as after a click in it or a submission: Slack
        answers with the view as it now holds it (a new `hash`). The view is in the call's arguments
        (`calls_to("views.update")`)."""
        view_id = str(args.get("view_id") or "")
        if not view_id and not args.get("external_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"view": {"id": view_id, "team_id": self.team, "state": {"values": {}}, "private_metadata": "",
                         "callback_id": "", "hash": f"{next(self._clock)}.hash", **args["view"]}}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        """A message's permalink, as Slack builds it (a reply's carries its thread): for a message the bot posted or
        one sent to the app."""
        channel, ts = str(args.get("channel", "")), str(args.get("message_ts", ""))
        posted = self.messages.get(ts)
        sent = self.sent.get(ts)
        if posted is not None and posted.channel == channel and not posted.ephemeral:
            thread_ts = posted.thread_ts
        elif sent is not None and sent.get("channel") == channel:
            thread_ts = sent.get("thread_ts")
        else:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://fake.slack.test/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """`channels` a page at a time (`limit`, default 100; `cursor` for the next page), as Slack pages them."""
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 100)
        page = self.channels[start:start + limit]
        following = str(start + limit) if start + limit < len(self.channels) else ""
        return {"channels": page, "response_metadata": {"next_cursor": following}}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """The workspace's user groups (`usergroups`), as Slack lists them; their members with `include_users`."""
        members = str(args.get("include_users", "")).lower() in ("1", "true")
        return {"usergroups": [{"id": id, "team_id": self.team, "is_usergroup": True, "handle": group["handle"],
                                "name": group.get("name", group["handle"]), "user_count": len(group["users"]),
                                **({"users": list(group["users"])} if members else {})}
                               for id, group in self.usergroups.items()]}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """The members of the user group `usergroup` (by id), as Slack lists them."""
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}  # overrides the "ok": True of a handler's answer
        return {"users": list(group["users"])}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.url.replace("http://", "ws://") + "/link?ticket=fake"}

    # ---- response_url

    def _response_token(self, channel: str, user: str, message_id: str | None) -> str:
        token = f"R{next(self._ids):06d}"
        self._responses[token] = _ResponseTarget(channel, user, message_id)
        return token

    def response_url(self, token: str) -> str:
        return f"{self.url}/response/{token}"

    async def _response_url(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        args = await request.json()
        self.calls.append(Call("response_url", {**args, "response_token": token}))
        target = self._responses.get(token)
        if target is None:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        original = self.messages.get(target.message_id or "")
        if original is not None and args.get("delete_original"):
            original.deleted = True
            self.effects.append(Effect("deleted", original))
        elif original is not None and args.get("replace_original"):
            original.text, original.blocks = args.get("text", ""), args.get("blocks", [])
            self.effects.append(Effect("updated", original))
        else:
            public = args.get("response_type") == "in_channel"
            self._new_message(target.channel, args, thread_ts=args.get("thread_ts") or target.thread_ts,
                              ephemeral=not public, user=None if public else target.user)
        return web.json_response({"ok": True})

    # ---- Socket Mode

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": self.app_id},
                                "debug_info": {"host": "fake", "approximate_connection_time": 3600}})
        self._socket_ready.set()
        async for frame in socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(frame.data)
            self.acks.append(data)
            pending = self._pending_acks.pop(data.get("envelope_id", ""), None)
            if pending is not None and not pending.done():
                pending.set_result(data)
        self._socket_ready.clear()
        return socket

    async def send_envelope(self, kind: str, payload: dict[str, Any], timeout: float = WAIT_SECONDS,
                            retry: int = 0) -> dict[str, Any]:
        """Send a Socket Mode envelope (`events_api`, `slash_commands`, `interactive`); the app's ack."""
        await asyncio.wait_for(self._socket_ready.wait(), timeout)
        assert self._socket is not None
        envelope_id = f"env-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = future
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api", "retry_attempt": retry,
                    "retry_reason": "timeout" if retry else ""}
        self.envelopes.append(envelope)
        await self._socket.send_json(envelope)
        return await asyncio.wait_for(future, timeout)

    # ---- Slack -> app

    async def _deliver(self, kind: str, payload: dict[str, Any], retry: int = 0) -> tuple[int, str]:
        """Send like Slack would: JSON for events, a form for commands, `payload=` for clicks; `retry` > 0
        marks a redelivery (`X-Slack-Retry-Num` over HTTP, `retry_attempt` in Socket Mode)."""
        if self._events_url is None:
            ack = await self.send_envelope(kind, payload, retry=retry)
            return 200, json.dumps(ack.get("payload", ""))
        if kind == "events_api":
            body, content_type = json.dumps(payload), "application/json"
        elif kind == "slash_commands":
            body, content_type = urlencode(payload), "application/x-www-form-urlencoded"
        else:
            body, content_type = urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        assert self._verifier is not None and self._http is not None
        timestamp = str(int(time.time()))
        signature = self._verifier.generate_signature(timestamp=timestamp, body=body)
        assert signature is not None
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": signature}
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        async with self._http.post(self._events_url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()

    def _event(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"token": "verification-token", "team_id": self.team, "api_app_id": self.app_id, "event": event,
                "type": "event_callback", "event_id": f"Ev{next(self._ids):08d}", "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team, "user_id": self.bot_user, "is_bot": True}]}

    def mention_payload(self, text: str, user: str = "UALICE", channel: str = "CGENERAL",
                        thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
        """The `event_callback` Slack sends for `@bot text`; `extra` adds event fields such as `bot_id`."""
        ts = self._ts()
        event = {"type": "app_mention", "user": user, "text": f"<@{self.bot_user}> {text}".rstrip(), "ts": ts,
                 "channel": channel, "event_ts": ts, **extra}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self._event(event)

    async def send_event(self, payload: dict[str, Any], retry: int = 0) -> tuple[int, str]:
        """Deliver an `event_callback` (again, with `retry` > 0, as Slack does when it saw no ack)."""
        return await self._deliver("events_api", payload, retry=retry)

    async def mention(self, text: str, user: str = "UALICE", channel: str = "CGENERAL",
                      thread_ts: str | None = None) -> str:
        """`@bot text` in `channel` (in `thread_ts` if given); the mention's ts."""
        payload = self.mention_payload(text, user, channel, thread_ts)
        self.sent[payload["event"]["ts"]] = payload["event"]
        await self.send_event(payload)
        return payload["event"]["ts"]

    async def message(self, text: str, user: str | None = "UALICE", channel: str = "DALICE",
                      channel_type: str = "im", **extra: Any) -> tuple[int, str]:
        """A `message` event (a DM by default); `extra` adds fields such as `subtype` or `bot_id`."""
        ts = self._ts()
        event = {"type": "message", "channel": channel, "channel_type": channel_type, "text": text, "ts": ts,
                 "event_ts": ts, **extra}
        if user:
            event["user"] = user
        self.sent[ts] = event
        return await self._deliver("events_api", self._event(event))

    async def thread_reply(self, text: str, thread_ts: str, user: str = "UALICE", channel: str = "CGENERAL",
                           channel_type: str = "channel", **extra: Any) -> str:
        """A person's reply in the thread `thread_ts`, as the `message` event Slack sends once the app has a
        channel's history scope; when `text` mentions the bot (`<@UBOT>`), the same message also comes as an
        `app_mention` (same ts, another event id), both at once in no set order, as Slack does. The reply's ts."""
        ts = self._ts()
        event = {"type": "message", "channel": channel, "channel_type": channel_type, "user": user, "text": text,
                 "ts": ts, "thread_ts": thread_ts, "event_ts": ts, **extra}
        self.sent[ts] = event
        deliveries = [self._deliver("events_api", self._event(event))]
        if f"<@{self.bot_user}>" in text or f"<@{self.bot_user}|" in text:
            mention = {"type": "app_mention", "channel": channel, "user": user, "text": text, "ts": ts,
                       "thread_ts": thread_ts, "event_ts": ts}
            deliveries.append(self._deliver("events_api", self._event(mention)))
        await asyncio.gather(*deliveries)
        return ts

    async def edit(self, ts: str, text: str) -> tuple[int, str]:
        """Edit the message `ts` sent earlier: a `message_changed` event, which (as in Slack) has the edited
        message inside it and no `user` of its own."""
        original = self.sent[ts]
        inner = {k: v for k, v in original.items() if k not in ("channel", "channel_type", "event_ts")}
        event_ts = self._ts()
        event = {"type": "message", "subtype": "message_changed", "hidden": True, "channel": original["channel"],
                 "channel_type": original.get("channel_type"),
                 "message": {**inner, "text": text, "edited": {"user": original.get("user"), "ts": event_ts}},
                 "previous_message": inner, "ts": event_ts, "event_ts": event_ts}
        self.sent[ts] = {**original, "text": text}
        return await self._deliver("events_api", self._event(event))

    async def react(self, ts: str, reaction: str = "shushing_face", user: str = "UALICE") -> tuple[int, str]:
        """`user` adds `reaction` to the message `ts` (one the bot posted, or one sent to the app)."""
        posted = self.messages.get(ts)
        channel: str = posted.channel if posted is not None else self.sent[ts]["channel"]
        author: str | None = self.bot_user if posted is not None else self.sent[ts].get("user")
        event_ts = self._ts()
        return await self._deliver("events_api", self._event(
            {"type": "reaction_added", "user": user, "reaction": reaction, "item_user": author,
             "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": event_ts}))

    async def slash(self, command: str, text: str, user: str = "UALICE", channel: str = "CGENERAL"
                    ) -> tuple[int, str]:
        token = self._response_token(channel, user, None)
        form = {"token": "verification-token", "team_id": self.team, "team_domain": "fake", "channel_id": channel,
                "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
                "text": text, "api_app_id": self.app_id, "response_url": self.response_url(token),
                "trigger_id": f"trigger-{token}"}
        return await self._deliver("slash_commands", form)

    async def click(self, message: Message, action_id: str, user: str = "UALICE") -> tuple[int, str]:
        """Click the button `action_id` of `message`, as `user`."""
        found = [(b, e) for b, e in message.buttons() if e["action_id"] == action_id]
        if not found:
            raise LookupError(f"no button {action_id!r} in message {message.id}")
        block_id, element = found[0]
        token = self._response_token(message.channel, user, message.id)
        self._responses[token].thread_ts = message.thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions", "api_app_id": self.app_id, "token": "verification-token",
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "team": {"id": self.team, "domain": "fake"}, "channel": {"id": message.channel, "name": "general"},
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                          "is_ephemeral": message.ephemeral},
            "trigger_id": f"trigger-{token}", "response_url": self.response_url(token),
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id,
                         "text": element["text"], "value": element.get("value", ""), "action_ts": self._ts()}],
        }
        if not message.ephemeral:  # Slack sends no copy of an ephemeral message
            payload["message"] = {"type": "message", "ts": message.ts, "text": message.text,
                                  "blocks": message.blocks, "user": self.bot_user, "bot_id": self.bot_id,
                                  **({"thread_ts": message.thread_ts} if message.thread_ts else {})}
        return await self._deliver("interactive", payload)

    async def submit_view(self, view: dict[str, Any], values: dict[str, str | None], user: str = "UALICE",
                          callback_id: str | None = None, private_metadata: str | None = None) -> tuple[int, str]:
        """As `user`, submit the modal `view` (as the app opened it) with `values`: by input block id, the text typed
        in its plain-text input or the value of the option chosen in its radio buttons or select (None or left out:
        left empty, which Slack sends as null). `callback_id` and `private_metadata` replace the view's (a forged
        submission). The app's answer: (status, body), e.g. `{"response_action": "errors", ...}`."""
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element, given = block["element"], values.get(block["block_id"])
            if element["type"] in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
                value: dict[str, Any] = {"type": element["type"], "value": given}
            else:
                chosen = [o for o in menu_options(element) if o["value"] == given]
                if given is not None and not chosen:
                    raise LookupError(f"no option {given!r} in {block['block_id']!r}")
                value = {"type": element["type"], "selected_option": chosen[0] if chosen else None}
            state[block["block_id"]] = {element["action_id"]: value}
        payload = {"type": "view_submission", "api_app_id": self.app_id, "token": "verification-token",
                   "team": {"id": self.team, "domain": "fake"},
                   "user": {"id": user, "username": user.lower(), "team_id": self.team},
                   "trigger_id": f"trigger-{next(self._ids)}",
                   "view": {"id": view.get("id", f"V{next(self._ids):08d}"), "type": "modal", "team_id": self.team,
                            **{k: v for k, v in view.items() if k not in ("id", "state")},
                            "callback_id": view.get("callback_id", "") if callback_id is None else callback_id,
                            "private_metadata": (view.get("private_metadata", "") if private_metadata is None
                                                 else private_metadata),
                            "state": {"values": state}}}
        return await self._deliver("interactive", payload)

    async def open_home(self, user: str = "UALICE", tab: str = "home") -> tuple[int, str]:
        return await self._deliver("events_api", self._event(
            {"type": "app_home_opened", "user": user, "channel": "DALICE", "tab": tab, "event_ts": self._ts()}))

    async def act_in_view(self, view: dict[str, Any], action_id: str, user: str = "UALICE",
                          option: str | None = None) -> tuple[int, str]:
        """As `user`, click the button `action_id` of `view` (an App Home the app published), or with `option`
        choose the option of that value in its select: sent as Slack sends an action in a view, with the view and
        without a channel or message. `user` need not be the one the view was published for (a forged click)."""
        found = find_control(view.get("blocks", []), action_id)
        if found is None:
            raise LookupError(f"no element {action_id!r} in the view")
        block_id, element = found
        action: dict[str, Any] = {"type": element["type"], "action_id": action_id, "block_id": block_id,
                                  "action_ts": self._ts()}
        if element["type"] == "button":
            action.update(text=element["text"], value=element.get("value", ""))
        else:
            chosen = [o for o in menu_options(element) if o["value"] == option]
            if not chosen:
                raise LookupError(f"no option {option!r} in {action_id!r}")
            action["selected_option"] = chosen[0]
        payload = {"type": "block_actions", "api_app_id": self.app_id, "token": "verification-token",
                   "user": {"id": user, "username": user.lower(), "team_id": self.team},
                   "team": {"id": self.team, "domain": "fake"}, "container": {"type": "view", "view_id": "V0HOME"},
                   "trigger_id": f"trigger-{next(self._ids)}", "view": {"id": "V0HOME", **view}, "actions": [action]}
        return await self._deliver("interactive", payload)


def find_control(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
    """The block id and element of the button or menu `action_id` in `blocks` (in an actions block, or a
    section's accessory), if there is one."""
    for block in blocks:
        for element in [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]:
            if element.get("action_id") == action_id:
                return block.get("block_id", ""), element
    return None


def menu_options(menu: dict[str, Any]) -> list[dict[str, Any]]:
    """Every option of a select, in its option groups too."""
    return [*menu.get("options", []), *(o for group in menu.get("option_groups", []) for o in group["options"])]


async def wait_until_healthy(url: str, process: asyncio.subprocess.Process, timeout: float) -> bool:
    """Poll `url/healthz` until it answers 200 (True), the process exits or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and process.returncode is None:
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return True
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    return False
