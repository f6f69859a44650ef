"""What an :class:`~ferry.engine.runner.Engine` holds, and the connectors it builds and keeps.

:class:`Wiring` is the engine's first layer: its ledger, connections, lease owner and pre-flight cache,
and the source, target and lookup connectors of each scheme, built once per event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ferry.connectors.base import Check, Querier, Source, Target
from ferry.engine.preflight import resolve_connection
from ferry.engine.registry import BuildContext, ConnectionLike, build_querier, build_source, build_target
from ferry.scheme import Scheme
from ferry.store import Ledger, facade

log = logging.getLogger("ferry.engine")


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Wiring:
    """The engine's ledger, connections and lease owner, and the connectors it builds from them."""

    def __init__(
        self,
        ledger: Ledger,
        connections: Mapping[str, ConnectionLike],
        *,
        owner: str | None = None,
        lease_seconds: float = 300.0,
        reconcile: bool | None = None,
    ) -> None:
        self.ledger = ledger
        #: the ledger's async facade: every ledger call of the engine hops to its bounded pool
        self.store = facade(ledger)
        if reconcile is None:
            # for the chaos test's negative control only: never set this in production
            reconcile = os.environ.get("FERRY_UNSAFE_NO_RECONCILE") != "1"
        if not reconcile:
            log.warning("reconciliation is OFF: writes with an unknown outcome are resent blindly")
        self.reconcile = reconcile
        self.connections = connections
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self._open: dict[tuple[str, ...], Any] = {}
        #: (scheme, connection) -> (monotonic time, checks) of the last passing pre-flight
        self.checked: dict[tuple[str, str], tuple[float, list[Check]]] = {}
        #: every check of the latest :meth:`check`, passing or not (for ``ferry check``)
        self.last_checks: list[Check] = []

    def _connection(self, scheme: Scheme, side: str, name: str | None) -> ConnectionLike:
        return resolve_connection(self.connections, scheme, side, name)

    def build(self, scheme: Scheme, *, source: bool = True, target: bool = True) -> None:
        """Build (and keep) the connectors a pass uses: their settings and params are checked now."""
        if source:
            self._source(scheme)
        if target:
            self._target(scheme)
            self._queriers(scheme)

    # Connectors live as long as the engine, per event loop (their HTTP clients belong to one): a
    # Kingdee session, a DingTalk token and a rate limiter's state carry over from one pass to the next.

    def _cached(self, key: tuple[str, str], build: Callable[[], Any]) -> Any:
        loop_key = (*key, str(id(asyncio.get_running_loop())))
        found = self._open.get(loop_key)
        if found is None:
            found = self._open[loop_key] = build()
        return found

    def _source(self, scheme: Scheme) -> Source:
        conn = self._connection(scheme, "source", scheme.source.connection)
        source: Source = self._cached(
            ("source", scheme.id),
            lambda: build_source(conn, scheme.source, BuildContext(self.ledger, scheme.id, self.ledger)),
        )
        return source

    def _target(self, scheme: Scheme) -> Target:
        conn = self._connection(scheme, "target", scheme.target.connection)
        target: Target = self._cached(
            ("target", scheme.id),
            lambda: build_target(conn, scheme.target, BuildContext(self.ledger, scheme.id, self.ledger)),
        )
        return target

    def _queriers(self, scheme: Scheme) -> dict[str, Querier]:
        """One lookup connection per ``enrich`` step (steps on the same connection share it)."""
        built: dict[str, Querier] = {}
        out: dict[str, Querier] = {}
        for step in scheme.enrich:
            conn = self._connection(
                scheme, f"enrich.{step.name}.connection", step.connection or scheme.target.connection
            )
            if conn.name not in built:
                built[conn.name] = self._cached(
                    ("querier", conn.name),
                    lambda conn=conn: build_querier(conn, BuildContext(self.ledger, scheme.id, self.ledger)),  # type: ignore[misc]
                )
            out[step.name] = built[conn.name]
        return out

    async def aclose(self) -> None:
        """Close the connectors this event loop opened (the others belong to loops that are gone)."""
        loop_id = str(id(asyncio.get_running_loop()))
        for key in [k for k in self._open if k[-1] == loop_id]:
            await self._open.pop(key).aclose()


__all__ = ["Wiring", "default_owner"]
