"""Storing what dispatch learned: ``finish`` applies a batch's outcomes under their lease tokens.

Contract notes:
- An outcome applies only under its own lease token: a record changes only while it is ``writing``
  under the same owner *and* the token of the claim that handed it out; ``finish`` returns the ids it
  did not apply (the lease was lost: another worker took the record over, or it was released).
- ``None`` in an outcome's target ids, request, response, content and watch times keeps the stored
  value, so a record that holds a target document never loses it. A ``finishing`` outcome must name
  the document.
- One bad answer never fails the batch: text the columns cannot hold (NUL, over-long codes) is cleaned,
  a request or response holding NaN or NUL is stored sanitized with what was wrong in the event, a
  huge response is cut to its head.
- One short transaction: a SELECT of the batch's rows (``FOR UPDATE`` on PostgreSQL), then on SQLite
  one ``executemany`` for the rows of each shape (which optional columns have values; usually one) and
  one multi-row INSERT for their events (:func:`.core.sqlite_rows`), on PostgreSQL one statement over
  binary arrays for both.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from itertools import compress, product
from operator import is_not
from typing import Any

from ferry.store.codec import KEY_LIMIT, clean_optional, digest, encode_checked, encode_json
from ferry.store.core import LedgerCore, chunks, sqlite_rows, utc
from ferry.store.findings import INSERT_FINDING, BatchFindings, finding_rows
from ferry.store.leases import EVENTS_HEAD
from ferry.store.models import STATUSES, Outcome

#: a stored target response larger than this (as JSON text) is cut down to its head
RESPONSE_LIMIT = 32_768
_OUTCOME_STATUSES = frozenset(STATUSES) - {"writing"}

_FINISH_HELD = "SELECT id, attempts, lease_token, target_id FROM records WHERE id IN ({ids}) AND status = 'writing' AND lease_owner = ?"
#: the columns an outcome leaves as they are stored when its value is None (see :class:`Outcome`), in
#: the order of the UPDATE parameters built by :meth:`Outcomes._outcome_rows`
_KEPT_WHEN_NONE = (
    "target_id",
    "target_number",
    "request",
    "response",
    "content",
    "content_hash",
    "watch_next_at",
    "watch_until",
)


#: the columns an outcome sets to NULL when its value is None (a written record clears the last
#: error), in the order of the UPDATE parameters; SQLite writes those NULLs into the statement
_CLEARED_WHEN_NONE = ("next_attempt_at", "last_error_type", "last_error_code", "last_error_message")
_NONES = (None,) * (len(_CLEARED_WHEN_NONE) + len(_KEPT_WHEN_NONE))
#: the shape of a plain outcome (no error, retry time, response, content or watch times; see
#: :meth:`Outcomes._plain_rows`) by whether it sets its target id, target number and request
_PLAIN_SHAPES = {
    flags: (False,) * len(_CLEARED_WHEN_NONE) + flags + (False,) * (len(_KEPT_WHEN_NONE) - 3)
    for flags in product((False, True), repeat=3)
}


@functools.lru_cache(maxsize=64)
def _sqlite_finish(shape: tuple[bool, ...]) -> str:
    """SQLite: the UPDATE of the outcomes whose optional values are present as in ``shape`` (one flag
    per column of :data:`_CLEARED_WHEN_NONE`, then of :data:`_KEPT_WHEN_NONE`). A kept column whose
    value is None is left out rather than set to ``coalesce(NULL, column)``, a cleared one is set to a
    NULL written in the statement: the same row, but SQLite pays for every column it assigns and every
    value bound (``bench/bench_finish.py`` prints a written outcome's beside the obvious one)."""
    cleared, kept = shape[: len(_CLEARED_WHEN_NONE)], shape[len(_CLEARED_WHEN_NONE) :]
    nulls = "".join(
        f"{column} = {'?' if present else 'NULL'}, "
        for column, present in zip(_CLEARED_WHEN_NONE, cleared, strict=True)
    )
    kept_set = "".join(
        f"{column} = ?, " for column, present in zip(_KEPT_WHEN_NONE, kept, strict=True) if present
    )
    return (
        f"UPDATE records SET status = ?, reason = ?, draft = ?, attempts = ?, {nulls}{kept_set}"
        "lease_owner = NULL, lease_expires_at = NULL, lease_prev_status = NULL, lease_token = NULL, "
        "updated_at = ? WHERE id = ? AND lease_token = ?"
    )


#: SQLite: a batch's outcome event, as a row of one multi-row INSERT after ``EVENTS_HEAD`` (``?1`` the time)
_EVENT_ROW = "({}, ?1, 'writing', {}, {}, {})"


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


def checked_outcomes(outcomes: Sequence[Outcome]) -> dict[int, Outcome]:
    """The batch's outcomes by record id; a ValueError for one that no record could take."""
    by_id: dict[int, Outcome] = {}
    for outcome in outcomes:
        if outcome.status not in _OUTCOME_STATUSES:
            raise ValueError(f"record {outcome.record_id}: {outcome.status!r} is not an outcome status")
        if outcome.status == "finishing" and outcome.target_id is None:
            raise ValueError(
                f"record {outcome.record_id}: a finishing outcome names the target document (target_id)"
            )
        by_id[outcome.record_id] = outcome
    return by_id


class Outcomes(LedgerCore):
    """``finish``."""

    def finish(
        self,
        owner: str,
        outcomes: Sequence[Outcome],
        *,
        now: dt.datetime | None = None,
        findings: BatchFindings | None = None,
    ) -> list[int]:
        """Store a batch's outcomes in one transaction; returns the ids NOT applied (lease lost).

        An outcome applies only while its record is ``writing`` under ``owner`` and the outcome's own
        ``lease_token``; others are left exactly as they are. Applied records lose their lease and get
        one event each. A ``finishing`` outcome must name the document (``target_id``). Text the
        columns cannot hold (NUL, over-long codes) is cleaned; a request or response holding NaN or NUL
        is stored sanitized, with what was wrong in the event. ``findings`` (the batch's quality
        findings) are stored for the records whose outcome applies: a worker that lost a record leaves
        its findings to the worker that checks it now.
        """
        by_id = checked_outcomes(outcomes)
        if not by_id:
            return []
        with self._cursor() as cur:
            return self._finish_in(cur, owner, by_id, utc(now), findings)

    def _finish_in(
        self,
        cur: Any,
        owner: str,
        by_id: dict[int, Outcome],
        now: dt.datetime,
        findings: BatchFindings | None,
    ) -> list[int]:
        """:meth:`finish` inside the transaction of ``cur`` (``finish_and_claim`` shares one)."""
        at = self._time(now)
        held: dict[int, int] = {}
        for chunk in chunks(list(by_id)):
            query = _FINISH_HELD.format(ids=", ".join("?" * len(chunk)))
            cur.execute(self._sql(query + (" FOR UPDATE" if self._pg else "")), (*chunk, owner))
            for record_id, attempts, token, _target in cur.fetchall():
                if token is not None and token == by_id[record_id].lease_token:
                    held[record_id] = attempts
        lost = [record_id for record_id in by_id if record_id not in held]
        if held:
            (self._pg_apply if self._pg else self._sqlite_apply)(cur, owner, by_id, held, at)
        if findings is not None:
            kept = {rid: found for rid, found in findings.found.items() if rid in held}
            if rows := finding_rows(findings.scheme, kept, at):
                cur.executemany(self._sql(INSERT_FINDING), rows)
        return lost

    def _pg_apply(
        self, cur: Any, owner: str, by_id: dict[int, Outcome], held: dict[int, int], at: Any
    ) -> None:
        """PostgreSQL: the held records' outcomes and their events in one statement."""
        updates: list[tuple[Any, ...]] = []
        new_events: list[tuple[Any, ...]] = []
        for record_id, stored_attempts in held.items():
            update, event = self._outcome_rows(by_id[record_id], owner, stored_attempts, at)
            updates.append(update)
            new_events.append(event)
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

    def _sqlite_apply(
        self, cur: Any, owner: str, by_id: dict[int, Outcome], held: dict[int, int], at: Any
    ) -> None:
        """SQLite: one ``executemany`` per shape of the held records' outcomes (which optional values
        they set; usually one for the batch), then their events in one multi-row INSERT."""
        by_shape: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
        new_events: list[tuple[Any, ...]] = []
        for record_id, stored_attempts in held.items():
            o = by_id[record_id]
            if (
                o.response is None
                and o.content is None
                and o.error_type is None
                and o.error_code is None
                and o.error_message is None
                and o.next_attempt_at is None
                and o.watch_next_at is None
                and o.watch_until is None
            ):
                shape, row, event = self._plain_rows(o, owner, stored_attempts, at)
            else:
                update, event = self._outcome_rows(o, owner, stored_attempts, at)
                optional = update[4:16]
                shape = tuple(map(is_not, optional, _NONES))
                row = (*update[:4], *compress(optional, shape), *update[16:])
            by_shape.setdefault(shape, []).append(row)
            new_events.append(event)
        for shape, shaped in by_shape.items():
            cur.executemany(_sqlite_finish(shape), shaped)
        for some in chunks(new_events):
            values: list[Any] = [at]
            for record_id, _, _, status, reason, event_detail in some:
                values += (record_id, status, reason, event_detail)
            cur.execute(sqlite_rows(EVENTS_HEAD, _EVENT_ROW, len(some)), values)

    def _plain_rows(
        self, o: Outcome, owner: str, stored_attempts: int, at: Any
    ) -> tuple[tuple[bool, ...], tuple[Any, ...], tuple[Any, ...]]:
        """SQLite: :meth:`_outcome_rows` of an outcome without errors, response, content, retry or
        watch times (a written one, the common case): its shape, its shaped UPDATE parameters and its
        event, without looking at the fields it does not have (a third of the cost a record)."""
        attempts = stored_attempts + 1 if o.count_attempt else stored_attempts
        request: str | None = None
        problems: list[str] = []
        if o.request is not None:
            request, problems = encode_checked(o.request, "request")
        reason = _text(o.reason)
        target_id = _text(o.target_id, KEY_LIMIT)
        target_number = _text(o.target_number, KEY_LIMIT)
        values = (target_id, target_number, request)
        flags = (target_id is not None, target_number is not None, request is not None)
        row = (
            o.status,
            reason,
            bool(o.draft),
            attempts,
            *compress(values, flags),
            at,
            o.record_id,
            o.lease_token,
        )
        shape = _PLAIN_SHAPES[flags]
        event_detail = _event_detail(o, owner, attempts, None, target_id, target_number, problems)
        return shape, row, (o.record_id, at, "writing", o.status, reason, encode_json(event_detail))

    def _outcome_rows(
        self, o: Outcome, owner: str, stored_attempts: int, at: Any
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The UPDATE parameters and the event row of one applied outcome. Written out field by field:
        it runs once per record of every batch (a loop over the optional fields cost a third more)."""
        attempts = stored_attempts + 1 if o.count_attempt else stored_attempts
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
        error_type, error_code, error_message = o.error_type, o.error_code, o.error_message
        if error_type is not None:
            error_type = _text(error_type, 40)
        if error_code is not None:
            error_code = _text(error_code, KEY_LIMIT)
        if error_message is not None:
            error_message = _text(error_message)
        target_id = _text(o.target_id, KEY_LIMIT)
        target_number = _text(o.target_number, KEY_LIMIT)
        time = self._time
        update = (
            o.status,
            reason,
            bool(o.draft),
            attempts,
            None if o.next_attempt_at is None else time(o.next_attempt_at),
            error_type,
            error_code,
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
        event_detail = _event_detail(o, owner, attempts, error_message, target_id, target_number, problems)
        return update, (o.record_id, at, "writing", o.status, reason, encode_json(event_detail))


def _event_detail(
    o: Outcome,
    owner: str,
    attempts: int,
    error_message: str | None,
    target_id: str | None,
    target_number: str | None,
    problems: list[str],
) -> dict[str, Any]:
    """An applied outcome's event detail, from its values as stored."""
    event_detail: dict[str, Any] = {"owner": owner, "attempts": attempts}
    if o.error_type is not None:
        event_detail["error_type"] = o.error_type
    if o.error_code is not None:
        event_detail["error_code"] = o.error_code
    if error_message:
        event_detail["error_message"] = error_message[:2000]
    if target_id is not None:
        event_detail["target_id"] = target_id
    if target_number is not None:
        event_detail["target_number"] = target_number
    if target_id != o.target_id:
        event_detail["target_id_cut"] = o.target_id
    if o.draft:
        event_detail["draft"] = o.draft
    if problems:
        event_detail["unstorable"] = problems
    return event_detail
