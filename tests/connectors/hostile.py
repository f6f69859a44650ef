"""A hostile HTTP server on loopback: it answers whatever a test tells it to, as slowly or as big as asked.

A raw ASGI app (no framework between the test and the wire) served by uvicorn on a thread. A test
queues :class:`Reply` values per path; each request takes the next one (the last one repeats). Every
request is recorded (:class:`Seen`), so a test can check what the client sent, and to whom.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CHUNK = 64 * 1024


@dataclass
class Reply:
    """One answer. ``body``: bytes, text, or anything else sent as JSON."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: generate a body of this many bytes of ``fill`` instead (streamed; never held whole)
    size: int = 0
    fill: bytes = b" "
    #: split the body into chunks of this size, sleeping ``delay_s`` before each
    chunk: int = DEFAULT_CHUNK
    delay_s: float = 0.0
    #: send no Content-Length (chunked transfer)
    chunked: bool = False
    #: sleep before the status line
    wait_s: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (a few KiB for many MiB)."""
    out = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    piece = bytes(1024 * 1024)
    parts = [out.compress(piece) for _ in range(size // len(piece))]
    parts.append(out.flush())
    return b"".join(parts)


def gzipped(value: Any) -> bytes:
    return gzip.compress(json.dumps(value).encode())


@dataclass
class Hostile:
    """A running hostile server: its URL and its state."""

    url: str
    state: HostileState


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HostileState:
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def reset(self) -> None:
        self.replies.clear()
        self.seen.clear()

    def on(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with these replies in turn (the last one repeats)."""
        self.replies[path] = list(replies)

    def next_reply(self, path: str) -> Reply:
        queue = self.replies.get(path)
        if not queue:
            return Reply(404, {"message": f"nothing planned for {path}"})
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


class HostileApp:
    """The ASGI app."""

    def __init__(self, state: HostileState) -> None:
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.state.seen.append(
            Seen(
                scope["method"], path, scope.get("query_string", b"").decode("latin-1"), headers, bytes(body)
            )
        )
        reply = self.state.next_reply(path)
        if reply.wait_s:
            await asyncio.sleep(reply.wait_s)
        out_headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers.items()]
        names = {k for k, _ in out_headers}
        if b"content-type" not in names:
            out_headers.append((b"content-type", b"application/json"))
        total = reply.size or len(reply.payload())
        if not reply.chunked and b"content-length" not in names:
            out_headers.append((b"content-length", str(total).encode()))
        gone = asyncio.Event()

        async def watch() -> None:
            # the client hung up (it refused the answer): stop streaming into a closed socket
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": out_headers})
            for piece in _pieces(reply):
                if reply.delay_s:
                    await asyncio.sleep(reply.delay_s)
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()


def _pieces(reply: Reply) -> Iterator[bytes]:
    if reply.size:
        block = (reply.fill * (reply.chunk // max(len(reply.fill), 1) + 1))[: reply.chunk]
        left = reply.size
        while left > 0:
            n = min(left, len(block))
            yield block[:n]
            left -= n
        return
    data = reply.payload()
    for i in range(0, len(data), max(reply.chunk, 1)):
        yield data[i : i + reply.chunk]
