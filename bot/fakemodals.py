"""What Slack sends from a modal the app opened, for the fake Slack (bot/fakeslack.py): the state of its inputs as an
admin filled them in, Enter pressed in a text input that dispatches it, and the submission. Used by the console and
the tests, over the same signed HTTP (or Socket Mode) path as every other payload."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .fakeslack import FakeSlack, menu_options

# What an input holds: the text typed (None: left empty), the value of the option chosen, or of the options checked.
Filled = str | Sequence[str] | None
TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input")


def latest_view(fake: FakeSlack) -> dict[str, Any] | None:
    """The modal the app opened or updated last, as Slack holds it (with its id), if any."""
    calls = [c for c in fake.calls if c.method in ("views.open", "views.update")]
    if not calls:
        return None
    opened = [c for c in fake.calls if c.method == "views.open"]
    last = calls[-1]
    view_id = last.args.get("view_id") or f"V-open-{len(opened)}"
    return {"id": view_id, **last.args["view"]}


def initial_values(view: Mapping[str, Any]) -> dict[str, Filled]:
    """What each input of `view` holds when it opens (its initial value, option or options)."""
    values: dict[str, Filled] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        if element["type"] in TEXT_INPUTS:
            values[block["block_id"]] = element.get("initial_value")
        elif element["type"] == "checkboxes":
            values[block["block_id"]] = [o["value"] for o in element.get("initial_options", [])]
        else:
            values[block["block_id"]] = (element.get("initial_option") or {}).get("value")
    return values


def state(view: Mapping[str, Any], values: Mapping[str, Filled]) -> dict[str, Any]:
    """The `state` Slack sends with `view` filled in with `values` (by input block id; inputs not named: left empty,
    which Slack sends as null or no options)."""
    found: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element, given = block["element"], values.get(block["block_id"])
        if element["type"] in TEXT_INPUTS:
            value: dict[str, Any] = {"type": element["type"], "value": given if isinstance(given, str) and given
                                     else None}
        else:
            wanted = [given] if isinstance(given, str) else list(given or [])
            chosen = [o for o in menu_options(element) if o["value"] in wanted]
            if len(chosen) != len(wanted):
                raise LookupError(f"no option {wanted!r} in {block['block_id']!r}")
            value = ({"type": element["type"], "selected_options": chosen} if element["type"] == "checkboxes"
                     else {"type": element["type"], "selected_option": chosen[0] if chosen else None})
        found[block["block_id"]] = {element["action_id"]: value}
    return {"values": found}


def _view(fake: FakeSlack, view: Mapping[str, Any], values: Mapping[str, Filled], **changes: Any) -> dict[str, Any]:
    return {"id": view.get("id", "V0MODAL"), "type": "modal", "team_id": fake.team, "hash": "1.hash",
            "private_metadata": "", "callback_id": "", **{k: v for k, v in view.items() if k != "state"},
            "state": state(view, values), **changes}


def _user(fake: FakeSlack, user: str) -> dict[str, Any]:
    return {"id": user, "username": user.lower(), "team_id": fake.team}


async def submit(fake: FakeSlack, view: Mapping[str, Any], values: Mapping[str, Filled], user: str,
                 **changes: Any) -> tuple[int, dict[str, Any] | None]:
    """As `user`, submit the modal `view` filled in with `values`; `changes` replace fields of the view sent (a
    forged submission: `private_metadata`, `callback_id`). The app's answer: the status, and its JSON (None: empty)."""
    payload = {"type": "view_submission", "api_app_id": fake.app_id, "token": "verification-token",
               "team": {"id": fake.team, "domain": "fake"}, "user": _user(fake, user),
               "trigger_id": f"trigger-submit-{len(fake.calls)}", "view": _view(fake, view, values, **changes)}
    status, body = await fake._deliver("interactive", payload)
    try:
        answer = json.loads(body) if body.strip() else None
    except ValueError:
        answer = None
    return status, answer if isinstance(answer, dict) else None


async def dispatch(fake: FakeSlack, view: Mapping[str, Any], values: Mapping[str, Filled], block_id: str,
                   user: str) -> tuple[int, str]:
    """As `user`, act in the input `block_id` of `view` (filled in with `values`) that dispatches its action to the
    app, as Slack does when the input block has `dispatch_action`: Enter pressed in a text input, an option chosen in
    a select."""
    [block] = [b for b in view.get("blocks", []) if b.get("block_id") == block_id]
    element = block["element"]
    action: dict[str, Any] = {"type": element["type"], "action_id": element["action_id"], "block_id": block_id,
                              "action_ts": "1700000000.000100"}
    if element["type"] in TEXT_INPUTS:
        action["value"] = values.get(block_id)
    else:
        chosen = [o for o in menu_options(element) if o["value"] == values.get(block_id)]
        if not chosen:
            raise LookupError(f"no option {values.get(block_id)!r} in {block_id!r}")
        action["selected_option"] = chosen[0]
    payload = {"type": "block_actions", "api_app_id": fake.app_id, "token": "verification-token",
               "team": {"id": fake.team, "domain": "fake"}, "user": _user(fake, user),
               "container": {"type": "view", "view_id": view.get("id", "V0MODAL")},
               "trigger_id": f"trigger-dispatch-{len(fake.calls)}", "view": _view(fake, view, values),
               "actions": [action]}
    return await fake._deliver("interactive", payload)
