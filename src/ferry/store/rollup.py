"""Usage that lasts: ``api_calls`` rolled up per (connection, api, hour) before the raw rows are pruned.

Contract notes:
- A rolled hour is final: :meth:`ApiRollup.rollup_api_calls` rolls whole hours that ended at least
  ``margin`` ago (buffered calls of every process are written by then), from where the last roll-up
  stopped, so running it twice, or in two processes at once, counts nothing twice.
- Reports read rolled hours from ``api_usage_hourly`` and later hours from ``api_calls``
  (:meth:`ApiRollup.usage_by_hour`), so a report is the same before and after a roll-up.
- Pruning rolls up first and never deletes a call of an hour that is not rolled up.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ferry.store.core import utc
from ferry.store.schema import api_calls, api_usage_hourly, events, records
from ferry.store.usage import ApiCalls

#: upper bounds of the latency buckets in milliseconds; one more bucket holds everything slower
LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
#: an hour is rolled up only this long after it ended (calls are buffered up to a few seconds per process)
ROLLUP_MARGIN = dt.timedelta(minutes=10)
#: hours rolled per transaction, so a first roll-up of a month of calls never holds the lock for long
HOURS_PER_TRANSACTION = 24
HOUR = dt.timedelta(hours=1)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    """The start of ``moment``'s hour, UTC."""
    return utc(moment).replace(minute=0, second=0, microsecond=0)


