"""DingTalk Stream mode (reference §6.3): events over a WebSocket Ferry opens, so no public URL is needed.

1. ``POST {api_base}/v1.0/gateway/connections/open`` with the app's ``clientId``/``clientSecret`` and the
   subscriptions (``EVENT`` ``*``) gives ``{endpoint, ticket}``;
2. the client connects to ``{endpoint}?ticket=…`` and reads frames:
   - ``SYSTEM`` ``ping``: answered with code 200 and the ping's own ``data``;
   - ``SYSTEM`` ``disconnect``: the server is going away; close and connect again at once;
   - ``EVENT``: the headers (``eventId``, ``eventType``, …) merged with the decoded ``data`` go to the
     :class:`~ferry.connectors.dingtalk.events.EventIntake` (which de-duplicates on ``eventId`` and
     runs the handler in the background, a bounded number at once), then the frame is acknowledged
     with ``{"status": "SUCCESS"}``, or ``LATER`` when the intake is full or failed, within
     DingTalk's 3 s; a frame larger than :data:`MAX_FRAME_BYTES` closes the socket (and reconnects);
3. a closed or failed connection is opened again after a back-off (1, 2, 5, 10, 30 s by default,
   back to the start once a connection has worked). Wrong credentials stop the client with
   :class:`~ferry.connectors.errors.GiveUp`: retrying cannot fix them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import platform
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ferry.connectors.dingtalk.events import EventIntake, Verdict
from ferry.connectors.errors import ConnectorError, GiveUp, RetryLater
from ferry.connectors.transport import Transport, TransportLimits
from ferry.observe.redact import redact, register_secret

log = logging.getLogger("ferry.connectors.dingtalk.stream")

OPEN_PATH = "/v1.0/gateway/connections/open"
DEFAULT_BACKOFF_S: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
EVENT_SUBSCRIPTION = {"type": "EVENT", "topic": "*"}
#: the largest WebSocket frame read (DingTalk's event frames are a few KiB)
MAX_FRAME_BYTES = 1024 * 1024
#: the largest gateway answer read (an endpoint and a ticket)
MAX_GATEWAY_ANSWER_BYTES = 64 * 1024


def ack_frame(message_id: str, data: str) -> str:
    """The answer to one frame, in the SDKs' shape."""
    return json.dumps(
        {
            "code": 200,
            "headers": {"contentType": "application/json", "messageId": message_id},
            "message": "OK",
            "data": data,
        }
    )


def event_ack(message_id: str, status: str = "SUCCESS") -> str:
    message = "success" if status == "SUCCESS" else "later"
    return ack_frame(message_id, json.dumps({"status": status, "message": message}))


