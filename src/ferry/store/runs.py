"""Runs: one row per collect, dispatch, reconcile or watch pass."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from ferry.store.core import LedgerCore, utc
from ferry.store.models import RunRow
from ferry.store.schema import runs


class Runs(LedgerCore):
    """Start, finish and list runs."""

    def start_run(self, scheme: str, kind: str, trigger: str) -> int:
        """Record the start of a collect/dispatch/reconcile/watch run; returns its id."""
        with self._writer.begin() as conn:
            run_id = conn.execute(
                sa.insert(runs)
                .values(scheme=scheme, kind=kind, trigger=trigger, started_at=utc(None), status="running")
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
                    ended_at=utc(None),
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
