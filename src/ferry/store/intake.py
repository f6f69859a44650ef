"""Collect's side of the queue: a page of source records goes into the ledger with ``idCheck`` semantics.

Contract notes:
- A record is in the ledger before anything is sent for it: collect writes it, dispatch claims it.
- One id, one row: ``(scheme, source_id)`` is unique, so a record collected twice (overlapping windows,
  two processes) is taken once (``idCheck``).
- One bad record never fails its page: a record with a value no backend can hold (NaN or ±infinity in
  its content, a NUL character, text that is not Unicode, an id, number or partition over 200
  characters) is stored ``quarantined`` with a reason naming the field and what was wrong, as a
  sanitized copy a person can read (``last_error_type`` ``unstorable``; never sent, never replayed),
  under its own id, or under ``unstorable:<digest of the id>`` when the id itself cannot be stored (a
  reason it already had, a check that failed on the same value, comes first). The
  rest of the page is stored as usual and the watermark moves on. The same on SQLite and PostgreSQL.
- Each call is one short transaction; new records go in with one multi-row INSERT, their events with
  another (on SQLite the values all rows share bound once, :func:`.core.sqlite_rows`), each value
  converted once (:mod:`.codec`).
- PostgreSQL: a table filled faster than autovacuum analyses it (a first backfill, or autovacuum off)
  has no statistics, and its claim plans are guesses (one sorted 100,000 pending rows per claim). As
  PostgreSQL advises after bulk loading, the ledger analyses ``records`` itself once it has inserted
  as many rows as the table held at its last analysis (at least :data:`ANALYZE_AFTER`): a handful of
  short ``ANALYZE`` runs over a backfill, none once the table is large.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa

from ferry.store.core import LedgerCore, chunks, sqlite_rows, utc
from ferry.store.leases import EVENTS_HEAD, INSERT_EVENT
from ferry.store.models import FINAL_STATUSES, UNSTORABLE, CollectCounts, Collected
from ferry.store.pagerows import Row, checked_row

log = logging.getLogger(__name__)

#: PostgreSQL: rows inserted by this ledger before it first analyses ``records`` (see the module notes)
ANALYZE_AFTER = 1_000

_INSERT_COLUMNS = (
    "scheme, source_id, partition, number, content, content_hash, status, reason, draft, attempts, "
    "last_error_type, watch_next_at, watch_until, created_at, updated_at"
)
_EXISTING = "SELECT id, source_id, content_hash, status, last_error_type FROM records WHERE scheme = ? AND source_id IN ({ids})"
# PostgreSQL: one array parameter, so the statement text (parsed, planned and prepared once) never varies;
# one unique-index probe per id of the page (LATERAL), whatever the planner believes of a table that has no
# statistics yet: with ``source_id = ANY(...)`` or a join, a fresh table's plan read the whole scheme
_PG_EXISTING = (
    "SELECT r.id, r.source_id, r.content_hash, r.status, r.last_error_type FROM unnest(%b::varchar[]) AS k(sid) "
    "CROSS JOIN LATERAL (SELECT id, source_id, content_hash, status, last_error_type FROM records "
    "WHERE scheme = %s AND source_id = k.sid LIMIT 1) AS r"
)
#: rows per INSERT: 15 parameters each, well under SQLite's 32,766 and PostgreSQL's 65,535
_INSERT_CHUNK = 500
# PostgreSQL: one short statement over arrays, whatever the page size (the driver parses and the server
# plans a fixed text once, where a multi-row VALUES would be a new, long text per page size); the arrays
# go over in binary (%b), so JSON text needs no array quoting
_PG_INSERT = (
    f"INSERT INTO records ({_INSERT_COLUMNS}) "
    "SELECT %s, s, p, n, c::json, h, st, r, false, 0, e, wn, wu, %s, %s FROM unnest("
    "%b::varchar[], %b::varchar[], %b::varchar[], %b::text[], %b::varchar[], %b::varchar[], %b::text[], "
    "%b::varchar[], %b::timestamptz[], %b::timestamptz[]) AS v(s, p, n, c, h, st, r, e, wn, wu) "
    "RETURNING id, status"
)
_PG_INSERT_EVENTS = (
    "INSERT INTO events (record_id, at, from_status, to_status, reason, detail) "
    "SELECT i, %s, NULL, st, 'collected', NULL FROM unnest(%s::bigint[], %s::varchar[]) AS v(i, st)"
)


#: run inside the transaction that stores a page: (scheme, counts, the driver's connection); raising
#: rolls the page back. The executor sets it to enqueue the page's dispatch in the same transaction.
PageHook = Callable[[str, CollectCounts, Any], None]


class Intake(LedgerCore):
    """``collect``: store one page of source records."""

    on_page_stored: PageHook | None = None

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
        A known id with new content: a ``watching`` record, or one stored as an unstorable copy, takes
        the new content, status and watch times; with ``on_change="rewrite"`` a final record
        (written/skipped/dead/quarantined) takes the new content and status with attempts and errors
        reset (target ids kept, so the target can update the document); a pending or failed record
        takes the new content and keeps its status (it has not been written yet, so the latest content
        should be); anything else (in flight, ``finishing``, ``held``, or final under ``ignore``) is not
        touched and counted as ``ignored``. An id repeated within the page counts once, its last
        occurrence wins, the earlier ones count as ``unchanged``. Values no backend can hold are
        quarantined (see the module notes).
        """
        if on_change not in ("ignore", "rewrite"):
            raise ValueError(f"on_change must be 'ignore' or 'rewrite', not {on_change!r}")
        now = utc(now)
        page: dict[str, Row] = {}
        for item in items:
            row = checked_row(item)
            page[row.source_id] = row
        repeated = len(items) - len(page)
        duplicate = self.engine.dialect.loaded_dbapi.IntegrityError
        for attempt in range(3):
            try:
                with self._cursor() as cur:
                    counts = self._collect_page(cur, scheme, page, on_change, now)
                    if self.on_page_stored is not None:
                        self.on_page_stored(scheme, counts, cur.connection)
            except duplicate:
                # another process inserted one of these ids since our SELECT: go again, those
                # ids now take the update path
                if attempt == 2:
                    raise
                continue
            counts.unchanged += repeated
            if self._pg and counts.new:
                self._analyze_when_grown(counts.new)
            return counts
        raise AssertionError("unreachable")

    @functools.cached_property
    def _growth(self) -> list[int]:
        """PostgreSQL: [rows this ledger inserted since ``records`` was last analysed, rows that
        analysis counted (at least :data:`ANALYZE_AFTER`)]."""
        return [0, ANALYZE_AFTER]

    def _analyze_when_grown(self, inserted: int) -> None:
        growth = self._growth
        growth[0] += inserted
        if growth[0] < growth[1]:
            return
        growth[0] = 0
        try:
            with self.engine.connect() as conn:
                # SKIP_LOCKED: when another worker is analysing the table, its statistics will do
                conn.exec_driver_sql("ANALYZE (SKIP_LOCKED) records")
                rows = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass")
                growth[1] = max(ANALYZE_AFTER, int(rows.scalar_one()))
                conn.commit()
        except sa.exc.SQLAlchemyError as e:  # statistics are a hint: a refused ANALYZE stops nothing
            log.warning("could not analyse the records table: %s", e)

    def _collect_page(
        self,
        cur: Any,
        scheme: str,
        page: Mapping[str, Row],
        on_change: str,
        now: dt.datetime,
    ) -> CollectCounts:
        counts = CollectCounts()
        existing: dict[str, tuple[Any, ...]] = {}
        for chunk in chunks(list(page)):
            if self._pg:
                cur.execute(_PG_EXISTING, (list(chunk), scheme))
            else:
                cur.execute(_EXISTING.format(ids=", ".join("?" * len(chunk))), (scheme, *chunk))
            for row in cur.fetchall():
                existing[row[1]] = row

        at = self._time(now)
        fresh: list[Row] = []
        new_events: list[tuple[Any, ...]] = []
        for source_id, row in page.items():
            old = existing.get(source_id)
            if old is None:
                fresh.append(row)
            elif old[2] == row.content_hash:
                counts.unchanged += 1
            elif self._changed(cur, old, row, on_change, now):
                new_events.append(
                    (
                        old[0],
                        at,
                        old[3],
                        self._changed_to(old, row),
                        self._changed_why(old, row, on_change),
                        f'{{"content_hash":"{row.content_hash}"}}',
                    )
                )
                counts.changed += 1
            else:
                counts.ignored += 1

        for batch in chunks(fresh, _INSERT_CHUNK):
            if self._pg:
                cur.execute(_PG_INSERT, self._pg_columns(scheme, batch, at))
                inserted = cur.fetchall()
                cur.execute(_PG_INSERT_EVENTS, (at, [i for i, _ in inserted], [s for _, s in inserted]))
                counts.new += len(batch)
                continue
            cur.execute(*self._sqlite_insert(scheme, batch, at))
            inserted = cur.fetchall()
            # the new rows' events in one statement: (?1 the time, then each row's id and status)
            cur.execute(
                sqlite_rows(EVENTS_HEAD, "({}, ?1, NULL, {}, 'collected', NULL)", len(inserted)),
                [at, *itertools.chain.from_iterable(inserted)],
            )
            counts.new += len(batch)
        if new_events:
            cur.executemany(self._sql(INSERT_EVENT), new_events)
        return counts

    def _sqlite_insert(self, scheme: str, batch: Sequence[Row], at: Any) -> tuple[str, list[Any]]:
        """SQLite: the INSERT of a page's new rows and its parameters. ``?1`` the scheme, ``?2`` the
        time, then each row's own values. The reason, error type and watch times are NULL for most
        new rows: a column no row of the page has a value for is written NULL, not bound per row."""
        time = self._time
        optional = [
            [row.reason for row in batch],
            [row.error_type for row in batch],
            [time(row.watch_next_at) for row in batch],
            [time(row.watch_until) for row in batch],
        ]
        present = [any(value is not None for value in column) for column in optional]
        values: list[Any] = [scheme, at]
        bound = [column for column, used in zip(optional, present, strict=True) if used]
        for index, row in enumerate(batch):
            values += (row.source_id, row.partition, row.number, row.content, row.content_hash, row.status)
            values += [column[index] for column in bound]
        reason, error_type, watch_next, watch_until = ("{}" if used else "NULL" for used in present)
        template = (
            f"(?1, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {reason}, 0, 0, {error_type}, {watch_next}, "
            f"{watch_until}, ?2, ?2)"
        )
        head = f"INSERT INTO records ({_INSERT_COLUMNS}) VALUES "
        return sqlite_rows(head, template, len(batch), 3, " RETURNING id, status"), values

    @staticmethod
    def _pg_columns(scheme: str, batch: Sequence[Row], at: Any) -> tuple[Any, ...]:
        return (
            scheme,
            at,
            at,
            [row.source_id for row in batch],
            [row.partition for row in batch],
            [row.number for row in batch],
            [row.content for row in batch],
            [row.content_hash for row in batch],
            [row.status for row in batch],
            [row.reason for row in batch],
            [row.error_type for row in batch],
            [row.watch_next_at for row in batch],
            [row.watch_until for row in batch],
        )

    @staticmethod
    def _takes_item_status(old: tuple[Any, ...], row: Row, on_change: str) -> bool:
        status, error_type = old[3], old[4]
        return (
            status == "watching"
            or (status == "quarantined" and error_type == UNSTORABLE)
            # a pending or failed record must not keep its status with a copy that cannot be sent
            or (status in ("pending", "failed") and row.error_type == UNSTORABLE)
            or (on_change == "rewrite" and status in FINAL_STATUSES)
        )

    def _changed_to(self, old: tuple[Any, ...], row: Row) -> str:
        return row.status if old[3] not in ("pending", "failed") or row.error_type == UNSTORABLE else old[3]

    @staticmethod
    def _changed_why(old: tuple[Any, ...], row: Row, on_change: str) -> str:
        if old[3] in FINAL_STATUSES and not (old[3] == "quarantined" and old[4] == UNSTORABLE):
            return "changed at source, rewrite"
        return "changed at source"

    def _changed(self, cur: Any, old: tuple[Any, ...], row: Row, on_change: str, now: dt.datetime) -> bool:
        """Store a known record's new content where the rules allow it; True if it was stored."""
        record_id, _, _, status, _ = old
        columns = ["content = ?json", "content_hash = ?", "number = ?", "updated_at = ?"]
        values: list[Any] = [row.content, row.content_hash, row.number, self._time(now)]
        if self._takes_item_status(old, row, on_change):
            columns += [
                "status = ?",
                "reason = ?",
                "last_error_type = ?",
                "watch_next_at = ?",
                "watch_until = ?",
            ]
            values += [
                row.status,
                row.reason,
                row.error_type,
                self._time(row.watch_next_at),
                self._time(row.watch_until),
            ]
            if status != "watching":
                columns.append(
                    "attempts = 0, next_attempt_at = NULL, last_error_code = NULL, last_error_message = NULL"
                )
        elif status not in ("pending", "failed"):
            return False
        # only if the status is still the one we decided on: on PostgreSQL a claim may have taken
        # the record since our SELECT, and an in-flight record must keep its content
        cur.execute(
            self._sql(f"UPDATE records SET {', '.join(columns)} WHERE id = ? AND status = ?"),
            (*values, record_id, status),
        )
        return bool(cur.rowcount)
