"""Watermarks: the end of the last fully successful window of each scheme and partition."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ferry.store.core import LedgerCore, utc
from ferry.store.schema import watermarks


class Watermarks(LedgerCore):
    """``get_watermark`` and ``set_watermark`` (never backwards unless forced)."""

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
        value = utc(value)
        w = watermarks.c
        for attempt in range(3):
            try:
                with self._write() as conn:
                    query = sa.select(w.value).where(w.scheme == scheme, w.partition == partition)
                    current = conn.execute(query.with_for_update()).scalar_one_or_none()
                    now = utc(None)
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
