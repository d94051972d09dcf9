"""The console's modals: the last one the app opened (or changed) in the fake Slack, shown as text, filled in with
/set and /cite and submitted with /submit, as Slack would submit it (bot/fakemodals.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .fakemodals import TEXT_INPUTS, Filled, dispatch, initial_values, latest_view, submit
from .fakeslack import FakeSlack, menu_options

COMMANDS = ("/modal", "/set", "/cite", "/submit", "/cancel")
HELP = """\
  /set FIELD TEXT     in the open form: type TEXT in FIELD (\\n for a new line), or choose the option TEXT
  /cite N [N…]        in the open form: check the passages N (and uncheck the others)
  /submit, /cancel    submit the open form; close it (/modal shows it again)
"""
_SUFFIX = re.compile(r":[0-9a-f]*$")


def field_name(block_id: str) -> str:
    """What /set calls an input: its block id without the `entry_` of the bot's forms or a `:…` suffix."""
    return _SUFFIX.sub("", block_id).removeprefix("entry_").removesuffix(":")


class Modals:
    """The modal open in the console for `user`, if any, and what has been typed and chosen in it."""

    def __init__(self, fake: FakeSlack, user: str, write: Callable[[str], None],
                 to_text: Callable[[str], str]) -> None:
        self.fake, self.user, self.write, self.to_text = fake, user, write, to_text
        self.view: dict[str, Any] | None = None
        self.values: dict[str, Filled] = {}
        self._seen = 0

    def show_new(self) -> None:
        """Show the modal if the app opened or changed one since the last look (what was typed in inputs it still
        has is kept, as Slack keeps it)."""
        calls = [c for c in self.fake.calls if c.method in ("views.open", "views.update")]
        if len(calls) == self._seen:
            return
        self._seen = len(calls)
        view = latest_view(self.fake)
        if view is None:
            return
        fresh = initial_values(view)
        self.values = {block: self.values.get(block, value) if block in self.values and not block.startswith(
            "entry_passages") else value for block, value in fresh.items()}
        self.view = view
        self.write(self.render())

    def _inputs(self) -> dict[str, dict[str, Any]]:
        return {b["block_id"]: b for b in (self.view or {}).get("blocks", []) if b.get("type") == "input"}

    def render(self) -> str:
        if self.view is None:
            return "No form is open.\n\n"
        title = self.view.get("title", {}).get("text", "")
        lines = [f"[Form: {title}]" + ("  (/set FIELD TEXT, /cite N…, /submit, /cancel)" if self._inputs() else "")]
        for block in self.view.get("blocks", []):
            kind = block.get("type")
            if kind == "section":
                lines.append(self.to_text(block["text"]["text"]))
            elif kind == "context":
                lines.extend("  " + self.to_text(e.get("text", "")) for e in block.get("elements", []))
            elif kind == "input":
                lines.append(self._input_line(block))
        return "\n".join(lines) + "\n\n"

    def _input_line(self, block: dict[str, Any]) -> str:
        element, value = block["element"], self.values.get(block["block_id"])
        label = f"{block['label']['text']}{' (optional)' if block.get('optional') else ''}"
        if element["type"] == "checkboxes":
            checked = [str(n) for n, o in enumerate(element.get("options", []), start=1) if o["value"] in (value or [])]
            return f"  {label} [/cite N]: {', '.join(checked) or 'none checked'}"
        name = field_name(block["block_id"])
        if element["type"] in TEXT_INPUTS:
            shown = str(value).replace("\n", "\\n") if value else "—"
            return f"  {label} [/set {name} …]: {shown}"
        options = ", ".join(o["value"] for o in menu_options(element)[:12])
        return f"  {label} [/set {name} OPTION, one of: {options}]: {value or '—'}"

    async def command(self, word: str, rest: str) -> None:
        if word == "/modal":
            self.write(self.render())
        elif self.view is None or not self._inputs():
            self.write("No form is open: a button such as “New entry” in /home opens one.\n")
        elif word == "/cancel":
            self.view, self.values = None, {}
            self.write("(form closed)\n")
        elif word == "/set":
            await self._set(rest)
        elif word == "/cite":
            self._cite(rest)
        elif word == "/submit":
            await self._submit()

    async def _set(self, rest: str) -> None:
        name, _, text = rest.partition(" ")
        blocks = {field_name(b): block for b, block in self._inputs().items()}
        block = blocks.get(name)
        if block is None:
            self.write(f"No field {name!r} in this form; its fields: {', '.join(blocks)}.\n")
            return
        element = block["element"]
        if element["type"] not in TEXT_INPUTS:
            values = [o["value"] for o in menu_options(element)]
            if text not in values:
                self.write(f"{name}: choose one of {', '.join(values)}.\n")
                return
        self.values[block["block_id"]] = text.replace("\\n", "\n") or None
        if block.get("dispatch_action") and self.view is not None:  # Enter pressed, or the option chosen
            await dispatch(self.fake, self.view, self.values, block["block_id"], self.user)
        else:
            self.write(self._input_line(block) + "\n")

    def _cite(self, rest: str) -> None:
        block = next((b for b in self._inputs().values() if b["element"]["type"] == "checkboxes"), None)
        if block is None:
            self.write("This form has no passages to cite.\n")
            return
        options = block["element"].get("options", [])
        numbers = [int(n) for n in rest.split() if n.isdigit() and 1 <= int(n) <= len(options)]
        self.values[block["block_id"]] = [options[n - 1]["value"] for n in dict.fromkeys(numbers)]
        self.write(self._input_line(block) + "\n")

    async def _submit(self) -> None:
        assert self.view is not None
        _, answer = await submit(self.fake, self.view, self.values, self.user)
        if answer is not None and answer.get("response_action") == "errors":
            names = {b: field_name(b) for b in self._inputs()}
            self.write("Not saved:\n" + "".join(f"  {names.get(b, b)}: {self.to_text(why)}\n"
                                                for b, why in answer.get("errors", {}).items()) + "\n")
            return
        if answer is not None and answer.get("response_action") == "update":
            self.view, self.values = {**answer.get("view", {}), "id": self.view.get("id")}, {}
