"""The ledger: the durable queue between collect and dispatch.

Contract notes (the engine relies on them):
- A record is in the ledger before anything is sent for it: collect writes it, dispatch claims it.
- One id, one row: ``(scheme, source_id)`` is unique, so a record collected twice (overlapping windows,
  two processes) is taken once (``idCheck``).
- A record is dispatched by one owner at a time: a claim sets ``writing`` with a lease; outcomes apply
  only while the lease is still the owner's, so a worker that lost its lease cannot overwrite the one
  that took over.
- A lease that expired while ``writing`` means a worker died mid-write: the next claim says
  ``needs_probe`` because the target may already hold the document.
- Each public method is one short transaction; on SQLite every write transaction takes the write lock
  at BEGIN (``BEGIN IMMEDIATE``), on PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``.

The API is synchronous; the engine calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ferry.store.calls import CallLog
from ferry.store.db import json_dumps, make_engine, write_engine
from ferry.store.migrate import upgrade
from ferry.store.models import (
    FINAL_STATUSES,
    PROBE_STATUSES,
    STATUSES,
    ApiCallLike,
    ApiUsage,
    Claimed,
    CollectCounts,
    Collected,
    EventRow,
    Outcome,
    RecordRow,
    RunRow,
    content_hash,
)
from ferry.store.schema import UTCDateTime, api_calls, events, records, runs, watermarks

T = TypeVar("T")

#: bound parameters per IN list; well under SQLite's and PostgreSQL's limits
_IN_CHUNK = 500
#: a stored target response larger than this (as JSON text) is cut down to its head
RESPONSE_LIMIT = 32_768
#: rows deleted per transaction when pruning, so pruning never holds the write lock for long
PRUNE_CHUNK = 5_000
_OUTCOME_STATUSES = frozenset(STATUSES) - {"writing"}


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _utc(value: dt.datetime | None) -> dt.datetime:
    """``value`` as aware UTC, or now when None."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the ledger takes timezone-aware datetimes")
    return value.astimezone(dt.UTC)


def _small(response: Any) -> Any:
    """Keep stored responses small: a huge body is replaced by its head."""
    text = json_dumps(response)
    if len(text) <= RESPONSE_LIMIT:
        return response
    return {"truncated": True, "size": len(text), "head": text[:RESPONSE_LIMIT]}


def _detail(**values: Any) -> dict[str, Any] | None:
    detail = {k: v for k, v in values.items() if v is not None}
    return detail or None


def _due_conditions() -> list[tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]]:
    """The claimable groups (bound to ``:now``) with the order each is taken in. Each group is queried
    on its own so that each walks an index and stops after ``limit`` rows, however many records wait
    or back off."""
    r = records.c
    now = sa.bindparam("now", type_=UTCDateTime())
    groups: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]] = [(r.status == "pending", r.id)]
    for status in ("failed", "in_doubt"):
        groups.append((sa.and_(r.status == status, r.next_attempt_at.is_(None)), r.id))
        # earliest due first; a range on ix_records_claim, not a scan of everything backing off
        groups.append((sa.and_(r.status == status, r.next_attempt_at <= now), r.next_attempt_at))
    # a crashed worker's claim
    groups.append(
        (sa.and_(r.status == "writing", sa.or_(r.lease_expires_at.is_(None), r.lease_expires_at < now)), r.id)
    )
    return groups


