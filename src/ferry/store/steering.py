"""Reading records and steering them by hand (``ferry records``): get, list, count, history, set_status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ferry.store.core import LedgerCore, chunks, live_lease, utc
from ferry.store.models import FOLLOW_UP, STATUSES, UNSTORABLE, EventRow, RecordRow
from ferry.store.schema import events, records


class Steering(LedgerCore):
    """Reads for people and the console, and manual moves that never touch a live lease."""

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
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RecordRow]:
        """Records matching the filters, newest (highest id) first; ``since``/``until`` bound when they
        last changed (``since`` <= ``updated_at`` < ``until``)."""
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
        if since is not None:
            query = query.where(r.updated_at >= utc(since))
        if until is not None:
            query = query.where(r.updated_at < utc(until))
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
        by: str | None = None,
    ) -> int:
        """Move records to ``status`` by hand (``records retry|skip|replay``); returns how many moved.

        Records under a live lease are never touched (their worker would overwrite the change);
        ``only_from`` limits the move to records currently in those statuses. Moved records are due at
        once (``next_attempt_at`` cleared) and lose any expired lease. Left as they are, whatever is
        asked: a ``held`` record unless it goes to ``pending`` or ``skipped`` (a person's two verdicts);
        a ``finishing`` record going to ``pending`` (the target holds its document: set ``finishing``
        to retry its follow-ups now). ``by`` (who asked) goes into each event's detail. A record whose follow-ups gave up (``last_error_type``
        ``follow_up``, its document kept) asked to go to ``pending`` goes to ``finishing`` instead; and a record stored as a sanitized copy because its content could
        not be held (``last_error_type`` ``unstorable``) going to ``pending``, which would send the copy.
        """
        if status not in STATUSES or status == "writing":
            raise ValueError(f"cannot set status {status!r}")
        now = utc(now)
        r = records.c
        moved = 0
        refused: list[sa.ColumnElement[bool]] = []
        if status not in ("pending", "skipped"):
            refused.append(r.status == "held")
        if status == "pending":
            refused.append(r.status == "finishing")
            refused.append(sa.and_(r.last_error_type.is_not(None), r.last_error_type == UNSTORABLE))
        with self._write() as conn:
            for chunk in chunks(list(record_ids)):
                query = sa.select(r.id, r.status, r.target_id, r.last_error_type).where(
                    r.id.in_(chunk), sa.not_(live_lease(now))
                )
                if refused:
                    query = query.where(sa.not_(sa.or_(*refused)))
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
                    "lease_token": None,
                    "updated_at": now,
                }
                if reset_attempts:
                    values["attempts"] = 0
                # a record whose document exists (its follow-ups gave up) goes back to finishing, never
                # to pending: pending would write the document a second time
                existing = {
                    row.id
                    for row in rows
                    if status == "pending" and row.target_id is not None and row.last_error_type == FOLLOW_UP
                }
                plain = [row.id for row in rows if row.id not in existing]
                if plain:
                    conn.execute(sa.update(records).where(r.id.in_(plain)).values(values))
                if existing:
                    conn.execute(
                        sa.update(records)
                        .where(r.id.in_(list(existing)))
                        .values({**values, "status": "finishing"})
                    )
                conn.execute(
                    sa.insert(events),
                    [
                        {
                            "record_id": row.id,
                            "at": now,
                            "from_status": row.status,
                            "to_status": "finishing" if row.id in existing else status,
                            "reason": reason,
                            "detail": {
                                "manual": True,
                                "reset_attempts": reset_attempts,
                                **({"by": by[:200]} if by else {}),
                            },
                        }
                        for row in rows
                    ],
                )
                moved += len(rows)
        return moved