def latency_bucket(latency_ms: float) -> int:
    """The index of the bucket ``latency_ms`` falls in (bounds are inclusive, as Prometheus' ``le``)."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)


@dataclass
class HourUsage:
    """The calls of one (connection, api) in one hour."""

    connection: str
    api: str
    hour: dt.datetime
    calls: int = 0
    metered: int = 0
    errors: int = 0
    throttles: int = 0
    latency_sum_ms: float = 0.0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))

    def add_call(self, status: str, error_code: str | None, latency_ms: float, metered: bool) -> None:
        self.calls += 1
        self.metered += 1 if metered else 0
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status != "ok":
            self.errors += 1
            code = error_code or status
            self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
        if status == "slow_down":
            self.throttles += 1
        self.latency_sum_ms += latency_ms
        self.latency_buckets[latency_bucket(latency_ms)] += 1

    def row(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "api": self.api,
            "hour": self.hour,
            "calls": self.calls,
            "metered": self.metered,
            "errors": self.errors,
            "throttles": self.throttles,
            "latency_sum_ms": self.latency_sum_ms,
            "errors_by_code": self.errors_by_code,
            "by_status": self.by_status,
            "latency_buckets": self.latency_buckets,
        }


@dataclass(frozen=True)
class CallRow:
    """One logged call, for a drill-down."""

    id: int
    at: dt.datetime
    connection: str
    api: str
    status: str
    http_status: int | None
    error_code: str | None
    latency_ms: float
    request_id: str | None
    metered: bool
    scheme: str | None


class ApiRollup(ApiCalls):
    """The API-call log with its lasting hourly roll-up (see the module's contract notes)."""

    def rolled_until(self) -> dt.datetime | None:
        """The end of the last rolled-up hour (None before the first roll-up)."""
        with self.engine.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(api_usage_hourly.c.hour))).scalar_one()
        return None if last is None else utc(_aware(last)) + HOUR

    def rollup_api_calls(
        self, *, now: dt.datetime | None = None, margin: dt.timedelta = ROLLUP_MARGIN
    ) -> int:
        """Roll up every whole hour that ended at least ``margin`` before ``now``; returns the rows written.

        A plain function for the serve loop or a periodic task: idempotent, and safe in several processes
        (a process that loses the race to the same hours writes nothing).
        """
        self.flush()
        end = floor_hour(utc(now) - margin)
        start = self.rolled_until()
        if start is None:
            with self.engine.connect() as conn:
                first = conn.execute(sa.select(sa.func.min(api_calls.c.at))).scalar_one()
            if first is None:
                return 0
            start = floor_hour(_aware(first))
        written = 0
        while start < end:
            stop = min(end, start + HOURS_PER_TRANSACTION * HOUR)
            hours = list(self._aggregate_raw(start, stop))
            try:
                with self._write() as conn:
                    # re-check under the write lock: another process may have rolled these hours meanwhile
                    last = conn.execute(sa.select(sa.func.max(api_usage_hourly.c.hour))).scalar_one()
                    if last is not None and utc(_aware(last)) >= start:
                        return written
                    if hours:
                        conn.execute(sa.insert(api_usage_hourly), [h.row() for h in hours])
            except sa.exc.IntegrityError:
                return written  # PostgreSQL: the other process committed the same hours first
            written += len(hours)
            start = stop
        return written

    def usage_by_hour(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        connection: str | None = None,
    ) -> list[HourUsage]:
        """Usage per (connection, api, hour) in ``[since, until)`` (hours overlapping it), rolled or raw."""
        self.flush()
        boundary = self.rolled_until()
        lo = floor_hour(since) if since is not None else None
        hi = utc(until) if until is not None else None
        found: list[HourUsage] = []
        if boundary is not None and (lo is None or lo < boundary):
            h = api_usage_hourly.c
            query = sa.select(api_usage_hourly).order_by(h.hour, h.connection, h.api)
            if lo is not None:
                query = query.where(h.hour >= lo)
            if hi is not None:
                query = query.where(h.hour < hi)
            if connection is not None:
                query = query.where(h.connection == connection)
            with self.engine.connect() as conn:
                for row in conn.execute(query):
                    m = dict(row._mapping)
                    m["hour"] = utc(_aware(m["hour"]))
                    found.append(HourUsage(**m))
        raw_from = max(x for x in (lo, boundary) if x is not None) if (lo or boundary) else None
        found.extend(self._aggregate_raw(raw_from, hi, connection=connection))
        return found

    def call_totals(self) -> list[tuple[str, str, int, int]]:
        """(connection, api, calls, metered) over all time: rolled hours plus the calls after them."""
        totals: dict[tuple[str, str], list[int]] = {}
        h = api_usage_hourly.c
        rolled = sa.select(h.connection, h.api, sa.func.sum(h.calls), sa.func.sum(h.metered)).group_by(
            h.connection, h.api
        )
        self.flush()
        boundary = self.rolled_until()
        c = api_calls.c
        raw = sa.select(
            c.connection, c.api, sa.func.count(), sa.func.sum(sa.case((c.metered, 1), else_=0))
        ).group_by(c.connection, c.api)
        if boundary is not None:
            raw = raw.where(c.at >= boundary)
        with self.engine.connect() as conn:
            for query in (rolled, raw):
                for conn_name, api, calls, metered in conn.execute(query):
                    slot = totals.setdefault((conn_name, api), [0, 0])
                    slot[0] += int(calls or 0)
                    slot[1] += int(metered or 0)
        return [(k[0], k[1], v[0], v[1]) for k, v in sorted(totals.items())]

    def recent_calls(
        self,
        connection: str,
        api: str,
        *,
        since: dt.datetime | None = None,
        limit: int = 50,
        errors_only: bool = False,
    ) -> list[CallRow]:
        """The newest logged calls of one API (raw rows; older ones are pruned)."""
        self.flush()
        c = api_calls.c
        query = (
            sa.select(api_calls)
            .where(c.connection == connection, c.api == api)
            .order_by(c.at.desc(), c.id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(c.at >= utc(since))
        if errors_only:
            query = query.where(c.status != "ok")
        with self.engine.connect() as conn:
            return [CallRow(**row._mapping) for row in conn.execute(query)]

    def records_active_between(
        self, scheme: str | None, start: dt.datetime, end: dt.datetime, *, limit: int = 20
    ) -> list[tuple[int, str, str]]:
        """(id, source_id, status) of the records (of ``scheme``, or any) with an event in ``[start, end]``:
        the records a call made at that time worked for (calls carry no record id; a batch call serves
        many, and connectors log no scheme)."""
        e, r = events.c, records.c
        active = sa.select(e.record_id).where(e.at >= utc(start), e.at <= utc(end))
        query = sa.select(r.id, r.source_id, r.status).where(r.id.in_(active)).order_by(r.id).limit(limit)
        if scheme is not None:
            query = query.where(r.scheme == scheme)
        with self.engine.connect() as conn:
            return [(int(i), str(s), str(st)) for i, s, st in conn.execute(query)]

    def prune_api_calls(
        self, *, older_than: dt.datetime | None = None, now: dt.datetime | None = None
    ) -> int:
        """Roll up, then delete raw calls older than ``older_than`` (default: the retention period), never
        past the last rolled-up hour, so no call is lost from the lasting usage."""
        self.rollup_api_calls(now=now)
        cutoff = (
            utc(older_than)
            if older_than is not None
            else utc(now) - dt.timedelta(days=self.api_call_retention_days)
        )
        boundary = self.rolled_until()
        if boundary is None:
            return 0
        return super().prune_api_calls(older_than=min(cutoff, boundary))

    def _aggregate_raw(
        self, start: dt.datetime | None, stop: dt.datetime | None, *, connection: str | None = None
    ) -> Iterator[HourUsage]:
        c = api_calls.c
        query = sa.select(c.connection, c.api, c.at, c.status, c.error_code, c.latency_ms, c.metered)
        if start is not None:
            query = query.where(c.at >= start)
        if stop is not None:
            query = query.where(c.at < stop)
        if connection is not None:
            query = query.where(c.connection == connection)
        with self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=5_000).execute(query)
            yield from _by_hour(rows)


def _by_hour(rows: Iterable[Any]) -> Iterator[HourUsage]:
    found: dict[tuple[str, str, dt.datetime], HourUsage] = {}
    for conn_name, api, at, status, code, latency, metered in rows:
        hour = floor_hour(_aware(at))
        key = (conn_name, api, hour)
        usage = found.get(key)
        if usage is None:
            usage = found[key] = HourUsage(conn_name, api, hour)
        usage.add_call(status, code, float(latency), bool(metered))
    yield from sorted(found.values(), key=lambda u: (u.hour, u.connection, u.api))


def _aware(value: dt.datetime) -> dt.datetime:
    # MAX()/MIN() come back without the column's type processing on SQLite: naive UTC text or datetime
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


__all__ = [
    "HOUR",
    "LATENCY_BUCKETS_MS",
    "ROLLUP_MARGIN",
    "ApiRollup",
    "CallRow",
    "HourUsage",
    "floor_hour",
    "latency_bucket",
]
