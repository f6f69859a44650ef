"""The API-call log's side of the ledger: record calls, report usage and quotas, prune by age."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ferry.store.core import LedgerCore, utc
from ferry.store.models import ApiCallLike, ApiUsage
from ferry.store.schema import api_calls

#: rows deleted per transaction when pruning, so pruning never holds the write lock for long
PRUNE_CHUNK = 5_000


class ApiCalls(LedgerCore):
    """Outbound API calls: buffered writes, usage per (connection, api), metered calls, pruning."""

    def record(self, call: ApiCallLike) -> None:
        """Log one outbound API call (buffered; implements ``ferry.observe.calls.CallRecorder``)."""
        self._calls.record(call)
        for listener in self.call_listeners:
            listener(call)

    def flush(self) -> None:
        """Write buffered API calls now."""
        self._calls.flush()

    @property
    def dropped_calls(self) -> int:
        """API calls lost because the database could not be written while the buffer was full."""
        return self._calls.dropped

    def api_usage(self, *, since: dt.datetime | None = None, connection: str | None = None) -> list[ApiUsage]:
        """Calls, errors, average and p95 latency and metered calls per (connection, api)."""
        self.flush()
        c = api_calls.c
        filters: list[sa.ColumnElement[bool]] = []
        if since is not None:
            filters.append(c.at >= utc(since))
        if connection is not None:
            filters.append(c.connection == connection)
        query = (
            sa.select(
                c.connection,
                c.api,
                sa.func.count().label("calls"),
                sa.func.sum(sa.case((c.status != "ok", 1), else_=0)).label("errors"),
                sa.func.avg(c.latency_ms).label("avg"),
                sa.func.sum(sa.case((c.metered, 1), else_=0)).label("metered"),
            )
            .where(*filters)
            .group_by(c.connection, c.api)
            .order_by(c.connection, c.api)
        )
        usage: list[ApiUsage] = []
        with self.engine.connect() as conn:
            for row in conn.execute(query).all():
                # nearest-rank p95, found by the database (one indexed range per group)
                rank = max(math.ceil(0.95 * row.calls) - 1, 0)
                p95 = conn.execute(
                    sa.select(c.latency_ms)
                    .where(*filters, c.connection == row.connection, c.api == row.api)
                    .order_by(c.latency_ms)
                    .offset(rank)
                    .limit(1)
                ).scalar_one()
                usage.append(
                    ApiUsage(
                        connection=row.connection,
                        api=row.api,
                        calls=int(row.calls),
                        errors=int(row.errors or 0),
                        avg_latency_ms=float(row.avg or 0.0),
                        p95_latency_ms=float(p95),
                        metered=int(row.metered or 0),
                    )
                )
        return usage

    def metered_this_month(
        self, connection: str, *, now: dt.datetime | None = None, tz: str = "Asia/Shanghai"
    ) -> int:
        """Metered calls of ``connection`` since the first of this month in ``tz`` (the quota's clock)."""
        self.flush()
        local = utc(now).astimezone(ZoneInfo(tz))
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
        c = api_calls.c
        query = sa.select(sa.func.count()).where(
            c.connection == connection, c.metered.is_(True), c.at >= month_start, c.at < next_month
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def prune_api_calls(self, *, older_than: dt.datetime | None = None) -> int:
        """Delete API calls older than ``older_than`` (default: the retention period); returns how many.

        Deletes in chunks, one short transaction each, so the collector is never blocked for long.
        """
        cutoff = (
            utc(older_than)
            if older_than is not None
            else utc(None) - dt.timedelta(days=self.api_call_retention_days)
        )
        c = api_calls.c
        oldest = sa.select(c.id).where(c.at < cutoff).order_by(c.at).limit(PRUNE_CHUNK).scalar_subquery()
        deleted = 0
        while True:
            with self._write() as conn:
                n = conn.execute(sa.delete(api_calls).where(c.id.in_(oldest))).rowcount
            deleted += n
            if n < PRUNE_CHUNK:
                return deleted
