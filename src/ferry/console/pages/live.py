"""Live updates: ``GET /live``, a server-sent event stream that says when the ledger changed.

The server looks at a cheap signature of the ledger (:func:`ferry.store.console_queries.ledger_signature`,
a few primary-key and index lookups) every second, shared by every open stream of the app, and sends an
``event: ledger`` only when it differs from what the page last saw. A page names the signature it was
rendered from (``/live?since=...``), so a change between rendering and connecting is not lost; a
reconnecting browser sends the last one it got (``Last-Event-ID``).

A part that moves listens to it with htmx's SSE extension and re-fetches itself::

    <div hx-get="/overview/live" hx-trigger="sse:ledger, poll" sse-connect="/live?since={{ live }}"
         data-live-poll="10">

``static/app.js`` fires ``poll`` every ``data-live-poll`` seconds only while the stream is not open
(a proxy that buffers it, a lost connection): polling is the fallback, not a second refresh.
Streams end when the service stops (:func:`stop_streams`), so a stop never waits for an open page.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from ferry.console.auth import User, current_user
from ferry.console.pages import Page
from ferry.console.web import state
from ferry.store import console_queries as q

router = APIRouter()

#: how often the ledger is looked at, in seconds (one query per app, however many pages are open)
POLL_S = 1.0
#: a comment line this often keeps proxies from closing a quiet stream
PING_S = 15


class _Watch:
    """The ledger's signature, read at most once per ``POLL_S`` for all streams of one app."""

    def __init__(self) -> None:
        self.value = ""
        self.read_at = -1e9
        self.lock = asyncio.Lock()
        self.stop = threading.Event()

    async def signature(self, request: Request) -> str:
        async with self.lock:
            if time.monotonic() - self.read_at >= POLL_S * 0.9:
                self.value = await asyncio.to_thread(q.ledger_signature, state(request).ledger)
                self.read_at = time.monotonic()
            return self.value


def _watch(app: FastAPI) -> _Watch:
    watch: _Watch | None = getattr(app.state, "live_watch", None)
    if watch is None:
        watch = app.state.live_watch = _Watch()
    return watch


def stop_streams(app: FastAPI) -> None:
    """End every open stream within a second (the service calls this before the HTTP server stops)."""
    _watch(app).stop.set()


async def signature(request: Request) -> str:
    """The signature a page is rendered from, for its ``sse-connect="/live?since=..."``."""
    return await _watch(request.app).signature(request)


@router.get("/live", include_in_schema=False)
async def live(
    request: Request, user: Annotated[User, Depends(current_user)], since: str = ""
) -> EventSourceResponse:
    watch = _watch(request.app)
    seen = request.headers.get("last-event-id") or since[:100]

    async def changes() -> AsyncIterator[ServerSentEvent]:
        last = seen
        while not watch.stop.is_set():
            now = await watch.signature(request)
            if now != last:
                last = now
                yield ServerSentEvent(data=now, event="ledger", id=now)
            await asyncio.sleep(POLL_S)

    return EventSourceResponse(changes(), ping=PING_S, headers={"Cache-Control": "no-store"})


PAGE = Page(name="live", title="Live", router=router)

__all__ = ["PAGE", "POLL_S", "signature", "stop_streams"]
