"""A per-user limit on questions: someone sending hundreds of messages a minute gets one polite "slow down",
and the rest are neither answered nor recorded until they slow down."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

SLOW_DOWN = ("You're sending questions faster than I can keep up with. Please wait a minute, then ask again; "
             "I'll ignore questions until then.")
WINDOW_SECONDS = 60.0
# People tracked at once; beyond this the one heard from least recently is forgotten (memory stays bounded).
MAX_TRACKED = 10_000


class RateLimit:
    """At most `per_minute` questions per person in any 60 seconds (0: no limit). `allow` says whether a question
    may be answered, and whether this is the first refusal since the person was last allowed (time to say so);
    `on_refused(first)` is told of each refusal (/metrics)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 on_refused: Callable[[bool], None] | None = None) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.on_refused = on_refused or (lambda first: None)
        self._asked: OrderedDict[str, deque[float]] = OrderedDict()
        self._told: set[str] = set()

    def allow(self, who: str) -> tuple[bool, bool]:
        """(allowed, tell): `tell` is True for the first refusal of a spell."""
        if self.per_minute <= 0:
            return True, False
        now = self.clock()
        times = self._asked.pop(who, None) or deque()
        self._asked[who] = times  # now the most recent
        while times and now - times[0] >= WINDOW_SECONDS:
            times.popleft()
        if len(self._asked) > MAX_TRACKED:
            forgotten, _ = self._asked.popitem(last=False)
            self._told.discard(forgotten)
        if len(times) < self.per_minute:
            times.append(now)
            self._told.discard(who)
            return True, False
        first = who not in self._told
        self._told.add(who)
        self.on_refused(first)
        return False, first


def question_asker(body: dict[str, Any], command: str, answering: Collection[str] = ()
                   ) -> tuple[str, str, dict[str, Any]] | None:
    """(person, surface, where) for a request that asks the bot a question (a mention, a DM, the slash command, or a
    click on a button whose action id starts with one of the `answering` prefixes: it posts an answer); None for
    anything else (other clicks, App Home, other events)."""
    if body.get("type") == "block_actions":
        actions, user = body.get("actions"), body.get("user")
        if not (isinstance(actions, list) and actions and isinstance(actions[0], dict) and isinstance(user, dict)):
            return None
        kind = str(actions[0].get("action_id", "")).partition(":")[0]
        if kind not in answering or not isinstance(user.get("id"), str):
            return None
        team = (body.get("team") or {}).get("id") if isinstance(body.get("team"), dict) else None
        return f"{team or user.get('team_id') or ''}:{user['id']}", "click", body
    if body.get("type") == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or event.get("subtype") or event.get("bot_id"):
            return None
        user = event.get("user")
        if not isinstance(user, str) or not user:
            return None
        if event.get("type") == "app_mention":
            surface = "mention"
        elif event.get("type") == "message" and event.get("channel_type") == "im":
            surface = "dm"
        else:
            return None
        return f"{body.get('team_id') or ''}:{user}", surface, event
    if body.get("command") == command and isinstance(body.get("user_id"), str):
        return f"{body.get('team_id') or ''}:{body['user_id']}", "slash", body
    return None


def rate_limit_middleware(limit: RateLimit, command: str, answering: Collection[str] = ()) -> Any:
    """Bolt middleware: a question over `limit` is acknowledged but not handled; the first of a spell gets
    SLOW_DOWN (in the mention's thread, in the DM, or privately for the slash command and a click). Clicks on
    buttons whose action id starts with one of the `answering` prefixes count as questions."""

    async def rate_limited(req: AsyncBoltRequest, resp: BoltResponse, next: Any) -> BoltResponse | None:
        found = question_asker(req.body, command, answering)
        if found is None:
            await next()
            return resp
        who, surface, where = found
        allowed, tell = limit.allow(who)
        if allowed:
            await next()
            return resp
        if not tell:
            return BoltResponse(status=200, body="")
        log.info("rate limit: %s sent more than %d questions in a minute; told to slow down", surface,
                 limit.per_minute)
        if surface == "slash":
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": SLOW_DOWN})
        if surface == "click":
            if req.context.respond is not None:  # only the clicker sees it, wherever the button was
                await req.context.respond(text=SLOW_DOWN, response_type="ephemeral", replace_original=False)
            return BoltResponse(status=200, body="")
        channel = where.get("channel")
        if isinstance(channel, str) and req.context.client is not None:
            thread = where.get("thread_ts") or where.get("ts") if surface == "mention" else where.get("thread_ts")
            await req.context.client.chat_postMessage(channel=channel, thread_ts=thread, text=SLOW_DOWN)
        return BoltResponse(status=200, body="")

    return rate_limited
