"""The local console: Slack without Slack.

What you type becomes a mention, a DM, a slash command or a button click sent by an
in-process fake Slack to the real app over loopback HTTP, so the very listeners that serve
a workspace answer; their Block Kit replies are printed as text.
"""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from knowledge import KnowledgeBase

from .adapter.aiohttp import EVENTS_PATH, start_http
from .app import create_app
from .config import Config
from .console_modals import COMMANDS as FORM_COMMANDS
from .console_modals import HELP as FORMS_HELP
from .console_modals import Modals
from .digest import Schedule, as_text, build_digest, digest_reply
from .fakeslack import Effect, FakeSlack, Message, find_control, menu_options
from .recorder import Recorder
from .reload import TaughtWatcher
from .state import KnowledgeHolder

COMMAND = "/openllm"
CHANNEL, DM, USER = "CCONSOLE", "DCONSOLE", "UCONSOLE"
TEAM, TEAMMATE = "CTEAM", "UTEAMMATE"  # #llm-team, where "Ask the team" posts (with a store), and someone in it
HOME = "home"  # the id of the App Home as the fake Slack shows it

HELP = f"""\
openllm-bot console: the Slack app, without Slack.
  QUESTION            mention the bot in a channel (@openllm QUESTION); it answers in a thread
  /dm QUESTION        send the bot a direct message
  /reply TEXT         reply in the thread of its last answer there, without mentioning it (a follow-up)
  {COMMAND + " [TEXT]":<20}the slash command: a question or topic, `topics`, `help`
  /click N [OPTION]   click button [N]; for a menu [N], choose OPTION: an entry id, or words of its question
  /home               open the bot's App Home; you are an admin here: it lists what to teach the bot, and
                      "New entry" and "Edit an answer" open a form to write the FAQ in:
{FORMS_HELP}  /team TEXT          as someone in #llm-team, answer the question the bot last handed to the team
  /digest             the weekly digest of the last 7 days, as the bot posts it in DIGEST_CHANNEL
  /help, /quit        this help; leave (or Ctrl-D)
"""

_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_BARE = re.compile(r"<([@#!]?)([^<>|]+)>")