def _claim_statements(pg: bool) -> tuple[list[sa.Executable], sa.Executable]:
    """Built once per ledger: the candidate queries and the UPDATE that leases the chosen ids.

    Parameters: scheme, now, limit (candidates); ids, owner, expires, now (update).
    """
    r = records.c
    groups = _due_conditions()
    selects = [
        sa.select(r.id, r.lease_owner)
        .where(r.scheme == sa.bindparam("scheme"), condition)
        .order_by(order)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
        for condition, order in groups
    ]
    candidates: list[sa.Executable]
    if pg:
        # other claimers skip what we hold instead of waiting for it (FOR UPDATE cannot go in a UNION)
        candidates = [query.with_for_update(skip_locked=True) for query in selects]
    else:
        # one round trip; the write lock taken at BEGIN IMMEDIATE already excludes other claimers
        candidates = [sa.union_all(*(query.subquery().select() for query in selects))]
    # The due conditions again, though the SQLite write lock (or the PostgreSQL row locks) already
    # guarantee them. No scheme term here: with it SQLite walks ix_records_queue instead of the
    # primary key, which made every claim O(records in the scheme).
    update = (
        sa.update(records)
        .where(r.id.in_(sa.bindparam("ids", expanding=True)), sa.or_(*(condition for condition, _ in groups)))
        .values(
            status="writing",
            lease_owner=sa.bindparam("owner"),
            lease_expires_at=sa.bindparam("expires", type_=UTCDateTime()),
            lease_prev_status=r.status,
            updated_at=sa.bindparam("now", type_=UTCDateTime()),
        )
        .returning(
            r.id,
            r.scheme,
            r.source_id,
            r.number,
            r.content,
            r.attempts,
            r.lease_prev_status,
            r.target_id,
            r.target_number,
            r.request,
        )
    )
    return candidates, update


def _live_lease(now: dt.datetime) -> sa.ColumnElement[bool]:
    r = records.c
    return sa.and_(r.status == "writing", r.lease_expires_at.is_not(None), r.lease_expires_at >= now)


def _json_path(field: str) -> str | tuple[str, ...]:
    parts = tuple(field.split("."))
    return parts[0] if len(parts) == 1 else parts


