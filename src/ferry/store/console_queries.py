"""The console's reads: what its pages show, each one query (or a few) over an index.

Functions over a :class:`~ferry.store.core.LedgerCore` (a :class:`~ferry.store.Ledger`), so the pages hold
no SQL and the facade stays as it is. Indexes they rely on (migration 0003): ``ix_records_status_id``
(any-scheme status lists), ``ix_records_scheme_status_updated_at`` (throughput, today's totals),
``ix_runs_scheme_started_at`` (runs of a scheme), ``ix_events_at`` (a run's transitions); a run's
calls are a range of ``ix_api_calls_at``.

"Records written per hour" counts written records by the hour they were last changed: a written record
rarely changes again, and the count stays one index range instead of a scan of the events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ferry.store.core import LedgerCore, chunks, utc
from ferry.store.models import EventRow, RecordRow, RunRow
from ferry.store.schema import api_calls, events, records, runs

#: needs a person and has not recovered since (its current status says so)
UNRESOLVED: tuple[str, ...] = ("failed", "dead", "quarantined", "in_doubt")
#: statuses counted as failures in today's totals and the error rate
FAILURES: tuple[str, ...] = ("failed", "dead", "quarantined", "in_doubt")


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """What the records page filters by; ``find`` searches every business key (Ledger.search)."""

    scheme: str | None = None
    statuses: tuple[str, ...] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    find: str | None = None
    #: the kind of error (``last_error_type``; "" for none), as the dead-letters page groups them
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """One scheme's figures since a moment (the start of today in its time zone)."""

    written: int
    failures: int
    amount: float | None

    @property
    def error_rate(self) -> float | None:
        done = self.written + self.failures
        return self.failures / done if done else None


@dataclass(frozen=True, slots=True)
class CallRow:
    """An ``api_calls`` row, as a run's timeline shows it."""

    id: int
    at: dt.datetime
    connection: str
    api: str
    status: str
    http_status: int | None
    error_code: str | None
    latency_ms: float


def counts_by_scheme(ledger: LedgerCore) -> dict[str, dict[str, int]]:
    """Records per status per scheme, in one grouped index scan."""
    r = records.c
    query = sa.select(r.scheme, r.status, sa.func.count()).group_by(r.scheme, r.status)
    found: dict[str, dict[str, int]] = {}
    with ledger.engine.connect() as conn:
        for scheme, status, n in conn.execute(query):
            found.setdefault(scheme, {})[status] = int(n)
    return found


def last_runs(ledger: LedgerCore, scheme: str) -> tuple[RunRow | None, RunRow | None, RunRow | None]:
    """The scheme's latest run, latest finished run and latest successful run."""
    c = runs.c
    base = sa.select(runs).where(c.scheme == scheme).order_by(c.started_at.desc()).limit(1)
    with ledger.engine.connect() as conn:
        rows = [
            conn.execute(query).first()
            for query in (base, base.where(c.status != "running"), base.where(c.status == "ok"))
        ]
    out = [RunRow(**row._mapping) if row is not None else None for row in rows]
    return out[0], out[1], out[2]


def _hour(ledger: LedgerCore, column: Any) -> Any:
    if ledger._pg:
        return sa.func.date_trunc("hour", column)
    return sa.func.substr(column, 1, 13)


