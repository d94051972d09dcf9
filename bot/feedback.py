"""Feedback that says why: the short form a 👎 opens (an optional reason and optional words), what it carries so
that only the voter's own submission of a form the bot opened is kept, and reading what was submitted.

The form's `private_metadata` names the reply voted on, its entry and the voter, sealed with an HMAC under the
store's hash key: a submission whose metadata was not sealed by the bot (or names someone else) is refused, and
nothing is stored. What is stored is kept beside the vote, and only while that vote is a 👎 (`Store.add_vote_reason`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from .blocks import Block
from .report import REASON_LABELS
from .store import MAX_REASON_CHARS, REASONS

CALLBACK_ID = "feedback_reason"
REASON_BLOCK, REASON_ACTION = "reason", "reason_choice"
DETAIL_BLOCK, DETAIL_ACTION = "detail", "reason_text"
# How a reply and an entry are named in a click's value or the form's metadata: channel:ts, and an FAQ id.
_REPLY = re.compile(r"[A-Z0-9]{1,32}:[0-9]{1,16}(?:\.[0-9]{1,8})?")
_MAX_ENTRY_ID = 128


@dataclass(frozen=True)
class Voted:
    """Who voted 👎 on which reply (`channel:ts`), which gave the entry `entry_id`."""

    reply: str
    entry_id: str
    user: str
    team: str | None = None


@dataclass(frozen=True)
class Refused:
    """A submission that is not kept: `block` is where the form shows `why`."""

    block: str
    why: str


@dataclass(frozen=True)
class Reason:
    voted: Voted
    reason: str | None
    text: str | None


def valid_reply(reply: object) -> bool:
    return isinstance(reply, str) and _REPLY.fullmatch(reply) is not None


def valid_entry_id(entry_id: object) -> bool:
    return isinstance(entry_id, str) and 0 < len(entry_id) <= _MAX_ENTRY_ID


def seal(key: bytes, voted: Voted) -> str:
    """`voted` as the form's metadata, with the MAC that shows the bot wrote it."""
    data = json.dumps({"reply": voted.reply, "entry": voted.entry_id, "user": voted.user, "team": voted.team},
                      separators=(",", ":"), sort_keys=True)
    return f"{data}.{_mac(key, data)}"


def unseal(key: bytes, metadata: object) -> Voted | None:
    """The vote `metadata` names, if the bot sealed it; None for anything else."""
    if not isinstance(metadata, str) or "." not in metadata:
        return None
    data, _, mac = metadata.rpartition(".")
    if not hmac.compare_digest(mac.encode(), _mac(key, data).encode()):
        return None
    try:
        found = json.loads(data)
    except ValueError:
        return None
    if not (isinstance(found, dict) and valid_reply(found.get("reply")) and valid_entry_id(found.get("entry"))
            and isinstance(found.get("user"), str) and isinstance(found.get("team"), str | None)):
        return None
    return Voted(found["reply"], found["entry"], found["user"], found["team"])


def _mac(key: bytes, data: str) -> str:
    digest = hmac.new(key, b"feedback-reason:" + data.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def form(key: bytes, voted: Voted, question: str | None = None) -> Block:
    """The modal a 👎 opens: why, in one optional choice and optional words (at most MAX_REASON_CHARS)."""
    options = [{"text": _plain(REASON_LABELS[r].capitalize()), "value": r} for r in REASONS]
    about = f"About: {question}" if question else "Thanks: a word on why helps whoever keeps the FAQ fix it."
    return {
        "type": "modal", "callback_id": CALLBACK_ID, "private_metadata": seal(key, voted),
        "title": _plain("Not helpful"), "submit": _plain("Send"), "close": _plain("Skip"),
        "blocks": [
            {"type": "context", "block_id": "about", "elements": [{"type": "plain_text", "text": about[:150]}]},
            {"type": "input", "block_id": REASON_BLOCK, "optional": True, "label": _plain("What was wrong with it?"),
             "element": {"type": "radio_buttons", "action_id": REASON_ACTION, "options": options}},
            {"type": "input", "block_id": DETAIL_BLOCK, "optional": True, "label": _plain("Anything to add?"),
             "element": {"type": "plain_text_input", "action_id": DETAIL_ACTION, "multiline": True,
                         "max_length": MAX_REASON_CHARS,
                         "placeholder": _plain("e.g. the licence changed in 2024")}},
        ],
    }


def submitted(key: bytes, body: dict[str, Any]) -> Reason | Refused:
    """What a submission of the form says, or why it is refused: metadata the bot did not seal, someone other than
    the voter submitting, a choice the form does not offer, words longer than MAX_REASON_CHARS."""
    view = body.get("view") if isinstance(body.get("view"), dict) else {}
    assert isinstance(view, dict)
    voted = unseal(key, view.get("private_metadata"))
    user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else None
    if voted is None or voted.user != user:
        return Refused(REASON_BLOCK, "This form is not one I opened for you: click 👎 again to say why.")
    values = (view.get("state") or {}).get("values") if isinstance(view.get("state"), dict) else None
    values = values if isinstance(values, dict) else {}
    choice = _field(values, REASON_BLOCK, REASON_ACTION).get("selected_option")
    reason = choice.get("value") if isinstance(choice, dict) else None
    if choice is not None and reason not in REASONS:
        return Refused(REASON_BLOCK, "Choose one of the reasons listed.")
    text = _field(values, DETAIL_BLOCK, DETAIL_ACTION).get("value")
    if text is not None and not isinstance(text, str):
        return Refused(DETAIL_BLOCK, "That is not text.")
    if text is not None and len(text) > MAX_REASON_CHARS:
        return Refused(DETAIL_BLOCK, f"Please keep it to {MAX_REASON_CHARS} characters (this is {len(text):,}).")
    return Reason(voted, reason, text.strip() or None if text is not None else None)


def _field(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    found = values.get(block)
    found = found.get(action) if isinstance(found, dict) else None
    return found if isinstance(found, dict) else {}
