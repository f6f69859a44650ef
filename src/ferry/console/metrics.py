"""``GET /metrics``: Prometheus' text format, this process's counters and the ledger's readings.

``ferry serve`` mounts it through ``create_app(..., routers=[metrics.router(ledger, connections,
schemes)])``. Making the router instruments the ledger (its API calls feed the counters), the rate
limiters and the dispatcher's outcomes. Like
``/healthz`` it needs no login: it shows counts, names of schemes, connections and APIs, never a secret
or a record id; bind the console to a private address or scrape it through a proxy that authenticates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ferry.observe.metrics import exposition_registry, instrument
from ferry.observe.usage import ConnectionInfo, connection_infos

if TYPE_CHECKING:
    from ferry.store import Ledger


def router(
    ledger: Ledger,
    connections: Mapping[str, Any] | None = None,
    schemes: Iterable[Any] = (),
    *,
    path: str = "/metrics",
) -> APIRouter:
    """The ``/metrics`` route over ``ledger``. ``connections`` are the resolved connections (or
    :class:`~ferry.observe.usage.ConnectionInfo` by name): they give the quota allowances."""
    schemes = list(schemes)
    infos = {
        name: conn if isinstance(conn, ConnectionInfo) else connection_infos({name: conn}, schemes)[name]
        for name, conn in (connections or {}).items()
    }
    instrument(ledger)
    registry = exposition_registry(ledger, infos)
    api = APIRouter()

    @api.get(path, include_in_schema=False)
    async def metrics() -> Response:
        # the ledger's readings are blocking queries: off the event loop
        body = await asyncio.to_thread(generate_latest, registry)
        # the classic text format every Prometheus (2.x and 3.x) reads; our names need no UTF-8 escaping
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return api


__all__ = ["router"]