class StreamClient:
    """One app's Stream connection; ``await client.run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        intake: EventIntake,
        *,
        api_base: str = "https://api.dingtalk.com",
        subscriptions: Sequence[Mapping[str, str]] = (EVENT_SUBSCRIPTION,),
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        timeout_s: float = 10.0,
        http: httpx.AsyncClient | None = None,
        ping_interval_s: float | None = 60.0,
    ) -> None:
        self.app_key = app_key
        self._secret = app_secret
        register_secret(app_secret)
        self.intake = intake
        self.api_base = api_base.rstrip("/")
        self.subscriptions = [dict(s) for s in subscriptions]
        self.backoff_s = tuple(backoff_s) or (1.0,)
        self.timeout_s = timeout_s
        self._http = http
        self.ping_interval_s = ping_interval_s
        #: set while a socket is open
        self.connected = asyncio.Event()
        #: what happened, for logs and tests
        self.stats: dict[str, int] = {
            "connections": 0,
            "events": 0,
            "pings": 0,
            "disconnects": 0,
            "failures": 0,
            "busy": 0,
        }

    def __repr__(self) -> str:
        return f"StreamClient(app_key={self.app_key!r}, api_base={self.api_base!r})"

    async def open_connection(self) -> tuple[str, str]:
        """Ask the gateway for an endpoint and a one-time ticket."""
        body = {
            "clientId": self.app_key,
            "clientSecret": self._secret,
            "subscriptions": self.subscriptions,
            "ua": f"ferry-stream/1.0 Python/{platform.python_version()}",
            "localIp": "",
        }
        transport = Transport(
            system="DingTalk stream",
            limits=TransportLimits(deadline_s=self.timeout_s, max_response_bytes=MAX_GATEWAY_ANSWER_BYTES),
            http=self._http,
        )
        try:
            # opening a connection changes nothing at DingTalk: safe to send again
            response = await transport.request(
                "POST", f"{self.api_base}{OPEN_PATH}", api=OPEN_PATH, idempotent=True, json=body
            )
        finally:
            await transport.aclose()
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        status = response.status
        if status >= 500 or status == 429:
            raise RetryLater(f"DingTalk stream: gateway answered HTTP {status}", api=OPEN_PATH)
        if status >= 400 or not isinstance(answer, dict):
            code = answer.get("code") if isinstance(answer, dict) else None
            message = answer.get("message") if isinstance(answer, dict) else None
            raise GiveUp(
                redact(f"DingTalk stream: HTTP {status} {str(message or '')[:200]}".rstrip()),
                code=redact(str(code or status))[:64],
                api=OPEN_PATH,
            )
        endpoint, ticket = answer.get("endpoint"), answer.get("ticket")
        if not isinstance(endpoint, str) or not endpoint or not isinstance(ticket, str) or not ticket:
            raise RetryLater("DingTalk stream: gateway answer without endpoint or ticket", api=OPEN_PATH)
        if not endpoint.startswith(("ws://", "wss://")):
            raise RetryLater("DingTalk stream: the gateway's endpoint is not a WebSocket URL", api=OPEN_PATH)
        # the ticket is a one-time credential in the socket's URL, which websockets logs at DEBUG
        register_secret(ticket, transient=True)
        return endpoint, ticket

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Connect, serve frames, reconnect with back-off; return when ``stop`` is set."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            worked = False
            try:
                endpoint, ticket = await self.open_connection()
                uri = f"{endpoint}?ticket={urllib.parse.quote_plus(ticket)}"
                worked = await self._until_stopped(self._session(uri), stop)
            except GiveUp:
                raise
            except (ConnectorError, WebSocketException, OSError, TimeoutError) as exc:
                self.stats["failures"] += 1
                log.warning("DingTalk stream: %s: %s", type(exc).__name__, exc)
            finally:
                self.connected.clear()
            if stop.is_set():
                return
            failures = 0 if worked else failures + 1
            delay = 0.0 if worked else self.backoff_s[min(failures - 1, len(self.backoff_s) - 1)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay or 0.01)

    async def _until_stopped(self, session: Any, stop: asyncio.Event) -> bool:
        task: asyncio.Task[bool] = asyncio.ensure_future(session)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return True
        return task.result()

    async def _session(self, uri: str) -> bool:
        """Serve one connection; True when it was established (the back-off starts over)."""
        async with connect(
            uri, ping_interval=self.ping_interval_s, open_timeout=self.timeout_s, max_size=MAX_FRAME_BYTES
        ) as ws:
            self.stats["connections"] += 1
            self.connected.set()
            log.info("DingTalk stream connected")
            with contextlib.suppress(WebSocketException):
                async for raw in ws:
                    if not await self._frame(ws, raw):
                        self.stats["disconnects"] += 1
                        break
            return True

    async def _frame(self, ws: ClientConnection, raw: str | bytes) -> bool:
        """Handle one frame; False when the server asked us to go away."""
        try:
            frame = json.loads(raw)
            headers = frame.get("headers") or {}
            kind = frame.get("type")
            if not isinstance(headers, dict):
                raise ValueError("headers is not an object")
        except (ValueError, AttributeError, RecursionError):
            log.warning("DingTalk stream: a frame that is not a JSON object")
            return True
        message_id = str(headers.get("messageId") or "")[:128]
        raw_data = frame.get("data")
        try:
            data = raw_data if isinstance(raw_data, str) else json.dumps(raw_data or {})
        except (TypeError, ValueError, RecursionError):
            data = "{}"
        if kind == "SYSTEM":
            topic = headers.get("topic")
            if topic == "ping":
                self.stats["pings"] += 1
                await ws.send(ack_frame(message_id, data))
                return True
            if topic == "disconnect":
                return False
            log.info("DingTalk stream: system topic %s ignored", topic)
            return True
        if kind == "EVENT":
            self.stats["events"] += 1
            status = "SUCCESS"
            try:
                decoded = json.loads(data) if data else {}
                event = {**headers, **(decoded if isinstance(decoded, dict) else {})}
                if await self.intake.accept(event) is Verdict.BUSY:
                    # too many handlers in flight: DingTalk delivers it again later
                    self.stats["busy"] += 1
                    status = "LATER"
            except Exception:
                log.exception(
                    "DingTalk stream: event %s could not be taken", str(headers.get("eventId"))[:64]
                )
                status = "LATER"
            await ws.send(event_ack(message_id, status))
            return True
        if kind == "CALLBACK":
            # robot and card callbacks are not subscribed; say so rather than leave them hanging
            await ws.send(ack_frame(message_id, data))
        return True


__all__ = [
    "DEFAULT_BACKOFF_S",
    "EVENT_SUBSCRIPTION",
    "MAX_FRAME_BYTES",
    "StreamClient",
    "ack_frame",
    "event_ack",
]