def _as_hour(value: Any) -> dt.datetime:
    """A bucket as an aware UTC hour: a datetime on PostgreSQL, ``YYYY-MM-DD HH`` text on SQLite."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return dt.datetime.strptime(str(value)[:13], "%Y-%m-%d %H").replace(tzinfo=dt.UTC)


def written_per_hour(ledger: LedgerCore, scheme: str, since: dt.datetime) -> dict[dt.datetime, int]:
    """Records written per UTC hour since ``since`` (keys are aware UTC hours)."""
    r = records.c
    hour = _hour(ledger, r.updated_at).label("hour")
    query = (
        sa.select(hour, sa.func.count())
        .where(r.scheme == scheme, r.status == "written", r.updated_at >= utc(since))
        .group_by(hour)
    )
    with ledger.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {_as_hour(h): int(n) for h, n in rows}


def _amount(ledger: LedgerCore, field: str) -> Any:
    r = records.c
    if ledger._pg:
        text = r.content.op("->>")(sa.literal(field))
        # text that is not a number counts as nothing (a cast would fail the whole query)
        return sa.case((text.op("~")(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"), sa.cast(text, sa.Numeric)), else_=None)
    path = '$."' + field.replace('"', '""') + '"'
    return sa.cast(sa.func.json_extract(r.content, path), sa.Float)


def totals_since(
    ledger: LedgerCore, scheme: str, since: dt.datetime, amount_field: str | None = None
) -> Totals:
    """Documents written, failures, and the sum of ``amount_field`` over what was written since ``since``."""
    r = records.c
    window = (r.scheme == scheme, r.updated_at >= utc(since))
    with ledger.engine.connect() as conn:
        by_status: dict[str, int] = dict(
            conn.execute(
                sa.select(r.status, sa.func.count())
                .where(*window, r.status.in_(["written", *FAILURES]))
                .group_by(r.status)
            ).all()
        )
        amount = None
        if amount_field:
            total = conn.execute(
                sa.select(sa.func.sum(_amount(ledger, amount_field))).where(*window, r.status == "written")
            ).scalar_one()
            amount = float(total) if total is not None else 0.0
    written = int(by_status.get("written", 0))
    failures = sum((int(by_status.get(s, 0)) for s in FAILURES), 0)
    return Totals(written=written, failures=failures, amount=amount)


def find_runs(
    ledger: LedgerCore,
    *,
    scheme: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[RunRow]:
    """Runs matching the filters, newest first."""
    c = runs.c
    query = sa.select(runs).order_by(c.started_at.desc(), c.id.desc()).limit(limit).offset(offset)
    if scheme:
        query = query.where(c.scheme == scheme)
    if kind:
        query = query.where(c.kind == kind)
    if status:
        query = query.where(c.status == status)
    with ledger.engine.connect() as conn:
        return [RunRow(**row._mapping) for row in conn.execute(query)]


def get_run(ledger: LedgerCore, run_id: int) -> RunRow | None:
    with ledger.engine.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    return RunRow(**row._mapping) if row is not None else None


def _run_span(run: RunRow, now: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    return run.started_at, run.ended_at or run.heartbeat_at or utc(now)


def run_calls(
    ledger: LedgerCore,
    run: RunRow,
    connections: Sequence[str] = (),
    *,
    limit: int = 2000,
    now: dt.datetime | None = None,
) -> list[CallRow]:
    """The API calls made while the run lasted on the scheme's ``connections`` (or tagged with its
    scheme): its pages, batches and throttled waits. Another scheme sharing a connection at the same
    time shows too: the call log names connections, not runs."""
    start, end = _run_span(run, now)
    c = api_calls.c
    mine = (
        sa.or_(c.scheme == run.scheme, c.connection.in_(list(connections)))
        if connections
        else c.scheme == run.scheme
    )
    query = (
        sa.select(c.id, c.at, c.connection, c.api, c.status, c.http_status, c.error_code, c.latency_ms)
        .where(mine, c.at >= start, c.at <= end)
        .order_by(c.at)
        .limit(limit)
    )
    with ledger.engine.connect() as conn:
        return [CallRow(**row._mapping) for row in conn.execute(query)]


def run_transitions(ledger: LedgerCore, run: RunRow, *, now: dt.datetime | None = None) -> dict[str, int]:
    """How many of the scheme's records moved to each status while the run lasted."""
    start, end = _run_span(run, now)
    e, r = events.c, records.c
    query = (
        sa.select(e.to_status, sa.func.count())
        .select_from(events.join(records, r.id == e.record_id))
        .where(e.at >= start, e.at <= end, r.scheme == run.scheme)
        .group_by(e.to_status)
    )
    with ledger.engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(query)}


def _where(f: RecordFilter) -> list[sa.ColumnElement[bool]]:
    r = records.c
    filters: list[sa.ColumnElement[bool]] = []
    if f.scheme:
        filters.append(r.scheme == f.scheme)
    if f.statuses:
        filters.append(r.status.in_(list(f.statuses)))
    if f.since is not None:
        filters.append(r.updated_at >= utc(f.since))
    if f.until is not None:
        filters.append(r.updated_at < utc(f.until))
    if f.kind is not None:
        filters.append(sa.func.coalesce(r.last_error_type, "") == f.kind)
    return filters


