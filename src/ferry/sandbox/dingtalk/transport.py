"""Faults below the app: latency and dropped connections on the API paths."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from ferry.sandbox.dingtalk.state import Sandbox


def _is_api_path(path: str) -> bool:
    return path == "/gettoken" or path.startswith(("/topapi/", "/v1.0/"))


class TransportFaults:
    """Outermost ASGI layer: latency and dropped connections, which need the raw server ``send``.

    A drop aborts the socket before any byte of an answer is written. uvicorn does not hand the
    transport to apps, but its ``send`` is a bound method of the request cycle that owns it; when that
    is not available (another server), the fallback starts an answer and abandons it, which the
    server turns into a closed connection too.
    """

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox
        self.s = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.s.latency_ms:
            low, high = self.s.latency_ms
            await asyncio.sleep(self.s.fault_rng.uniform(low, high) / 1000)
        if self.s.roll("drop"):
            self.s.count(scope["path"].lstrip("/"), "dropped")
            await self._drop(receive, send)
            return
        await self.app(scope, receive, send)

    async def _drop(self, receive: Receive, send: Send) -> None:
        # read the request first: closing a socket with unread input sends a reset instead of a close
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
            # let the server see the connection_lost before the app returns, so it writes nothing
            for _ in range(3):
                await asyncio.sleep(0)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("sandbox fault: drop")
