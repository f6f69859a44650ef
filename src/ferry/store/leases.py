"""Dispatch's side of the queue: claim due records under a fenced lease, store outcomes, renew, release.

Contract notes:
- A record is dispatched by one owner at a time: a claim sets ``writing`` with a lease and a fresh
  ``lease_token`` (a random 63-bit integer, unique per claim across processes).
- An outcome applies only under its own lease token: ``finish``, ``renew`` and ``release`` touch a
  record only while it is ``writing`` under the same owner *and* token it was claimed with, and report
  what they did not apply. A worker whose lease ran out and was taken over is fenced out: its late
  outcome changes nothing. A live worker keeps its batch with :meth:`Leases.renew`.
- A lease that expired while ``writing`` means a worker died mid-write: the next claim says
  ``needs_probe`` because the target may already hold the document (unless the record was claimed
  from ``finishing``: the target is known to hold it, and the claim says ``finishing`` again).
- ``held`` records are never claimed; ``finishing`` ones are, when due, like ``failed``.
- Each method is one short transaction. On SQLite it takes the write lock at BEGIN (``BEGIN
  IMMEDIATE``); on PostgreSQL a claim is one statement whose candidates are locked ``FOR UPDATE SKIP
  LOCKED``, so workers claim side by side. Claim and finish run hand-written statements on the driver's
  cursor, values converted once each (:mod:`.codec`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from ferry.store.codec import (
    KEY_LIMIT,
    clean_optional,
    decode_json,
    digest,
    encode_checked,
    encode_json,
)
from ferry.store.core import LedgerCore, chunks, detail, utc
from ferry.store.models import PROBE_STATUSES, RETRY_STATUSES, STATUSES, Claimed, Outcome
from ferry.store.schema import events, records

#: a stored target response larger than this (as JSON text) is cut down to its head
RESPONSE_LIMIT = 32_768
_OUTCOME_STATUSES = frozenset(STATUSES) - {"writing"}
#: a lease handed back: (record id, lease token), or the Claimed that carries both
LeaseRef = Claimed | tuple[int, int]

_GROUP = "SELECT id, lease_owner, status FROM records WHERE scheme = {scheme} AND {condition} ORDER BY {order} LIMIT {limit}"


def _due_groups(now: str) -> list[tuple[str, str]]:
    """The claimable groups with the order each is taken in. Each is queried on its own so that each
    walks an index (``ix_records_queue`` or ``ix_records_claim``) and stops after ``limit`` rows, however
    many records wait or back off."""
    groups = [("status = 'pending'", "id")]
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
    for i, (condition, order) in enumerate(_due_groups("%(now)s"))
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

_FINISH_HELD = "SELECT id, attempts, lease_token, target_id FROM records WHERE id IN ({ids}) AND status = 'writing' AND lease_owner = ?"
_FINISH_UPDATE = (
    "UPDATE records SET status = ?, reason = ?, draft = ?, attempts = ?, next_attempt_at = ?, "
    "last_error_type = ?, last_error_code = ?, last_error_message = ?, "
    "target_id = coalesce(?, target_id), target_number = coalesce(?, target_number), "
    "request = coalesce(?json, request), response = coalesce(?json, response), "
    "content = coalesce(?json, content), content_hash = coalesce(?, content_hash), "
    "watch_next_at = coalesce(?, watch_next_at), watch_until = coalesce(?, watch_until), "
    "lease_owner = NULL, lease_expires_at = NULL, lease_prev_status = NULL, lease_token = NULL, "
    "updated_at = ? WHERE id = ? AND lease_token = ?"
)
# PostgreSQL: a batch's outcomes and their events in one statement over binary arrays (one round trip,
# one fixed statement text); the rows are already locked by the SELECT ... FOR UPDATE before it
_PG_FINISH = (
    "WITH v AS (SELECT * FROM unnest(%b::varchar[], %b::text[], %b::bool[], %b::int[], %b::timestamptz[], "
    "%b::varchar[], %b::varchar[], %b::text[], %b::varchar[], %b::varchar[], %b::text[], %b::text[], %b::text[], "
    "%b::varchar[], %b::timestamptz[], %b::timestamptz[], %b::bigint[], %b::bigint[]) AS v(status, reason, "
    "draft, attempts, next_attempt_at, etype, ecode, emsg, tid, tnum, req, resp, content, chash, wnext, "
    "wuntil, id, token)), "
    "done AS (UPDATE records r SET status = v.status, reason = v.reason, draft = v.draft, attempts = v.attempts, "
    "next_attempt_at = v.next_attempt_at, last_error_type = v.etype, last_error_code = v.ecode, "
    "last_error_message = v.emsg, target_id = coalesce(v.tid, r.target_id), "
    "target_number = coalesce(v.tnum, r.target_number), request = coalesce(v.req::json, r.request), "
    "response = coalesce(v.resp::json, r.response), content = coalesce(v.content::json, r.content), "
    "content_hash = coalesce(v.chash, r.content_hash), watch_next_at = coalesce(v.wnext, r.watch_next_at), "
    "watch_until = coalesce(v.wuntil, r.watch_until), lease_owner = NULL, lease_expires_at = NULL, "
    "lease_prev_status = NULL, lease_token = NULL, updated_at = %b FROM v "
    "WHERE r.id = v.id AND r.lease_token = v.token AND r.status = 'writing' RETURNING r.id) "
    "INSERT INTO events (record_id, at, from_status, to_status, reason, detail) "
    "SELECT e.id, %b, 'writing', e.status, e.reason, e.detail::json "
    "FROM unnest(%b::bigint[], %b::varchar[], %b::text[], %b::text[]) AS e(id, status, reason, detail) "
    "WHERE e.id IN (SELECT id FROM done)"
)
_INSERT_EVENT = (
    "INSERT INTO events (record_id, at, from_status, to_status, reason, detail) VALUES (?, ?, ?, ?, ?, ?json)"
)


def _response_text(response: Any) -> tuple[str, list[str]]:
    """The response as stored: canonical JSON, sanitized if need be, a huge body cut to its head."""
    text, problems = encode_checked(response, "response")
    if len(text) > RESPONSE_LIMIT:
        text = encode_json({"truncated": True, "size": len(text), "head": text[:RESPONSE_LIMIT]})
    return text, problems


def _text(value: str | None, limit: int | None = None) -> str | None:
    """Outcome text as a column holds it; short ASCII text (the common case) as it is."""
    if value is None or (
        type(value) is str
        and value.isascii()
        and "\x00" not in value
        and (limit is None or len(value) <= limit)
    ):
        return value
    return clean_optional(value, limit)


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
    """``claim``, ``finish``, ``renew``, ``release`` and ``release_all``."""

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

        Due: ``pending``; ``failed``, ``in_doubt`` or ``finishing`` whose ``next_attempt_at`` has come
        (or is unset); ``writing`` whose lease expired (its worker died; the claim says
        ``needs_probe``). Never ``held`` or ``watching``. Atomic across threads and processes: a record
        is never handed to two live owners. Every record of one claim carries the claim's fresh
        ``lease_token``.
        """
        if limit <= 0:
            return []
        now = utc(now)
        expires = now + dt.timedelta(seconds=lease_seconds)
        token = secrets.randbits(63)
        at, until = self._time(now), self._time(expires)
        with self._cursor() as cur:
            if self._pg:
                cur.execute(
                    _PG_CLAIM,
                    {
                        "scheme": scheme,
                        "now": at,
                        "limit": limit,
                        "owner": owner,
                        "expires": until,
                        "token": token,
                    },
                )
                rows = cur.fetchall()
                before = {row[0]: (row[10], row[11]) for row in rows}
            else:
                cur.execute(_SQLITE_CANDIDATES, {"scheme": scheme, "now": at, "limit": limit})
                found = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
                ids = sorted(found)[:limit]
                if not ids:
                    return []
                before = {record_id: found[record_id] for record_id in ids}
                cur.execute(
                    _SQLITE_LEASE.format(ids=", ".join("?" * len(ids))), (owner, until, token, at, *ids)
                )
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
                cur.executemany(self._sql(_INSERT_EVENT), takeovers)
        claimed = [
            Claimed(
                id=row[0],
                scheme=row[1],
                source_id=row[2],
                number=row[3],
                content=decode_json(row[4]),
                attempts=row[5],
                previous_status=row[6],
                target_id=row[7],
                target_number=row[8],
                request=decode_json(row[9]),
                needs_probe=row[6] in PROBE_STATUSES,
                lease_token=token,
            )
            for row in rows
        ]
        claimed.sort(key=lambda c: c.id)
        return claimed

    def finish(self, owner: str, outcomes: Sequence[Outcome], *, now: dt.datetime | None = None) -> list[int]:
        """Store a batch's outcomes in one transaction; returns the ids NOT applied (lease lost).

        An outcome applies only while its record is ``writing`` under ``owner`` and the outcome's own
        ``lease_token``; others are left exactly as they are. Applied records lose their lease and get
        one event each. A ``finishing`` outcome must name the document (``target_id``). Text the
        columns cannot hold (NUL, over-long codes) is cleaned; a request or response holding NaN or NUL
        is stored sanitized, with what was wrong in the event.
        """
        now = utc(now)
        by_id: dict[int, Outcome] = {}
        for outcome in outcomes:
            if outcome.status not in _OUTCOME_STATUSES:
                raise ValueError(f"record {outcome.record_id}: {outcome.status!r} is not an outcome status")
            if outcome.status == "finishing" and outcome.target_id is None:
                raise ValueError(
                    f"record {outcome.record_id}: a finishing outcome names the target document (target_id)"
                )
            by_id[outcome.record_id] = outcome
        if not by_id:
            return []
        at = self._time(now)
        with self._cursor() as cur:
            held: dict[int, int] = {}
            for chunk in chunks(list(by_id)):
                query = _FINISH_HELD.format(ids=", ".join("?" * len(chunk)))
                cur.execute(self._sql(query + (" FOR UPDATE" if self._pg else "")), (*chunk, owner))
                for record_id, attempts, token, _target in cur.fetchall():
                    if token is not None and token == by_id[record_id].lease_token:
                        held[record_id] = attempts
            lost = [record_id for record_id in by_id if record_id not in held]
            updates: list[tuple[Any, ...]] = []
            new_events: list[tuple[Any, ...]] = []
            for record_id, stored_attempts in held.items():
                o = by_id[record_id]
                update, event = self._outcome_rows(o, owner, stored_attempts, at)
                updates.append(update)
                new_events.append(event)
            if updates and self._pg:
                columns = [list(column) for column in zip(*updates, strict=True)]
                event_columns = [list(column) for column in zip(*new_events, strict=True)]
                cur.execute(
                    _PG_FINISH,
                    (
                        *columns[:16],
                        columns[17],  # ids
                        columns[18],  # lease tokens
                        at,
                        at,
                        event_columns[0],
                        event_columns[3],
                        event_columns[4],
                        event_columns[5],
                    ),
                )
            elif updates:
                cur.executemany(_FINISH_UPDATE.replace("?json", "?"), updates)
                cur.executemany(_INSERT_EVENT.replace("?json", "?"), new_events)
        return lost

    def _outcome_rows(
        self, o: Outcome, owner: str, stored_attempts: int, at: Any
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The UPDATE parameters and the event row of one applied outcome."""
        attempts = stored_attempts + (1 if o.count_attempt else 0)
        problems: list[str] = []
        request = response = content = content_digest = None
        if o.request is not None:
            request, found = encode_checked(o.request, "request")
            problems += found
        if o.response is not None:
            response, found = _response_text(o.response)
            problems += found
        if o.content is not None:
            content, found = encode_checked(o.content, "content")
            problems += found
            content_digest = digest(content)
        reason = _text(o.reason)
        error_message = _text(o.error_message)
        target_id = _text(o.target_id, KEY_LIMIT)
        target_number = _text(o.target_number, KEY_LIMIT)
        time = self._time
        update = (
            o.status,
            reason,
            bool(o.draft),
            attempts,
            None if o.next_attempt_at is None else time(o.next_attempt_at),
            _text(o.error_type, 40),
            _text(o.error_code, KEY_LIMIT),
            error_message,
            target_id,
            target_number,
            request,
            response,
            content,
            content_digest,
            None if o.watch_next_at is None else time(o.watch_next_at),
            None if o.watch_until is None else time(o.watch_until),
            at,
            o.record_id,
            o.lease_token,
        )
        event_detail: dict[str, Any] = {"owner": owner, "attempts": attempts}
        for key, value in (
            ("error_type", o.error_type),
            ("error_code", o.error_code),
            ("error_message", error_message[:2000] if error_message else None),
            ("target_id", target_id),
            ("target_number", target_number),
            ("target_id_cut", o.target_id if target_id != o.target_id else None),
            ("draft", o.draft or None),
            ("unstorable", problems or None),
        ):
            if value is not None:
                event_detail[key] = value
        return update, (o.record_id, at, "writing", o.status, reason, encode_json(event_detail))

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
        with self._writer.begin() as conn:
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
        with self._writer.begin() as conn:
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