def find_records(ledger: Any, f: RecordFilter, *, limit: int = 50, offset: int = 0) -> list[RecordRow]:
    """The records page: by business key when ``find`` is set (``Ledger.search``), else by the filters;
    newest first."""
    if f.find:
        rows: list[RecordRow] = ledger.search(
            f.find, scheme=f.scheme, statuses=f.statuses, since=f.since, limit=limit + offset + 1
        )
        if f.until is not None:
            rows = [row for row in rows if row.updated_at < utc(f.until)]
        if f.kind is not None:
            rows = [row for row in rows if (row.last_error_type or "") == f.kind]
        return rows[offset : offset + limit]
    query = sa.select(records).where(*_where(f)).order_by(records.c.id.desc()).limit(limit).offset(offset)
    with ledger.engine.connect() as conn:
        return [RecordRow(**row._mapping) for row in conn.execute(query)]


def matching_ids(ledger: Any, f: RecordFilter, *, limit: int) -> list[int]:
    """Ids of every record the filter matches (at most ``limit``, newest first): "all matches"."""
    if f.find:
        return [row.id for row in find_records(ledger, f, limit=limit)]
    query = sa.select(records.c.id).where(*_where(f)).order_by(records.c.id.desc()).limit(limit)
    with ledger.engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def count_records(ledger: Any, f: RecordFilter, *, cap: int = 100_000) -> int:
    """How many records the filter matches, counted up to ``cap``."""
    if f.find:
        return len(matching_ids(ledger, f, limit=cap))
    inner = sa.select(records.c.id).where(*_where(f)).limit(cap).subquery()
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


def records_by_ids(ledger: LedgerCore, ids: Sequence[int]) -> list[RecordRow]:
    """The records with these ids, newest first."""
    found: list[RecordRow] = []
    with ledger.engine.connect() as conn:
        for chunk in chunks(list(dict.fromkeys(ids))):
            query = sa.select(records).where(records.c.id.in_(list(chunk)))
            found.extend(RecordRow(**row._mapping) for row in conn.execute(query))
    return sorted(found, key=lambda row: -row.id)


@dataclass(frozen=True, slots=True)
class ReasonGroup:
    """Records in one status with the same kind of error (type and code), with one example reason."""

    status: str
    kind: str
    code: str | None
    count: int
    example: str | None


def reasons_by_kind(ledger: LedgerCore, scheme: str | None, statuses: Sequence[str]) -> list[ReasonGroup]:
    """Dead letters and quarantine grouped by what went wrong, largest group first."""
    r = records.c
    kind = sa.func.coalesce(r.last_error_type, "")
    query = (
        sa.select(r.status, kind.label("kind"), r.last_error_code, sa.func.count(), sa.func.max(r.reason))
        .where(r.status.in_(list(statuses)), *([r.scheme == scheme] if scheme else []))
        .group_by(r.status, kind, r.last_error_code)
        .order_by(sa.func.count().desc())
        .limit(200)
    )
    with ledger.engine.connect() as conn:
        return [
            ReasonGroup(status, k or "", code, int(n), example)
            for status, k, code, n, example in conn.execute(query)
        ]


def ledger_signature(ledger: LedgerCore) -> str:
    """A few primary-key and index lookups that change whenever the pages would: every record
    transition writes an event, and a run starts (a new id) or stops running. The console's live
    stream compares it every second and pushes only when it differs."""
    e, c = events.c, runs.c
    query = sa.select(
        sa.select(sa.func.max(e.id)).scalar_subquery(),
        sa.select(sa.func.max(c.id)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(runs).where(c.status == "running").scalar_subquery(),
    )
    with ledger.engine.connect() as conn:
        row = conn.execute(query).one()
    return f"e{row[0] or 0}-r{row[1] or 0}-{row[2] or 0}"


def record_events(ledger: LedgerCore, record_id: int, *, limit: int = 1000) -> list[EventRow]:
    """A record's events, oldest first (at most ``limit``: the latest ones)."""
    e = events.c
    query = sa.select(events).where(e.record_id == record_id).order_by(e.id.desc()).limit(limit)
    with ledger.engine.connect() as conn:
        rows = [EventRow(**row._mapping) for row in conn.execute(query)]
    return rows[::-1]


__all__ = [
    "FAILURES",
    "UNRESOLVED",
    "CallRow",
    "ReasonGroup",
    "RecordFilter",
    "Totals",
    "count_records",
    "counts_by_scheme",
    "find_records",
    "find_runs",
    "get_run",
    "last_runs",
    "ledger_signature",
    "matching_ids",
    "reasons_by_kind",
    "record_events",
    "records_by_ids",
    "run_calls",
    "run_transitions",
    "totals_since",
    "written_per_hour",
]