def mrkdwn_to_text(text: str) -> str:
    """Slack mrkdwn as a terminal shows it: links as `label (url)`, entities unescaped."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE.sub(lambda m: {"#": "#", "": ""}.get(m.group(1), "@") + m.group(2), text)  # a channel: #C…
    return html.unescape(text)


class Console:
    def __init__(self, kb: KnowledgeBase, stdout: TextIO, recorder: Recorder | None = None) -> None:
        self.kb = kb
        self.recorder = recorder
        self.out = stdout
        self.fake = FakeSlack()
        self.buttons: dict[int, tuple[Message, str]] = {}
        self.thread: str | None = None  # the thread the bot last answered in, in the channel
        self._seen = 0
        self.modals = Modals(self.fake, USER, self.write, mrkdwn_to_text)  # the form open, if any

    async def start(self) -> None:
        await self.fake.start()
        secret = secrets.token_hex(16)
        # Each listener finishes before the request returns, so everything it did can be printed at once.
        # Whoever runs the console sees the store's summary in /home, as an admin would in Slack.
        config = Config(bot_token="xoxb-console", signing_secret=secret, api_url=self.fake.api_url,
                        command=COMMAND, process_before_response=True, admin_user_ids=frozenset({USER}),
                        handoff_channel="#llm-team" if self.recorder is not None else None)
        holder = KnowledgeHolder(self.kb)
        app = create_app(config, holder, recorder=self.recorder)
        self.runner, url = await start_http(app, holder, secret, "127.0.0.1", 0)
        self.fake.send_over_http(url + EVENTS_PATH, secret)
        if self.recorder is not None:  # what was taught before, in a store the console shares with the bot
            try:
                await TaughtWatcher(holder, self.recorder.store).check()
            except Exception as exc:
                self.write(f"(the phrasings taught so far could not be read: {exc.__class__.__name__})\n")

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.fake.close()
        if self.recorder is not None:
            self.recorder.close()

    async def handle(self, line: str) -> bool:
        """Act on one input line; False to stop."""
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if word in ("/quit", "/exit"):
            return False
        if word == "/help":
            self.write(HELP)
        elif word == "/click":
            await self.click(rest)
        elif word == "/dm":
            await self.fake.message(rest, user=USER, channel=DM)
        elif word == "/reply":
            await self.reply(rest)
        elif word == "/home":
            await self.fake.open_home(user=USER)
        elif word == COMMAND:
            await self.fake.slash(COMMAND, rest, user=USER, channel=CHANNEL)
        elif word in FORM_COMMANDS:
            await self.modals.command(word, rest)
        elif word == "/team":
            await self.team(rest)
        elif word == "/digest":
            await self.digest()
        elif word.startswith("/"):
            self.write(f"Unknown command {word}; /help lists them.\n")
        elif line.strip():
            await self.fake.mention(line.strip(), user=USER, channel=CHANNEL)
        self.show_effects()
        return True

    async def team(self, text: str) -> None:
        """`text` as a teammate's reply under the question the bot last posted in #llm-team."""
        asked = [m for m in self.fake.visible_messages(TEAM) if not m.thread_ts]
        if not asked:
            self.write("Nothing was handed to the team yet: click “Ask the team” under a reply that declines.\n")
            return
        await self.fake.thread_reply(text, asked[-1].ts, user=TEAMMATE, channel=TEAM)

    async def digest(self) -> None:
        """The digest of the 7 days to the end of this hour, as the bot would post it (nothing is kept)."""
        if self.recorder is None:
            self.write("There is no question store (STORE_ENABLED=false): the digest is made from it.\n")
            return
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        schedule = Schedule(end.weekday(), end.hour, UTC)
        entry_ids = [e.id for e in self.kb.knowledge.entries]
        digest = await self.recorder.read(lambda store: build_digest(store, schedule, end, entry_ids))
        if not digest.week.questions:
            self.write("No questions in the last 7 days: no digest (the bot posts none for such a week).\n\n")
            return
        self.write("[the weekly digest, as the bot posts it in DIGEST_CHANNEL]\n"
                   + as_text(digest_reply(self.kb, digest, COMMAND)) + "\n")

    async def reply(self, text: str) -> None:
        """`text` as a reply in the last thread the bot answered in, as Slack sends it (also as a mention when it
        names @openllm); says so when the bot says nothing to it."""
        if self.thread is None:
            self.write("There is no thread yet: ask a question first, then /reply in the thread of its answer.\n")
            return
        before = len(self.fake.effects)
        await self.fake.thread_reply(text.replace("@openllm", f"<@{self.fake.bot_user}>"), self.thread, user=USER,
                                     channel=CHANNEL)
        if len(self.fake.effects) == before:
            self.write("(no reply from openllm)\n\n")

    async def click(self, command: str) -> None:
        number, _, option = command.partition(" ")
        target = self.buttons.get(int(number)) if number.isdigit() else None
        if target is None:
            self.write(f"There is no button [{number}]; type /click and a number shown in brackets.\n")
            return
        message, action_id = target
        if message.id == HOME:
            await self.act_in_home(number, message, action_id, option.strip())
            return
        if message.deleted or all(e["action_id"] != action_id for _, e in message.buttons()):
            self.write(f"Button [{number}] is no longer there.\n")
            return
        await self.fake.click(message, action_id, user=USER)

    async def act_in_home(self, number: str, message: Message, action_id: str, option: str) -> None:
        """Click [N] in the App Home, or choose `option` of the menu [N]: only while the Home shown now still has
        that very control (a Home drawn again may give its id to another question's)."""
        view = self.fake.home.get(USER, {})
        control = find_control(message.blocks, action_id)
        if control is None or find_control(view.get("blocks", []), action_id) != control:
            self.write(f"Button [{number}] is no longer there.\n")
            return
        element = control[1]
        if element.get("type") != "static_select":
            await self.fake.act_in_view(view, action_id, user=USER)
            return
        value = _option(element, option)
        if value is None:
            self.write(f"[{number}] is a menu: choose an entry by its id or words of its question, "
                       f"e.g. /click {number} {menu_options(element)[0]['value']}\n")
            return
        await self.fake.act_in_view(view, action_id, user=USER, option=value)

    def show_effects(self) -> None:
        for effect in self.fake.effects[self._seen:]:
            message = effect.message
            if effect.kind == "posted" and message.channel == CHANNEL and message.thread_ts and not message.ephemeral:
                self.thread = message.thread_ts
            self.write(self.render(effect))
        self._seen = len(self.fake.effects)
        self.modals.show_new()

    def render(self, effect: Effect) -> str:
        message = effect.message
        if effect.kind == "deleted":
            return "(openllm removed its private reply)\n\n"
        if effect.kind == "home":
            where = "App Home"
        elif effect.kind == "updated":
            where = "openllm, editing its message"
        elif message.ephemeral:
            where = "openllm, only visible to you"
        elif message.thread_ts:
            where = "openllm, in the thread"
        elif message.channel == TEAM:
            where = "openllm, in #llm-team"
        else:
            where = "openllm, in your DM" if message.channel == DM else "openllm, in the channel"
        lines = [f"[{where}]"]
        for block in message.blocks or [{"type": "section", "text": {"text": message.text}}]:
            lines.extend(self.render_block(block, message))
        return "\n".join(lines) + "\n\n"

    def render_block(self, block: dict[str, Any], message: Message) -> list[str]:
        kind = block.get("type")
        if kind == "header":
            return [f"== {block['text']['text']} =="]
        if kind == "divider":
            return ["-" * 40]
        if kind == "section":
            text = mrkdwn_to_text(block["text"]["text"])
            if block.get("accessory", {}).get("type") == "button":  # as the App Home's Undo
                text += "  " + self.label(block["accessory"], message)
            return [text]
        if kind == "context":
            return ["  " + mrkdwn_to_text(e.get("text", "")) for e in block.get("elements", [])]
        if kind == "actions":
            return ["  ".join(self.label(element, message) for element in block.get("elements", []))]
        return []

    def label(self, element: dict[str, Any], message: Message) -> str:
        """A button or menu as `[N] text`, numbered for /click."""
        number = len(self.buttons) + 1
        self.buttons[number] = (message, element["action_id"])
        if element.get("type") == "static_select":
            return f"[{number}] {element['placeholder']['text']} (/click {number} ENTRY)"
        return f"[{number}] {element['text']['text']}"

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _option(menu: dict[str, Any], wanted: str) -> str | None:
    """The value of the option of `menu` that `wanted` names: its value, else the one option whose text holds it."""
    options = menu_options(menu)
    if any(o["value"] == wanted for o in options):
        return wanted
    holding = [o["value"] for o in options if wanted and wanted.casefold() in o["text"]["text"].casefold()]
    return holding[0] if len(holding) == 1 else None


async def _run(kb: KnowledgeBase, stdin: TextIO, stdout: TextIO, recorder: Recorder | None) -> int:
    console = Console(kb, stdout, recorder)
    await console.start()
    try:
        console.write(HELP + "\n> ")
        for line in stdin:
            if not await console.handle(line):
                break
            console.write("> ")
        console.write("\n")
    finally:
        await console.close()
    return 0


def run_console(kb: KnowledgeBase, stdin: TextIO, stdout: TextIO, recorder: Recorder | None = None) -> int:
    """Read lines from `stdin` until it ends or /quit; questions and votes go to `recorder` when given."""
    return asyncio.run(_run(kb, stdin, stdout, recorder))
