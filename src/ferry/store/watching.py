"""Records not final at the source yet (``watching``): which are due for another look, and when next."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ferry.store.core import LedgerCore, utc
from ferry.store.models import RecordRow
from ferry.store.schema import records


class Watching(LedgerCore):
    """``due_watch`` and ``reschedule_watch``."""

    def due_watch(self, scheme: str, *, now: dt.datetime | None = None, limit: int = 100) -> list[RecordRow]:
        """``watching`` records whose ``watch_next_at`` has come (or is unset), earliest first."""
        now = utc(now)
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
        with self._write() as conn:
            conn.execute(
                sa.update(records)
                .where(records.c.id == record_id)
                .values(watch_next_at=next_at, updated_at=utc(None))
            )
