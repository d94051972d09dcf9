"""Open a local HTML file in headless Chromium and see what it asked the network for and what a script says.

    result = await open_in_chromium(path, "document.querySelector('svg rect').getBBox().width")
    result.value              # the expression's value, as JSON (a Promise is awaited)
    result.requests           # every URL the page requested, in order, the file itself included
    result.external_requests  # those that are not file:, data:, blob: or about: (a self-contained page has none)
    result.failed             # (URL, error) of every load that failed
    result.errors             # uncaught exceptions and console.error messages

`open_in_chromium_sync` is the same for code without a running event loop. Tests get the binary (or a skip
with the reason) from the `chromium` fixture in conftest.py; `find_chromium()` is the lookup it uses.

It talks the Chrome DevTools Protocol over a WebSocket with aiohttp: a fresh Chromium per call, with a new
empty profile and --remote-debugging-port=0 (the port is read from the profile's DevToolsActivePort file);
the browser's whole process group is ended and the profile removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--no-default-browser-check", "--mute-audio",
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
QUIET_SECONDS = 0.1  # after load, the network must be idle this long before the script runs
DRAIN_SECONDS = 3.0  # ...but requests still open after this long are not waited for


class ChromiumUnavailable(Exception):
    """No Chromium binary, or it did not start; the message says why."""


class PageScriptError(Exception):
    """The script threw (or its Promise rejected) in the page."""


@dataclass
class PageResult:
    value: Any
    requests: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def external_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


def find_chromium() -> str | None:
    for name in BINARIES:
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def open_in_chromium_sync(path: Path, script: str, **options: Any) -> PageResult:
    """open_in_chromium for callers without a running event loop."""
    return asyncio.run(open_in_chromium(path, script, **options))


async def open_in_chromium(path: Path, script: str, *, timeout: float = 30.0, binary: str | None = None) -> PageResult:
    """Load `path` in a new headless Chromium, wait for its load event and an idle network, evaluate `script`
    (a JavaScript expression) and return its JSON value with the URLs the page requested."""
    binary = binary or find_chromium()
    if binary is None:
        raise ChromiumUnavailable("no chromium binary on PATH (" + ", ".join(BINARIES) + ") nor /usr/bin/chromium")
    url = Path(path).resolve().as_uri()
    workdir = Path(tempfile.mkdtemp(prefix="openllm-bot-chromium-"))
    profile = workdir / "profile"
    profile.mkdir()
    log = workdir / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        async with asyncio.timeout(timeout):
            endpoint = await _devtools_endpoint(process, profile, log)
            async with aiohttp.ClientSession() as http, http.ws_connect(endpoint, max_msg_size=0) as ws:
                return await _Page(_Cdp(ws)).run(url, script)
    except TimeoutError:
        raise TimeoutError(f"Chromium did not load {url} and evaluate the script within {timeout}s; "
                           f"its stderr ends: {_tail(log)}") from None
    finally:
        _end(process)
        shutil.rmtree(workdir, ignore_errors=True)


async def _devtools_endpoint(process: subprocess.Popen[bytes], profile: Path, log: Path) -> str:
    """The browser's WebSocket URL, from DevToolsActivePort (line 1: port, line 2: path) once Chromium writes it."""
    active = profile / "DevToolsActivePort"
    while True:
        if process.poll() is not None:
            raise ChromiumUnavailable(f"chromium exited ({process.returncode}) before listening: {_tail(log)}")
        with contextlib.suppress(OSError):
            lines = active.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.02)


def _tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        return " | ".join(lines[-5:]) or "(nothing)"
    return "(unreadable)"


def _end(process: subprocess.Popen[bytes]) -> None:
    """End the browser and its helpers: its own process group (start_new_session), TERM then KILL."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Helpers of a group whose leader is gone.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class _Cdp:
    """Commands and events over one DevTools WebSocket (flattened sessions: `sessionId` on each message)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.reader = asyncio.create_task(self._read())

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[message["id"]] = future
        await self.ws.send_str(json.dumps(message))
        return await future

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if "id" in data:
                    future = self.pending.pop(data["id"], None)
                    if future is None or future.done():
                        continue
                    if "error" in data:
                        future.set_exception(_CdpError(data["error"].get("message", str(data["error"]))))
                    else:
                        future.set_result(data.get("result", {}))
                else:
                    for listener in self.listeners:
                        listener(data.get("method", ""), data.get("params", {}))
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the DevTools connection closed"))

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class _CdpError(Exception):
    pass


class _Page:
    def __init__(self, cdp: _Cdp) -> None:
        self.cdp = cdp
        self.session: str | None = None
        self.result = PageResult(value=None)
        self.urls: dict[str, str] = {}  # requestId -> URL
        self.open: set[str] = set()
        self.last_activity = time.monotonic()
        cdp.listeners.append(self._event)

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            request_id, url = params["requestId"], params["request"]["url"]
            self.urls[request_id] = url
            self.open.add(request_id)
            self.result.requests.append(url)
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.open.discard(params["requestId"])
            if method == "Network.loadingFailed":
                error = params.get("blockedReason") or params.get("errorText", "failed")
                self.result.failed.append((self.urls.get(params["requestId"], "?"), error))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.result.errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.result.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        else:
            return
        self.last_activity = time.monotonic()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict:
        return await self.cdp.send(method, params, self.session)

    async def run(self, url: str, script: str) -> PageResult:
        try:
            target = await self.cdp.send("Target.createTarget", {"url": "about:blank"})
            attached = await self.cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
            self.session = attached["sessionId"]
            for domain in ("Network", "Page", "Runtime"):
                await self.send(f"{domain}.enable")
            navigated = await self.send("Page.navigate", {"url": url})
            if navigated.get("errorText"):
                raise ChromiumUnavailable(f"Chromium could not open {url}: {navigated['errorText']}")
            await self._loaded()
            await self._idle()
            evaluated = await self.send("Runtime.evaluate", {"expression": script, "returnByValue": True,
                                                             "awaitPromise": True})
            if "exceptionDetails" in evaluated:
                details = evaluated["exceptionDetails"]
                described = details.get("exception", {}).get("description") or details.get("text")
                raise PageScriptError(f"{script!r} threw: {described}")
            self.result.value = evaluated.get("result", {}).get("value")
            return self.result
        finally:
            await self.cdp.close()

    async def _loaded(self) -> None:
        """Until the new page has fired its load event (readyState complete); the about:blank before doesn't count."""
        probe = "document.readyState === 'complete' && location.href !== 'about:blank'"
        while True:
            with contextlib.suppress(_CdpError):  # "Execution context was destroyed" while navigating
                state = await self.send("Runtime.evaluate", {"expression": probe, "returnByValue": True})
                if state.get("result", {}).get("value") is True:
                    return
            await asyncio.sleep(0.02)

    async def _idle(self) -> None:
        """Until no request is open and nothing happened for QUIET_SECONDS (giving up on open ones after a while)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            now = time.monotonic()
            if now - self.last_activity >= QUIET_SECONDS and (not self.open or now > deadline):
                return
            await asyncio.sleep(0.02)
