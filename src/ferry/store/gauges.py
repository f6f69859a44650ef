"""Readings for monitoring: records by scheme and status, the last successful run of each scheme.

Each is one grouped query, cheap enough for a scrape every 15 seconds.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ferry.store.core import LedgerCore
from ferry.store.schema import records, runs


class Gauges(LedgerCore):
    """What ``/metrics`` reads from the ledger at each scrape."""

    def counts_by_scheme(self) -> dict[tuple[str, str], int]:
        """Records per (scheme, status)."""
        r = records.c
        query = sa.select(r.scheme, r.status, sa.func.count()).group_by(r.scheme, r.status)
        with self.engine.connect() as conn:
            return {(scheme, status): int(n) for scheme, status, n in conn.execute(query)}

    def last_success_by_scheme(self) -> dict[tuple[str, str], dt.datetime]:
        """When the last ``ok`` run of each (scheme, kind) ended."""
        c = runs.c
        query = (
            sa.select(c.scheme, c.kind, sa.func.max(c.ended_at))
            .where(c.status == "ok", c.ended_at.is_not(None))
            .group_by(c.scheme, c.kind)
        )
        found: dict[tuple[str, str], dt.datetime] = {}
        with self.engine.connect() as conn:
            for scheme, kind, at in conn.execute(query):
                if isinstance(at, str):  # MAX() skips the column type on SQLite
                    at = dt.datetime.fromisoformat(at)
                found[(scheme, kind)] = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        return found
