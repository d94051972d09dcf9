"""What arrives from Slack, checked before anything acts on it: over HTTP the signature on the raw bytes; then (in
Socket Mode too) the payload's shape and what its kind must carry; and how a log line names a request."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

from slack_bolt.request.internals import parse_body

# How far a request's timestamp may be from now (Slack's rule: five minutes), against replays.
SIGNATURE_MAX_AGE = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


def request_name(body: Any) -> str:
    """How a log line names a request: the event id, or the command or action and its trigger."""
    if not isinstance(body, dict):
        return "request"
    if body.get("event_id"):
        return f"event {body['event_id']}"
    if body.get("command"):
        return f"command {body['command']} (trigger {body.get('trigger_id')})"
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    return f"{body.get('type', 'request')} {action.get('action_id', '')} (trigger {body.get('trigger_id')})"


def correctly_signed(secret: str, raw: bytes, timestamp: str | None, signature: str | None,
                     now: float | None = None) -> bool:
    """Whether `raw`, the body exactly as received, carries Slack's signature (`v0=` HMAC-SHA256 of
    `v0:TIMESTAMP:BODY` with the signing secret) and a timestamp within SIGNATURE_MAX_AGE of `now`. Checked on the
    bytes, before anything decodes or parses them: whatever a request holds, this only answers True or False."""
    if not secret or not timestamp or not signature or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={expected}".encode(), signature.encode("utf-8", "replace"))


# The shape of Slack's payloads, where Bolt and the listeners rely on it: at any depth, a field of one of these names
# holds a value of these types. A correctly signed payload that breaks it is not Slack's; it is refused before Bolt
# (whose own parsing would fail on it) gets it.
_OBJECT = (dict,)
_TEXT = (str,)
_SHAPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(["event", "view", "message", "previous_message", "container", "item", "assistant_thread",
                     "workflow_step", "function_data", "inputs", "user_team", "state", "bot_profile"], _OBJECT),
    **dict.fromkeys(["team", "user", "channel"], (dict, str, type(None))),
    **dict.fromkeys(["text"], (dict, str)),  # Block Kit's text is an object
    **dict.fromkeys(["enterprise"], (dict, str, type(None))),
    # A modal's text input left empty is submitted with a null value; an org-wide installation's authorization has
    # no workspace (`team_id` null).
    **dict.fromkeys(["enterprise_id", "thread_ts", "value", "team_id"], (str, type(None))),
    **dict.fromkeys(["type", "subtype", "ts", "event_ts", "event_id", "user_id", "channel_id",
                     "bot_id", "channel_type", "tab", "action_id", "block_id", "callback_id", "trigger_id",
                     "response_url", "command", "challenge", "token", "api_app_id", "function_execution_id"], _TEXT),
    **dict.fromkeys(["actions", "authorizations", "blocks", "elements", "response_urls"], (list,)),
    **dict.fromkeys(["is_enterprise_install", "is_ext_shared_channel", "is_ephemeral"], (bool, str)),
}
_LISTS_OF_OBJECTS = {"actions", "authorizations", "response_urls"}


def slack_shaped(payload: dict[str, Any]) -> bool:
    """Whether every field of `payload` named in _SHAPES, at any depth, has the type Slack gives it."""
    pending: list[Any] = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in _SHAPES and not isinstance(item, _SHAPES[key]):
                    return False
                if key in _LISTS_OF_OBJECTS and not all(isinstance(i, dict) for i in item):
                    return False
                if isinstance(item, dict | list):
                    pending.append(item)
    return True


# What each kind of payload must carry for the bot to act on it (its listeners reply, record and rate-limit with
# these): dotted paths to a non-empty string, `*` standing for every item of a non-empty list. Slack always sends
# them; a correctly signed payload without one is refused before Bolt sees it, rather than failing in a listener as
# a "failed reply". A payload of several kinds must carry what each needs; other kinds need only `_SHAPES`.
_ACTIONS = "actions.*.action_id"
REQUIRED: dict[str, tuple[str, ...]] = {
    "mention": ("event.channel", "event.ts"),
    "message": ("event.channel", "event.ts"),  # DMs, thread replies, edits
    "reaction to a message": ("event.item.channel", "event.item.ts"),
    "App Home opening": ("event.user",),
    "slash command": ("user_id", "response_url"),
    "click on a message": ("user.id", "channel.id", "message.ts", _ACTIONS),
    "click on an ephemeral message": ("user.id", "channel.id", "response_url", _ACTIONS),  # no copy of the message
    "click in a view": ("user.id", _ACTIONS),  # the App Home's buttons
    "click": ("user.id", _ACTIONS),  # anywhere else
}
_EVENTS = {"app_mention": "mention", "message": "message", "app_home_opened": "App Home opening"}


def payload_kinds(payload: dict[str, Any]) -> list[str]:
    """The kinds of REQUIRED that `payload` (of Slack's shape, see `slack_shaped`) is, as Bolt would route it."""
    kinds = []
    if payload.get("type") == "event_callback" and isinstance(event := payload.get("event"), dict):
        if (kind := _EVENTS.get(event.get("type", ""))) is not None:
            kinds.append(kind)
        elif event.get("type") == "reaction_added" and isinstance(item := event.get("item"), dict) \
                and item.get("type") == "message":
            kinds.append("reaction to a message")
    if "command" in payload:
        kinds.append("slash command")
    if payload.get("type") == "block_actions":
        container = payload.get("container")
        container = container if isinstance(container, dict) else {}
        if container.get("type") == "message":
            kinds.append("click on an ephemeral message" if container.get("is_ephemeral") in (True, "true")
                         else "click on a message")
        else:
            kinds.append("click in a view" if container.get("type") == "view" else "click")
    return kinds


def _carries(value: Any, path: list[str]) -> bool:
    if not path:
        return isinstance(value, str) and bool(value)
    key, rest = path[0], path[1:]
    if key == "*":
        return isinstance(value, list) and bool(value) and all(_carries(item, rest) for item in value)
    return isinstance(value, dict) and _carries(value.get(key), rest)


def lacking(payload: dict[str, Any]) -> str | None:
    """What `payload` lacks of what its kind must carry (REQUIRED), said as "a click on a message without
    user.id"; None when it has it all."""
    for kind in payload_kinds(payload):
        for path in REQUIRED[kind]:
            if not _carries(payload, path.split(".")):
                return f"{'an' if kind[0] in 'AEIOUaeiou' else 'a'} {kind} without {path.replace('.*.', '[].')}"
    return None


def slack_payload(raw: bytes, content_type: str) -> tuple[str, dict[str, Any]] | None:
    """The body as text and as Bolt will parse it, or None when it is not a Slack payload (not UTF-8, not JSON
    or a form, a `payload=` that is not a JSON object, JSON that is not an object, fields not of Slack's types)."""
    try:
        body = raw.decode("utf-8")
        parsed = parse_body(body, content_type or None)
    except (ValueError, RecursionError):  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
        return None
    return (body, parsed) if isinstance(parsed, dict) and slack_shaped(parsed) else None