class Ledger:
    """Records, watermarks, runs, events and the API-call log in one database.

    Pass ``url`` (default ``$FERRY_DATABASE_URL`` or ``sqlite:///ferry.db``) or an ``engine`` made by
    :func:`ferry.store.make_engine` (the SQLite tuning lives there). Call :meth:`migrate` once at start.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        api_call_retention_days: int = 30,
        call_flush_every: int = 500,
        call_flush_seconds: float = 5.0,
    ) -> None:
        self._owns_engine = engine is None
        self.engine: Engine = engine if engine is not None else make_engine(url)
        # same pool; on SQLite its transactions begin IMMEDIATE
        self._writer = write_engine(self.engine)
        self._pg = self.engine.dialect.name == "postgresql"
        self.api_call_retention_days = api_call_retention_days
        self._calls = CallLog(self._writer, flush_every=call_flush_every, flush_seconds=call_flush_seconds)
        # the claim runs many times a second: build its statements once
        self._claim_candidates, self._claim_update = _claim_statements(self._pg)
        self._finish_updates: dict[tuple[str, ...], sa.Executable] = {}

    # ------------------------------------------------------------------ life cycle

    def migrate(self) -> None:
        """Create or upgrade the tables (Alembic, idempotent)."""
        upgrade(self.engine)

    def close(self) -> None:
        """Write buffered API calls and release the connections (the engine too, if the ledger made it)."""
        self._calls.close()
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ collect

    def collect(
        self,
        scheme: str,
        items: Sequence[Collected],
        *,
        on_change: Literal["ignore", "rewrite"] = "ignore",
        now: dt.datetime | None = None,
    ) -> CollectCounts:
        """Store one page of source records with ``idCheck`` semantics; one transaction.

        New ids are inserted with their status. A known id with the same content hash is left alone.
        A known id with new content: a ``watching`` record takes the new content, status and watch
        times; with ``on_change="rewrite"`` a final record (written/skipped/dead/quarantined) takes the
        new content and status with attempts and errors reset (target ids kept, so the target can
        update the document); a pending or failed record takes the new content and keeps its status
        (it has not been written yet, so the latest content should be); anything else (in flight, or
        final under ``ignore``) is not touched and counted as ``ignored``. An id repeated within the
        page counts once, its last occurrence wins, the earlier ones count as ``unchanged``.
        """
        if on_change not in ("ignore", "rewrite"):
            raise ValueError(f"on_change must be 'ignore' or 'rewrite', not {on_change!r}")
        now = _utc(now)
        page: dict[str, tuple[Collected, str]] = {}
        for item in items:
            page[item.source_id] = (item, content_hash(item.content))
        repeated = len(items) - len(page)
        for attempt in range(3):
            try:
                with self._writer.begin() as conn:
                    counts = self._collect_page(conn, scheme, page, on_change, now)
            except IntegrityError:
                # another process inserted one of these ids since our SELECT: go again, those
                # ids now take the update path
                if attempt == 2:
                    raise
                continue
            counts.unchanged += repeated
            return counts
        raise AssertionError("unreachable")

    def _collect_page(
        self,
        conn: Connection,
        scheme: str,
        page: Mapping[str, tuple[Collected, str]],
        on_change: str,
        now: dt.datetime,
    ) -> CollectCounts:
        r = records.c
        counts = CollectCounts()
        existing: dict[str, Any] = {}
        for chunk in _chunks(list(page)):
            query = sa.select(r.id, r.source_id, r.content_hash, r.status).where(
                r.scheme == scheme, r.source_id.in_(chunk)
            )
            for row in conn.execute(query):
                existing[row.source_id] = row

        inserts: list[dict[str, Any]] = []
        new_events: list[dict[str, Any]] = []
        for source_id, (item, digest) in page.items():
            old = existing.get(source_id)
            if old is None:
                inserts.append(
                    {
                        "scheme": scheme,
                        "source_id": source_id,
                        "partition": item.partition,
                        "number": item.number,
                        "content": item.content,
                        "content_hash": digest,
                        "status": item.status,
                        "reason": item.reason,
                        "draft": False,
                        "attempts": 0,
                        "watch_next_at": item.watch_next_at,
                        "watch_until": item.watch_until,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if old.content_hash == digest:
                counts.unchanged += 1
                continue
            values: dict[str, Any] = {
                "content": item.content,
                "content_hash": digest,
                "number": item.number,
                "updated_at": now,
            }
            if old.status == "watching":
                values.update(
                    status=item.status,
                    reason=item.reason,
                    watch_next_at=item.watch_next_at,
                    watch_until=item.watch_until,
                )
                to_status, why = item.status, "changed at source"
            elif on_change == "rewrite" and old.status in FINAL_STATUSES:
                values.update(
                    status=item.status,
                    reason=item.reason,
                    attempts=0,
                    next_attempt_at=None,
                    last_error_type=None,
                    last_error_code=None,
                    last_error_message=None,
                    watch_next_at=item.watch_next_at,
                    watch_until=item.watch_until,
                )
                to_status, why = item.status, "changed at source, rewrite"
            elif old.status in ("pending", "failed"):
                to_status, why = old.status, "changed at source"
            else:
                counts.ignored += 1
                continue
            # only if the status is still the one we decided on: on PostgreSQL a claim may have
            # taken the record since our SELECT, and an in-flight record must keep its content
            result = conn.execute(
                sa.update(records).where(r.id == old.id, r.status == old.status).values(values)
            )
            if result.rowcount == 0:
                counts.ignored += 1
                continue
            new_events.append(
                {
                    "record_id": old.id,
                    "at": now,
                    "from_status": old.status,
                    "to_status": to_status,
                    "reason": why,
                    "detail": {"content_hash": digest},
                }
            )
            counts.changed += 1

        if inserts:
            inserted = conn.execute(sa.insert(records).returning(r.id, r.status), inserts).all()
            new_events.extend(
                {
                    "record_id": row.id,
                    "at": now,
                    "from_status": None,
                    "to_status": row.status,
                    "reason": "collected",
                    "detail": None,
                }
                for row in inserted
            )
            counts.new += len(inserts)
        if new_events:
            conn.execute(sa.insert(events), new_events)
        return counts

    # ------------------------------------------------------------------ dispatch

    def claim(
        self,
        scheme: str,
        *,
        owner: str,
        limit: int,
        lease_seconds: float,
        now: dt.datetime | None = None,
    ) -> list[Claimed]:
        """Lease up to ``limit`` due records to ``owner`` (status ``writing``), lowest ids first.

        Due: ``pending``; ``failed`` or ``in_doubt`` whose ``next_attempt_at`` has come (or is unset);
        ``writing`` whose lease expired (its worker died; the claim says ``needs_probe``).
        Atomic across threads and processes: a record is never handed to two live owners.
        """
        if limit <= 0:
            return []
        now = _utc(now)
        expires = now + dt.timedelta(seconds=lease_seconds)
        with self._writer.begin() as conn:
            candidates: dict[int, str | None] = {}
            for query in self._claim_candidates:
                for row in conn.execute(query, {"scheme": scheme, "now": now, "limit": limit}):
                    candidates[row.id] = row.lease_owner
            ids = sorted(candidates)[:limit]
            if not ids:
                return []
            claimed = conn.execute(
                self._claim_update, {"ids": ids, "owner": owner, "expires": expires, "now": now}
            ).all()
            takeovers = [
                {
                    "record_id": row.id,
                    "at": now,
                    "from_status": "writing",
                    "to_status": "writing",
                    "reason": f"lease of {candidates.get(row.id)} expired; taken over by {owner}",
                    "detail": _detail(previous_owner=candidates.get(row.id), owner=owner),
                }
                for row in claimed
                if row.lease_prev_status == "writing"
            ]
            if takeovers:
                conn.execute(sa.insert(events), takeovers)
        return sorted(
            (
                Claimed(
                    id=row.id,
                    scheme=row.scheme,
                    source_id=row.source_id,
                    number=row.number,
                    content=row.content,
                    attempts=row.attempts,
                    previous_status=row.lease_prev_status,
                    target_id=row.target_id,
                    target_number=row.target_number,
                    request=row.request,
                    needs_probe=row.lease_prev_status in PROBE_STATUSES,
                )
                for row in claimed
            ),
            key=lambda c: c.id,
        )

    def finish(self, owner: str, outcomes: Sequence[Outcome], *, now: dt.datetime | None = None) -> list[int]:
        """Store a batch's outcomes in one transaction; returns the ids NOT applied (lease lost).

        An outcome applies only while its record is ``writing`` under ``owner``'s lease; others are
        left exactly as they are. Applied records lose their lease and get one event each.
        """
        now = _utc(now)
        by_id: dict[int, Outcome] = {}
        for outcome in outcomes:
            if outcome.status not in _OUTCOME_STATUSES:
                raise ValueError(f"record {outcome.record_id}: {outcome.status!r} is not an outcome status")
            by_id[outcome.record_id] = outcome
        if not by_id:
            return []
        r = records.c
        with self._writer.begin() as conn:
            held: dict[int, int] = {}
            for chunk in _chunks(list(by_id)):
                query = sa.select(r.id, r.attempts).where(
                    r.id.in_(chunk), r.status == "writing", r.lease_owner == owner
                )
                if self._pg:
                    query = query.with_for_update()
                held.update((row.id, row.attempts) for row in conn.execute(query))
            lost = [record_id for record_id in by_id if record_id not in held]

            # rows with the same set of columns go in one executemany
            batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            new_events: list[dict[str, Any]] = []
            for record_id, attempts in held.items():
                o = by_id[record_id]
                attempts += 1 if o.count_attempt else 0
                values: dict[str, Any] = {
                    "status": o.status,
                    "reason": o.reason,
                    "draft": o.draft,
                    "attempts": attempts,
                    "next_attempt_at": o.next_attempt_at,
                    "last_error_type": o.error_type,
                    "last_error_code": o.error_code,
                    "last_error_message": o.error_message,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "lease_prev_status": None,
                    "updated_at": now,
                }
                if o.target_id is not None:
                    values["target_id"] = o.target_id
                if o.target_number is not None:
                    values["target_number"] = o.target_number
                if o.request is not None:
                    values["request"] = o.request
                if o.response is not None:
                    values["response"] = _small(o.response)
                if o.content is not None:
                    values["content"] = o.content
                    values["content_hash"] = content_hash(o.content)
                if o.watch_next_at is not None:
                    values["watch_next_at"] = o.watch_next_at
                if o.watch_until is not None:
                    values["watch_until"] = o.watch_until
                key = tuple(sorted(values))
                batches.setdefault(key, []).append(
                    {"b_id": record_id, **{f"b_{k}": v for k, v in values.items()}}
                )
                new_events.append(
                    {
                        "record_id": record_id,
                        "at": now,
                        "from_status": "writing",
                        "to_status": o.status,
                        "reason": o.reason,
                        "detail": _detail(
                            owner=owner,
                            attempts=attempts,
                            error_type=o.error_type,
                            error_code=o.error_code,
                            error_message=o.error_message[:2000] if o.error_message else None,
                            target_id=o.target_id,
                            target_number=o.target_number,
                            draft=o.draft or None,
                        ),
                    }
                )
            for key, rows in batches.items():
                for row in rows:
                    row["b_owner"] = owner
                conn.execute(self._finish_update(key), rows)
            if new_events:
                conn.execute(sa.insert(events), new_events)
        return lost

    def _finish_update(self, columns: tuple[str, ...]) -> sa.Executable:
        """The UPDATE that stores outcomes setting ``columns``; a handful of shapes, built once each."""
        statement = self._finish_updates.get(columns)
        if statement is None:
            r = records.c
            statement = (
                sa.update(records)
                .where(
                    r.id == sa.bindparam("b_id"),
                    r.status == "writing",
                    r.lease_owner == sa.bindparam("b_owner"),
                )
                .values({column: sa.bindparam(f"b_{column}") for column in columns})
            )
            self._finish_updates[columns] = statement
        return statement

    def renew(
        self, owner: str, record_ids: Sequence[int], lease_seconds: float, *, now: dt.datetime | None = None
    ) -> int:
        """Extend ``owner``'s leases on ``record_ids`` to now + ``lease_seconds``; returns how many."""
        now = _utc(now)
        r = records.c
        renewed = 0
        with self._writer.begin() as conn:
            for chunk in _chunks(list(record_ids)):
                result = conn.execute(
                    sa.update(records)
                    .where(r.id.in_(chunk), r.status == "writing", r.lease_owner == owner)
                    .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
                )
                renewed += result.rowcount
        return renewed

    def release(
        self, owner: str, record_ids: Sequence[int] | None = None, *, now: dt.datetime | None = None
    ) -> int:
        """Give back claimed records that were not sent (None: all of ``owner``'s); returns how many.

        They become due at once: ``in_doubt`` again if they needed a probe (claimed from ``in_doubt``
        or from a crashed writer's lease), else ``pending``.
        """
        now = _utc(now)
        r = records.c
        with self._writer.begin() as conn:
            held = sa.and_(r.status == "writing", r.lease_owner == owner)
            rows: list[Any] = []
            chunks: Iterable[Sequence[int] | None] = (
                [None] if record_ids is None else _chunks(list(record_ids))
            )
            for chunk in chunks:
                query = sa.select(r.id, r.lease_prev_status).where(held)
                if chunk is not None:
                    query = query.where(r.id.in_(chunk))
                if self._pg:
                    query = query.with_for_update()
                rows.extend(conn.execute(query))
            back: dict[str, list[int]] = {}
            for row in rows:
                status = "in_doubt" if row.lease_prev_status in PROBE_STATUSES else "pending"
                back.setdefault(status, []).append(row.id)
            for status, ids in back.items():
                for chunk_ids in _chunks(ids):
                    conn.execute(
                        sa.update(records)
                        .where(r.id.in_(chunk_ids), held)
                        .values(
                            status=status,
                            next_attempt_at=None,
                            lease_owner=None,
                            lease_expires_at=None,
                            lease_prev_status=None,
                            updated_at=now,
                        )
                    )
            new_events = [
                {
                    "record_id": record_id,
                    "at": now,
                    "from_status": "writing",
                    "to_status": status,
                    "reason": f"released by {owner}",
                    "detail": None,
                }
                for status, ids in back.items()
                for record_id in ids
            ]
            if new_events:
                conn.execute(sa.insert(events), new_events)
        return len(rows)

    # ------------------------------------------------------------------ watching

    def due_watch(self, scheme: str, *, now: dt.datetime | None = None, limit: int = 100) -> list[RecordRow]:
        """``watching`` records whose ``watch_next_at`` has come (or is unset), earliest first."""
        now = _utc(now)
        r = records.c
        query = (
            sa.select(records)
            .where(
                r.scheme == scheme,
                r.status == "watching",
                sa.or_(r.watch_next_at.is_(None), r.watch_next_at <= now),
            )
            .order_by(r.watch_next_at, r.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [RecordRow(**row._mapping) for row in conn.execute(query)]

    def reschedule_watch(self, record_id: int, next_at: dt.datetime) -> None:
        """Set when a ``watching`` record is looked at again."""
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(records)
                .where(records.c.id == record_id)
                .values(watch_next_at=next_at, updated_at=_utc(None))
            )

    # ------------------------------------------------------------------ reads and manual operations

    def get(self, scheme: str, source_id: str) -> RecordRow | None:
        """The record of ``source_id`` in ``scheme``, or None."""
        query = sa.select(records).where(records.c.scheme == scheme, records.c.source_id == source_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return RecordRow(**row._mapping) if row is not None else None

    def get_by_id(self, record_id: int) -> RecordRow | None:
        """The record with ledger id ``record_id``, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(records).where(records.c.id == record_id)).first()
        return RecordRow(**row._mapping) if row is not None else None

    def list_records(
        self,
        *,
        scheme: str | None = None,
        status: str | Sequence[str] | None = None,
        number: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RecordRow]:
        """Records matching the filters, newest (highest id) first."""
        r = records.c
        query = sa.select(records).order_by(r.id.desc()).limit(limit).offset(offset)
        if scheme is not None:
            query = query.where(r.scheme == scheme)
        if isinstance(status, str):
            query = query.where(r.status == status)
        elif status is not None:
            query = query.where(r.status.in_(list(status)))
        if number is not None:
            query = query.where(r.number == number)
        with self.engine.connect() as conn:
            return [RecordRow(**row._mapping) for row in conn.execute(query)]

    def counts(self, scheme: str | None = None) -> dict[str, int]:
        """Number of records per status (statuses with no record are absent)."""
        r = records.c
        query = sa.select(r.status, sa.func.count()).group_by(r.status)
        if scheme is not None:
            query = query.where(r.scheme == scheme)
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    def history(self, record_id: int) -> list[EventRow]:
        """Every transition of one record, oldest first."""
        query = sa.select(events).where(events.c.record_id == record_id).order_by(events.c.id)
        with self.engine.connect() as conn:
            return [EventRow(**row._mapping) for row in conn.execute(query)]

    def set_status(
        self,
        record_ids: Sequence[int],
        status: str,
        reason: str,
        *,
        only_from: Sequence[str] | None = None,
        reset_attempts: bool = False,
        now: dt.datetime | None = None,
    ) -> int:
        """Move records to ``status`` by hand (``records retry|skip|replay``); returns how many moved.

        Records under a live lease are never touched (their worker would overwrite the change);
        ``only_from`` limits the move to records currently in those statuses. Moved records are due at
        once (``next_attempt_at`` cleared) and lose any expired lease.
        """
        if status not in STATUSES or status == "writing":
            raise ValueError(f"cannot set status {status!r}")
        now = _utc(now)
        r = records.c
        moved = 0
        with self._writer.begin() as conn:
            for chunk in _chunks(list(record_ids)):
                query = sa.select(r.id, r.status).where(r.id.in_(chunk), sa.not_(_live_lease(now)))
                if only_from is not None:
                    query = query.where(r.status.in_(list(only_from)))
                if self._pg:
                    query = query.with_for_update()
                rows = conn.execute(query).all()
                if not rows:
                    continue
                values: dict[str, Any] = {
                    "status": status,
                    "reason": reason,
                    "next_attempt_at": None,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "lease_prev_status": None,
                    "updated_at": now,
                }
                if reset_attempts:
                    values["attempts"] = 0
                conn.execute(sa.update(records).where(r.id.in_([row.id for row in rows])).values(values))
                conn.execute(
                    sa.insert(events),
                    [
                        {
                            "record_id": row.id,
                            "at": now,
                            "from_status": row.status,
                            "to_status": status,
                            "reason": reason,
                            "detail": {"manual": True, "reset_attempts": reset_attempts},
                        }
                        for row in rows
                    ],
                )
                moved += len(rows)
        return moved

    # ------------------------------------------------------------------ watermarks

    def get_watermark(self, scheme: str, partition: str = "") -> dt.datetime | None:
        """End of the last fully successful window of ``scheme``/``partition``, or None."""
        w = watermarks.c
        query = sa.select(w.value).where(w.scheme == scheme, w.partition == partition)
        with self.engine.connect() as conn:
            value: dt.datetime | None = conn.execute(query).scalar_one_or_none()
            return value

    def set_watermark(
        self,
        scheme: str,
        value: dt.datetime,
        partition: str = "",
        run_id: int | None = None,
        *,
        force: bool = False,
    ) -> None:
        """Move the watermark to ``value``; it never moves backwards unless ``force``.

        Call it only after a whole window succeeded: everything before the watermark is in the ledger.
        """
        value = _utc(value)
        w = watermarks.c
        for attempt in range(3):
            try:
                with self._writer.begin() as conn:
                    query = sa.select(w.value).where(w.scheme == scheme, w.partition == partition)
                    current = conn.execute(query.with_for_update()).scalar_one_or_none()
                    now = _utc(None)
                    if current is None:
                        conn.execute(
                            sa.insert(watermarks).values(
                                scheme=scheme, partition=partition, value=value, run_id=run_id, updated_at=now
                            )
                        )
                    elif force or value > current:
                        conn.execute(
                            sa.update(watermarks)
                            .where(w.scheme == scheme, w.partition == partition)
                            .values(value=value, run_id=run_id, updated_at=now)
                        )
                return
            except IntegrityError:
                # two first-time writers on PostgreSQL; the loser compares again
                if attempt == 2:
                    raise

    # ------------------------------------------------------------------ runs

    def start_run(self, scheme: str, kind: str, trigger: str) -> int:
        """Record the start of a collect/dispatch/reconcile/watch run; returns its id."""
        with self._writer.begin() as conn:
            run_id = conn.execute(
                sa.insert(runs)
                .values(scheme=scheme, kind=kind, trigger=trigger, started_at=_utc(None), status="running")
                .returning(runs.c.id)
            ).scalar_one()
        return int(run_id)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: Mapping[str, int] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: ``ok``, ``failed`` or ``interrupted``, with its counts."""
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    ended_at=_utc(None),
                    counts=dict(counts) if counts is not None else None,
                    error=error,
                )
            )

    def list_runs(self, scheme: str | None = None, limit: int = 20) -> list[RunRow]:
        """The latest runs, newest first."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if scheme is not None:
            query = query.where(runs.c.scheme == scheme)
        with self.engine.connect() as conn:
            return [RunRow(**row._mapping) for row in conn.execute(query)]

    # ------------------------------------------------------------------ API calls

    def record(self, call: ApiCallLike) -> None:
        """Log one outbound API call (buffered; implements ``ferry.observe.calls.CallRecorder``)."""
        self._calls.record(call)

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
            filters.append(c.at >= _utc(since))
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
        local = _utc(now).astimezone(ZoneInfo(tz))
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
            _utc(older_than)
            if older_than is not None
            else _utc(None) - dt.timedelta(days=self.api_call_retention_days)
        )
        c = api_calls.c
        oldest = sa.select(c.id).where(c.at < cutoff).order_by(c.at).limit(PRUNE_CHUNK).scalar_subquery()
        deleted = 0
        while True:
            with self._writer.begin() as conn:
                n = conn.execute(sa.delete(api_calls).where(c.id.in_(oldest))).rowcount
            deleted += n
            if n < PRUNE_CHUNK:
                return deleted

    # ------------------------------------------------------------------ lookups

    def find(self, scheme_id: str, field: str, where: Mapping[str, Any]) -> Any:
        """``_findCollection``: ``field`` (dotted path ok) of the first record of ``scheme_id`` whose
        content matches every ``where`` item, or None.

        Values compare as text (``5`` matches ``"5"``); None matches a missing or null value. The filter
        runs in SQL (``json_extract`` on SQLite, ``->>`` on PostgreSQL), never over rows in Python.
        """
        r = records.c
        conditions: list[sa.ColumnElement[bool]] = [r.scheme == scheme_id]
        for key, expected in where.items():
            value = sa.cast(r.content[_json_path(key)].as_string(), sa.String)
            if expected is None:
                conditions.append(value.is_(None))
            elif isinstance(expected, bool):
                # JSON true reads back as 'true' on PostgreSQL and as 1 on SQLite
                conditions.append(value.in_(["true", "1"] if expected else ["false", "0"]))
            else:
                conditions.append(value == str(expected))
        query = sa.select(r.content[_json_path(field)]).where(*conditions).order_by(r.id).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()
