"""Finding the Undo button the admin Home shows beside what was taught or written lately."""

from __future__ import annotations

from typing import Any


def undo_beside(view: dict[str, Any], what: str, prefix: str) -> str:
    """The action id of the Undo (its action id `prefix:<row>`) beside the line that says `what` (ValueError: there
    is none, or more than one)."""
    [undo] = [b["accessory"]["action_id"] for b in view["blocks"] if what in b.get("text", {}).get("text", "")
              and b.get("accessory", {}).get("action_id", "").startswith(prefix + ":")]
    return undo
