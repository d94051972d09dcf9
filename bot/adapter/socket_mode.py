"""Slack in Socket Mode: Bolt's handler, with each envelope's payload checked as over HTTP (bot/request.py) before
Bolt sees it. One that is not a Slack payload, or lacks what its kind must carry, is acknowledged (so that Slack does
not send it again) and dropped with a warning."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from ..metrics import OTHER, Metrics, arrived, request_kind
from ..request import lacking, request_name, slack_shaped

log = logging.getLogger(__name__)


def refusal(envelope: dict[str, Any]) -> str | None:
    """Why the bot cannot act on the envelope's payload, or None."""
    payload = envelope.get("payload")
    if not isinstance(payload, dict) or not slack_shaped(payload):
        return f"its payload is not a Slack payload ({type(payload).__name__})"
    missing = lacking(payload)
    return None if missing is None else f"it lacks what Slack always sends ({missing})"


class CheckedSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, handing Bolt only the envelopes whose payload it can act on; each envelope received
    and acknowledged is counted in `metrics` when given."""

    def __init__(self, app: AsyncApp, metrics: Metrics | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.metrics = metrics
        # Envelopes come to `_envelope` as they arrive, instead of to Bolt as requests (which the client builds
        # from any envelope, and fails on with a traceback and no acknowledgement when its payload is not an
        # object).
        self.client.socket_mode_request_listeners.remove(self.handle)  # type: ignore[arg-type]
        self.client.message_listeners.append(self._envelope)

    async def _envelope(self, client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        envelope_id = message.get("envelope_id")
        if not envelope_id or message.get("type") in ("hello", "disconnect"):
            return  # the connection's own messages, which the client handles
        arrived()  # a reply's latency runs from here (bot/metrics.py)
        payload = message.get("payload")
        kind = request_kind(payload) if isinstance(payload, dict) else (OTHER, OTHER)
        if self.metrics is not None:
            self.metrics.received(kind)
        if (why := refusal(message)) is None:
            request = SocketModeRequest.from_dict(message)
            if request is not None:
                # Bolt's `handle`, knowing whether the envelope was acknowledged (Bolt does so only on a 200).
                started = time.time()
                response = await run_async_bolt_app(self.app, request)
                await send_async_response(client, request, response, started)
                if self.metrics is not None and response.status == 200:
                    self.metrics.acknowledged(kind)
                return
            why = "it is not an envelope"
        log.warning("acknowledged and dropped the Socket Mode envelope %s of %s: %s", envelope_id,
                    request_name(payload) if isinstance(payload, dict) else message.get("type"), why)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=str(envelope_id)))
        if self.metrics is not None:
            self.metrics.acknowledged(kind)
