"""Dispatch's side of the queue: claim due records under a fenced lease, renew it, release it.

Contract notes:
- A record is dispatched by one owner at a time: a claim sets ``writing`` with a lease and a fresh
  ``lease_token`` (a random 63-bit integer, unique per claim across processes).
- An outcome applies only under its own lease token: ``finish`` (:mod:`.outcomes`), ``renew`` and
  ``release`` touch a record only while it is ``writing`` under the same owner *and* token it was
  claimed with, and report what they did not apply. A worker whose lease ran out and was taken over is fenced out: its late
  outcome changes nothing. A live worker keeps its batch with :meth:`Leases.renew`.
- A lease that expired while ``writing`` means a worker died mid-write: the next claim says
  ``needs_probe`` because the target may already hold the document (unless the record was claimed
  from ``finishing``: the target is known to hold it, and the claim says ``finishing`` again).
- ``held`` records are never claimed; ``finishing`` ones are, when due, like ``failed``.
- Each method is one short transaction. On SQLite it takes the write lock at BEGIN (``BEGIN
  IMMEDIATE``); on PostgreSQL a claim is one statement whose candidates are locked ``FOR UPDATE SKIP
  LOCKED``, so workers claim side by side. A claim runs hand-written statements on the driver's cursor,
  values converted once each (:mod:`.codec`).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ferry.store.codec import decode_json, encode_json
from ferry.store.core import LedgerCore, chunks, detail, utc
from ferry.store.facts import write_facts
from ferry.store.models import PROBE_STATUSES, RETRY_STATUSES, Claimed, claimed_row
from ferry.store.schema import events, records

#: how long a PostgreSQL claim may look for pending records from its floor before it looks from the start
FLOOR_SECONDS = 30.0
#: a lease handed back: (record id, lease token), or the Claimed that carries both
LeaseRef = Claimed | tuple[int, int]
#: the facts a claim stores for its records, by record id (``ferry.quality.Fact``-like values)
FactsHook = Callable[[Sequence[Claimed]], Mapping[int, Sequence[Any]]]

_GROUP = "SELECT id, lease_owner, status FROM records WHERE scheme = {scheme} AND {condition} ORDER BY {order} LIMIT {limit}"


def _due_groups(now: str, floor: str | None = None) -> list[tuple[str, str]]:
    """The claimable groups with the order each is taken in. Each is queried on its own so that each
    walks an index (``ix_records_queue`` or ``ix_records_claim``) and stops after ``limit`` rows, however
    many records wait or back off. ``floor``: pending records are looked for from that id on."""
    groups = [("status = 'pending'" + (f" AND id >= {floor}" if floor else ""), "id")]
    for status in RETRY_STATUSES:
        groups.append((f"status = '{status}' AND next_attempt_at IS NULL", "id"))
        # earliest due first: a range on ix_records_claim, not a scan of everything backing off
        groups.append((f"status = '{status}' AND next_attempt_at <= {now}", "next_attempt_at"))
    # a crashed worker's claim
    groups.append((f"status = 'writing' AND (lease_expires_at IS NULL OR lease_expires_at < {now})", "id"))
    return groups


#: the status a claim remembers: a takeover of a lease taken from ``finishing`` stays a finishing claim
_PREV_STATUS = (
    "CASE WHEN status = 'writing' AND lease_prev_status = 'finishing' THEN 'finishing' ELSE status END"
)
_CLAIMED_COLUMNS = (
    "id, scheme, source_id, number, content, attempts, lease_prev_status, target_id, target_number, request"
)

# SQLite: the write lock taken at BEGIN IMMEDIATE excludes other claimers, so candidates are read in one
# query and leased by id.
_SQLITE_CANDIDATES = " UNION ALL ".join(
    "SELECT * FROM ("
    + _GROUP.format(scheme=":scheme", condition=condition, order=order, limit=":limit")
    + ")"
    for condition, order in _due_groups(":now")
)
_SQLITE_LEASE = (
    "UPDATE records SET status = 'writing', lease_owner = ?, lease_expires_at = ?, lease_token = ?, "
    f"lease_prev_status = {_PREV_STATUS}, updated_at = ? WHERE id IN ({{ids}}) RETURNING {_CLAIMED_COLUMNS}"
)

# PostgreSQL: one statement. Each group locks its candidates FOR UPDATE SKIP LOCKED (other claimers skip
# them instead of waiting; FOR UPDATE cannot go in a UNION), the lowest ids are leased.
_PG_GROUPS = [
    f"g{i} AS ("
    + _GROUP.format(scheme="%(scheme)s", condition=condition, order=order, limit="%(limit)s")
    + " FOR UPDATE SKIP LOCKED)"
    for i, (condition, order) in enumerate(_due_groups("%(now)s", floor="%(floor)s"))
]
_PG_CLAIM = (
    "WITH "
    + ", ".join(_PG_GROUPS)
    + ", chosen AS (SELECT id, lease_owner, status FROM ("
    + " UNION ALL ".join(f"SELECT * FROM g{i}" for i in range(len(_PG_GROUPS)))
    + ") c ORDER BY id LIMIT %(limit)s) "
    "UPDATE records r SET status = 'writing', lease_owner = %(owner)s, lease_expires_at = %(expires)s, "
    "lease_token = %(token)s, lease_prev_status = CASE WHEN r.status = 'writing' "
    "AND r.lease_prev_status = 'finishing' THEN 'finishing' ELSE r.status END"
    + ", updated_at = %(now)s FROM chosen WHERE r.id = chosen.id RETURNING r.id, r.scheme, r.source_id, "
    "r.number, r.content::text, r.attempts, r.lease_prev_status, r.target_id, r.target_number, "
    "r.request::text, chosen.lease_owner, chosen.status"
)

#: an INSERT of events up to its rows (SQLite's multi-row ones, :func:`.core.sqlite_rows`)
EVENTS_HEAD = "INSERT INTO events (record_id, at, from_status, to_status, reason, detail) VALUES "
#: one event row (its detail a JSON text); :mod:`.intake` uses it too
INSERT_EVENT = EVENTS_HEAD + "(?, ?, ?, ?, ?, ?json)"


def _lease_pairs(leases: Iterable[LeaseRef]) -> dict[int, int]:
    pairs: dict[int, int] = {}
    for lease in leases:
        if isinstance(lease, Claimed):
            pairs[lease.id] = lease.lease_token
        else:
            record_id, token = lease
            pairs[int(record_id)] = int(token)
    return pairs


class Leases(LedgerCore):
    """``claim``, ``renew``, ``release`` and ``release_all``."""

    @functools.cached_property
    def _pending_floors(self) -> dict[str, tuple[int, float]]:
        """PostgreSQL: per scheme, the id past this ledger's last claim of pending records, and since
        when. Every claim and outcome leaves a dead row version in ``ix_records_queue`` until a vacuum
        removes it; starting the pending scan past the ids just claimed keeps a claim from stepping over
        all of them (it grew to 20 ms a claim at 30,000 records without autovacuum). It is a hint: a
        claim that finds fewer than it may take looks from the start too, and so does the first claim
        after :data:`FLOOR_SECONDS`, so a record that comes back to pending below it (released,
        replayed) waits at most that long."""
        return {}

    def _pg_claim(self, cur: Any, scheme: str, params: dict[str, Any], limit: int) -> list[Any]:
        floor, since = self._pending_floors.get(scheme, (0, 0.0))
        if time.monotonic() - since > FLOOR_SECONDS:
            floor = 0
        cur.execute(_PG_CLAIM, {**params, "scheme": scheme, "limit": limit, "floor": floor})
        rows: list[Any] = cur.fetchall()
        if floor and len(rows) < limit:
            # the records leased above are writing under a live lease now: not taken twice
            cur.execute(_PG_CLAIM, {**params, "scheme": scheme, "limit": limit - len(rows), "floor": 0})
            rows += cur.fetchall()
            floor = 0
        pending = [row[0] for row in rows if row[11] == "pending"]
        if pending:
            self._pending_floors[scheme] = (max(pending) + 1, since if floor else time.monotonic())
        return rows

    def claim(
        self,
        scheme: str,
        *,
        owner: str,
        limit: int,
        lease_seconds: float,
        now: dt.datetime | None = None,
        facts: FactsHook | None = None,
    ) -> list[Claimed]:
        """Lease up to ``limit`` due records to ``owner`` (status ``writing``), lowest ids first.

        Due: ``pending``; ``failed``, ``in_doubt`` or ``finishing`` whose ``next_attempt_at`` has come
        (or is unset); ``writing`` whose lease expired (its worker died; the claim says
        ``needs_probe``). Never ``held`` or ``watching``. Atomic across threads and processes: a record
        is never handed to two live owners. Every record of one claim carries the claim's fresh
        ``lease_token``.

        ``facts`` (the quality checks' history, see :mod:`.facts`) is called with the claimed records
        and its facts are stored in the claim's transaction: the batch's facts cost no transaction of
        their own, and they are visible to other workers as soon as the records are ``writing``.
        """
        if limit <= 0:
            return []
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        with self._cursor() as cur:
            return self._claim_in(cur, scheme, owner, limit, lease_seconds, now, facts)

    def _claim_in(
        self,
        cur: Any,
        scheme: str,
        owner: str,
        limit: int,
        lease_seconds: float,
        now: dt.datetime | None,
        facts: FactsHook | None,
    ) -> list[Claimed]:
        """:meth:`claim` inside the transaction of ``cur`` (``finish_and_claim`` shares one)."""
        now = utc(now)
        expires = now + dt.timedelta(seconds=lease_seconds)
        token = secrets.randbits(63)
        at, until = self._time(now), self._time(expires)
        if self._pg:
            rows = self._pg_claim(
                cur, scheme, {"now": at, "owner": owner, "expires": until, "token": token}, limit
            )
            before = {row[0]: (row[10], row[11]) for row in rows}
        else:
            cur.execute(_SQLITE_CANDIDATES, {"scheme": scheme, "now": at, "limit": limit})
            found = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
            ids = sorted(found)[:limit]
            if not ids:
                return []
            before = {record_id: found[record_id] for record_id in ids}
            cur.execute(_SQLITE_LEASE.format(ids=", ".join("?" * len(ids))), (owner, until, token, at, *ids))
            rows = cur.fetchall()
        takeovers = [
            (
                row[0],
                at,
                "writing",
                "writing",
                f"lease of {before[row[0]][0]} expired; taken over by {owner}",
                encode_json(detail(previous_owner=before[row[0]][0], owner=owner)),
            )
            for row in rows
            if before[row[0]][1] == "writing"
        ]
        if takeovers:
            cur.executemany(self._sql(INSERT_EVENT), takeovers)
        claimed = [
            claimed_row(
                row[0],
                row[1],
                row[2],
                row[3],
                decode_json(row[4]),
                row[5],
                row[6],
                row[7],
                row[8],
                decode_json(row[9]),
                row[6] in PROBE_STATUSES,
                token,
            )
            for row in rows
        ]
        claimed.sort(key=lambda c: c.id)
        if facts is not None and claimed:
            write_facts(cur, self, scheme, facts(claimed))
        return claimed

    def renew(
        self,
        owner: str,
        leases: Iterable[LeaseRef],
        lease_seconds: float,
        *,
        now: dt.datetime | None = None,
    ) -> list[int]:
        """Extend a batch's leases to now + ``lease_seconds`` in one statement; returns the ids NOT
        renewed (taken over, finished or released meanwhile: stop working on those).

        ``leases`` are the :class:`Claimed` records of a claim or ``(record_id, lease_token)`` pairs.
        A lease that ran out but was not taken over yet is renewed: nobody else holds it.
        """
        pairs = _lease_pairs(leases)
        if not pairs:
            return []
        now = utc(now)
        r = records.c
        renewed: set[int] = set()
        with self._write() as conn:
            for chunk in chunks(list(pairs.items())):
                result = conn.execute(
                    sa.update(records)
                    .where(
                        sa.tuple_(r.id, r.lease_token).in_(chunk),
                        r.status == "writing",
                        r.lease_owner == owner,
                    )
                    .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
                    .returning(r.id)
                )
                renewed.update(result.scalars())
        return [record_id for record_id in pairs if record_id not in renewed]

    def release(self, owner: str, leases: Iterable[LeaseRef], *, now: dt.datetime | None = None) -> list[int]:
        """Give back claimed records that were not sent; returns the ids NOT released (lease lost).

        They become due at once: ``in_doubt`` again if they needed a probe (claimed from ``in_doubt``
        or from a crashed writer's lease), ``finishing`` if claimed from ``finishing`` (the target holds
        the document), else ``pending``.
        """
        pairs = _lease_pairs(leases)
        if not pairs:
            return []
        r = records.c
        released: set[int] = set()
        for chunk in chunks(list(pairs.items())):
            released.update(self._release_where(owner, sa.tuple_(r.id, r.lease_token).in_(chunk), now))
        return [record_id for record_id in pairs if record_id not in released]

    def release_all(self, owner: str, *, now: dt.datetime | None = None) -> int:
        """Give back every record ``owner`` holds (at shutdown); returns how many.

        Fenced by owner only: use an owner name no other live worker shares (a process's own).
        """
        return len(self._release_where(owner, sa.true(), now))

    def _release_where(self, owner: str, which: sa.ColumnElement[bool], now: dt.datetime | None) -> list[int]:
        now = utc(now)
        r = records.c
        back = sa.case(
            (r.lease_prev_status.in_(sorted(PROBE_STATUSES)), "in_doubt"),
            (r.lease_prev_status == "finishing", "finishing"),
            else_="pending",
        )
        with self._write() as conn:
            rows = conn.execute(
                sa.update(records)
                .where(which, r.status == "writing", r.lease_owner == owner)
                .values(
                    status=back,
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    lease_prev_status=None,
                    lease_token=None,
                    updated_at=now,
                )
                .returning(r.id, r.status)
            ).all()
            if rows:
                conn.execute(
                    sa.insert(events),
                    [
                        {
                            "record_id": row.id,
                            "at": now,
                            "from_status": "writing",
                            "to_status": row.status,
                            "reason": f"released by {owner}",
                            "detail": None,
                        }
                        for row in rows
                    ],
                )
        return [row.id for row in rows]
