"""Stream mode (reference §6.3): the gateway that hands out connections, and the WebSocket that pushes
events, pings and disconnects, and records what the client answers.

Wire protocol, as the official SDKs speak it:

1. ``POST /v1.0/gateway/connections/open`` ``{"clientId", "clientSecret", "subscriptions", "ua", "localIp"}``
   → ``{"endpoint": "ws://…/gateway/connect", "ticket": "…"}``; wrong credentials → 400
   ``invalidClientIdOrSecret`` (the real answer is unconfirmed; the token API's is used).
2. The client opens ``{endpoint}?ticket={ticket}``; a ticket serves one connection. An unknown ticket is
   refused at the handshake (HTTP 403).
3. Server frames: ``{"specVersion": "1.0", "type": "EVENT"|"SYSTEM", "headers": {…}, "data": "<JSON string>"}``.
   EVENT headers carry ``topic``, ``messageId``, ``contentType``, ``time``, ``eventId``, ``eventType``,
   ``eventCorpId``, ``eventBornTime``, ``eventUnifiedAppId``; ``data`` holds the business fields
   (``processInstanceId``, ``processCode``, ``type``, ``result``, …) without the HTTP push's
   ``EventType``/``CorpId``/``BizId`` wrapper. SYSTEM topics: ``ping`` and ``disconnect``.
4. The client answers on the same socket ``{"code": 200, "headers": {"contentType", "messageId"},
   "message": "OK", "data": "…"}``: for an event, ``data`` is ``{"status": "SUCCESS"|"LATER"}``; for a
   ping, the ping's own ``data`` echoed.

An event is sent to one connected client. Events not yet acknowledged with SUCCESS (no client, a
dropped socket, ``LATER``) are kept and sent again to the next connection, once any client has opened
a connection since the last reset (before that, nobody subscribed).

Admin API: ``GET /_sandbox/stream`` (connections, acks, pongs, unacknowledged events),
``POST /_sandbox/stream/ping`` (a SYSTEM ping to every connection), ``POST /_sandbox/stream/disconnect``
``{"mode": "drop"|"system"}`` (close every socket abruptly, or send the SYSTEM ``disconnect`` first).

Imports nothing of Ferry's outside :mod:`ferry.sandbox`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ferry.sandbox.dingtalk.config import SandboxConfig
from ferry.sandbox.dingtalk.events import Event
from ferry.sandbox.dingtalk.state import Sandbox

OPEN_API = "v1.0/gateway/connections/open"
CONNECT_PATH = "/gateway/connect"
#: the HTTP push body's wrapper fields; Stream moves them to the frame headers
_PUSH_ONLY = ("EventType", "EventTime", "CorpId", "BizId", "eventId", "corpId")


def _id() -> str:
    return secrets.token_hex(12)


@dataclass
class Session:
    connection_id: str
    websocket: WebSocket
    subscriptions: list[Any]
    opened_ms: int


@dataclass
class StreamHub:
    """Connections, tickets and the record of what went over the sockets."""

    tickets: dict[str, list[Any]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    subscribed: bool = False
    #: event frames sent (or waiting to be) and not yet acknowledged with SUCCESS, by messageId
    unacked: dict[str, tuple[Event, dict[str, Any]]] = field(default_factory=dict)
    acks: list[dict[str, Any]] = field(default_factory=list)
    pongs: list[dict[str, Any]] = field(default_factory=list)
    pings: dict[str, str] = field(default_factory=dict)
    connections_opened: int = 0

    def clear(self) -> None:
        self.tickets.clear()
        self.subscribed = False
        self.unacked.clear()
        self.acks.clear()
        self.pongs.clear()
        self.pings.clear()
        self.connections_opened = 0

    def view(self) -> dict[str, Any]:
        return {
            "connections": [
                {"connection_id": s.connection_id, "subscriptions": s.subscriptions, "opened_ms": s.opened_ms}
                for s in self.sessions.values()
            ],
            "connections_opened": self.connections_opened,
            "acks": self.acks,
            "pongs": self.pongs,
            "unacked": [
                {"message_id": mid, "event_id": event.event_id} for mid, (event, _) in self.unacked.items()
            ],
        }


def event_frame(event: Event, app_key: str, now_ms: int) -> dict[str, Any]:
    """The Stream frame for one event; a fresh ``messageId`` per delivery, the same ``eventId``."""
    data = {k: v for k, v in event.payload.items() if k not in _PUSH_ONLY}
    return {
        "specVersion": "1.0",
        "type": "EVENT",
        "headers": {
            "topic": "*",
            "messageId": _id(),
            "contentType": "application/json",
            "time": str(now_ms),
            "eventId": event.event_id,
            "eventType": event.event_type,
            "eventCorpId": event.payload.get("CorpId"),
            "eventBornTime": str(event.payload.get("EventTime", now_ms)),
            "eventUnifiedAppId": app_key,
        },
        "data": json.dumps(data, ensure_ascii=False),
    }


def system_frame(topic: str, data: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        "specVersion": "1.0",
        "type": "SYSTEM",
        "headers": {
            "topic": topic,
            "messageId": _id(),
            "contentType": "application/json",
            "time": str(now_ms),
        },
        "data": json.dumps(data),
    }


class StreamSandbox(Sandbox):
    """The sandbox with Stream mode: every event delivery also goes to the stream clients."""

    def __init__(self, config: SandboxConfig) -> None:
        self.stream = StreamHub()
        super().__init__(config)

    def reset(self, seed_instances: int | None = None, random_seed: int | None = None) -> None:
        super().reset(seed_instances, random_seed)
        self.stream.clear()

    async def deliver(self, event: Event) -> dict[str, Any] | None:
        record = await super().deliver(event)
        if self.stream.subscribed:
            frame = event_frame(event, self.config.app_key, self.clock.now_ms())
            delivery: dict[str, Any] = {
                "channel": "stream",
                "message_id": frame["headers"]["messageId"],
                "at_ms": self.clock.now_ms(),
                "ok": None,
            }
            event.deliveries.append(delivery)
            self.stream.unacked[frame["headers"]["messageId"]] = (event, frame)
            await self._send_event(frame)
        return record

    async def _send_event(self, frame: dict[str, Any]) -> bool:
        """Send to one connected client; False when none is connected (the frame waits)."""
        for session in list(self.stream.sessions.values()):
            try:
                await session.websocket.send_text(json.dumps(frame, ensure_ascii=False))
                return True
            except Exception:
                # gone under us: the next one, or wait for a reconnect
                self.stream.sessions.pop(session.connection_id, None)
        return False

    # ----------------------------------------------------------------- gateway
    async def open_connection(self, request: Request) -> Response:
        self.count(OPEN_API, "requests")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse(
                {"code": "invalidParameter", "message": "请求体不是合法的JSON"}, status_code=400
            )
        if body.get("clientId") != self.config.app_key or body.get("clientSecret") != self.config.app_secret:
            self.count(OPEN_API, "bad_credentials")
            return JSONResponse(
                {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"},
                status_code=400,
            )
        subscriptions = body.get("subscriptions")
        if not isinstance(subscriptions, list) or not subscriptions:
            return JSONResponse(
                {"code": "invalidParameter", "message": "subscriptions不能为空"}, status_code=400
            )
        ticket = secrets.token_hex(16)
        self.stream.tickets[ticket] = subscriptions
        self.stream.subscribed = True
        self.count(OPEN_API, "ok")
        scheme = "wss" if request.url.scheme == "https" else "ws"
        return JSONResponse({"endpoint": f"{scheme}://{request.url.netloc}{CONNECT_PATH}", "ticket": ticket})

    async def connect(self, websocket: WebSocket) -> None:
        ticket = websocket.query_params.get("ticket", "")
        subscriptions = self.stream.tickets.pop(ticket, None)
        if subscriptions is None:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        session = Session(_id(), websocket, subscriptions, self.clock.now_ms())
        self.stream.sessions[session.connection_id] = session
        self.stream.connections_opened += 1
        try:
            # what nobody acknowledged yet goes to the new connection
            for _, frame in list(self.stream.unacked.values()):
                await websocket.send_text(json.dumps(frame, ensure_ascii=False))
            while True:
                self._answer(session, await websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            self.stream.sessions.pop(session.connection_id, None)

    def _answer(self, session: Session, text: str) -> None:
        try:
            reply = json.loads(text)
            message_id = str(reply["headers"]["messageId"])
        except (ValueError, KeyError, TypeError):
            self.stream.acks.append(
                {"connection_id": session.connection_id, "error": "not an ack", "raw": text}
            )
            return
        entry: dict[str, Any] = {
            "connection_id": session.connection_id,
            "message_id": message_id,
            "code": reply.get("code"),
            "message": reply.get("message"),
            "data": reply.get("data"),
            "at_ms": self.clock.now_ms(),
        }
        if message_id in self.stream.pings:
            entry["echoed"] = reply.get("data") == self.stream.pings.pop(message_id)
            self.stream.pongs.append(entry)
            return
        pending = self.stream.unacked.get(message_id)
        status = None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            status = json.loads(reply.get("data") or "{}").get("status")
        entry["status"] = status
        if pending is not None:
            entry["event_id"] = pending[0].event_id
            ok = reply.get("code") == 200 and status == "SUCCESS"
            for delivery in pending[0].deliveries:
                if delivery.get("message_id") == message_id:
                    delivery["ok"] = ok
            if ok:
                del self.stream.unacked[message_id]
        self.stream.acks.append(entry)

    # ----------------------------------------------------------------- admin
    async def admin_view(self, request: Request) -> Response:
        return JSONResponse(self.stream.view())

    async def admin_ping(self, request: Request) -> Response:
        sent = []
        for session in list(self.stream.sessions.values()):
            frame = system_frame("ping", {"opaque": secrets.token_hex(8)}, self.clock.now_ms())
            self.stream.pings[frame["headers"]["messageId"]] = frame["data"]
            await session.websocket.send_text(json.dumps(frame))
            sent.append(frame["headers"]["messageId"])
        return JSONResponse({"sent": sent})

    async def admin_disconnect(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        mode = body.get("mode", "drop") if isinstance(body, dict) else "drop"
        closed = []
        for session in list(self.stream.sessions.values()):
            if mode == "system":
                frame = system_frame("disconnect", {"reason": "sandbox"}, self.clock.now_ms())
                with contextlib.suppress(Exception):
                    await session.websocket.send_text(json.dumps(frame))
            else:
                with contextlib.suppress(Exception):
                    await session.websocket.close(code=1011)
            self.stream.sessions.pop(session.connection_id, None)
            closed.append(session.connection_id)
        return JSONResponse({"closed": closed, "mode": mode})


def stream_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The gateway, WebSocket and admin routes when ``sandbox`` speaks Stream mode, else none."""
    if not isinstance(sandbox, StreamSandbox):
        return []
    return [
        Route("/v1.0/gateway/connections/open", sandbox.open_connection, methods=["POST"]),
        WebSocketRoute(CONNECT_PATH, sandbox.connect),
        Route("/_sandbox/stream", sandbox.admin_view, methods=["GET"]),
        Route("/_sandbox/stream/ping", sandbox.admin_ping, methods=["POST"]),
        Route("/_sandbox/stream/disconnect", sandbox.admin_disconnect, methods=["POST"]),
    ]


__all__ = ["CONNECT_PATH", "StreamHub", "StreamSandbox", "event_frame", "stream_routes", "system_frame"]
