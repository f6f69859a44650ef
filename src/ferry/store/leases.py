"""Dispatch's side of the queue: claim due records under a lease, store their outcomes, renew, release.

Contract notes:
- A record is dispatched by one owner at a time: a claim sets ``writing`` with a lease; outcomes apply
  only while the lease is still the owner's, so a worker that lost its lease cannot overwrite the one
  that took over.
- A lease that expired while ``writing`` means a worker died mid-write: the next claim says
  ``needs_probe`` because the target may already hold the document.
- On SQLite every write transaction takes the write lock at BEGIN (``BEGIN IMMEDIATE``), on
  PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from ferry.store.core import LedgerCore, chunks, detail, utc
from ferry.store.db import json_dumps
from ferry.store.models import PROBE_STATUSES, STATUSES, Claimed, Outcome, content_hash
from ferry.store.schema import UTCDateTime, events, records

#: a stored target response larger than this (as JSON text) is cut down to its head
RESPONSE_LIMIT = 32_768
_OUTCOME_STATUSES = frozenset(STATUSES) - {"writing"}


def _small(response: Any) -> Any:
    """Keep stored responses small: a huge body is replaced by its head."""
    text = json_dumps(response)
    if len(text) <= RESPONSE_LIMIT:
        return response
    return {"truncated": True, "size": len(text), "head": text[:RESPONSE_LIMIT]}


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


class Leases(LedgerCore):
    """``claim``, ``finish``, ``renew`` and ``release``."""

    @functools.cached_property
    def _claim_sql(self) -> tuple[list[sa.Executable], sa.Executable]:
        # the claim runs many times a second: build its statements once per ledger
        return _claim_statements(self._pg)

    @functools.cached_property
    def _finish_updates(self) -> dict[tuple[str, ...], sa.Executable]:
        return {}

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
        now = utc(now)
        expires = now + dt.timedelta(seconds=lease_seconds)
        with self._writer.begin() as conn:
            candidates: dict[int, str | None] = {}
            for query in self._claim_sql[0]:
                for row in conn.execute(query, {"scheme": scheme, "now": now, "limit": limit}):
                    candidates[row.id] = row.lease_owner
            ids = sorted(candidates)[:limit]
            if not ids:
                return []
            claimed = conn.execute(
                self._claim_sql[1], {"ids": ids, "owner": owner, "expires": expires, "now": now}
            ).all()
            takeovers = [
                {
                    "record_id": row.id,
                    "at": now,
                    "from_status": "writing",
                    "to_status": "writing",
                    "reason": f"lease of {candidates.get(row.id)} expired; taken over by {owner}",
                    "detail": detail(previous_owner=candidates.get(row.id), owner=owner),
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
        now = utc(now)
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
            for chunk in chunks(list(by_id)):
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
                        "detail": detail(
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
        now = utc(now)
        r = records.c
        renewed = 0
        with self._writer.begin() as conn:
            for chunk in chunks(list(record_ids)):
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
        now = utc(now)
        r = records.c
        with self._writer.begin() as conn:
            held = sa.and_(r.status == "writing", r.lease_owner == owner)
            rows: list[Any] = []
            slices: Iterable[Sequence[int] | None] = (
                [None] if record_ids is None else chunks(list(record_ids))
            )
            for chunk in slices:
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
                for chunk_ids in chunks(ids):
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
