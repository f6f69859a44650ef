"""Runs: one row per collect, dispatch, reconcile or watch pass, with its owner and a heartbeat.

Contract note: a run is ``running`` only while its owner says so. The owner calls :meth:`Runs.heartbeat`
while it works; :meth:`Runs.reap_runs` marks a ``running`` run whose heartbeat is older than the given
age ``interrupted`` ("its process stopped without ending it"), so a SIGKILLed process does not leave its
run running forever.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa

from ferry.store.codec import clean_optional
from ferry.store.core import LedgerCore, utc
from ferry.store.models import RunRow
from ferry.store.schema import runs

REAPED_REASON = "its process stopped without ending it"


class Runs(LedgerCore):
    """Start, beat, finish, reap and list runs."""

    def start_run(
        self, scheme: str, kind: str, trigger: str, *, owner: str, now: dt.datetime | None = None
    ) -> int:
        """Record the start of a collect/dispatch/reconcile/watch run by ``owner``; returns its id.

        Its heartbeat starts now; the owner keeps it fresh with :meth:`heartbeat`.
        """
        now = utc(now)
        with self._write() as conn:
            run_id = conn.execute(
                sa.insert(runs)
                .values(
                    scheme=scheme,
                    kind=kind,
                    trigger=trigger,
                    started_at=now,
                    status="running",
                    owner=clean_optional(owner, 200),
                    heartbeat_at=now,
                )
                .returning(runs.c.id)
            ).scalar_one()
        return int(run_id)

    def heartbeat(self, owner: str, *, run_id: int | None = None, now: dt.datetime | None = None) -> int:
        """Say ``owner``'s running runs (or only ``run_id``) are alive; returns how many were touched.

        A run already reaped or ended is not touched (0 tells the owner it was given up on).
        """
        c = runs.c
        query = sa.update(runs).where(c.owner == owner, c.status == "running").values(heartbeat_at=utc(now))
        if run_id is not None:
            query = query.where(c.id == run_id)
        with self._write() as conn:
            return int(conn.execute(query).rowcount)

    def reap_runs(self, stale_after_s: float, *, now: dt.datetime | None = None) -> list[int]:
        """Mark ``running`` runs whose heartbeat is older than ``stale_after_s`` seconds ``interrupted``,
        with the reason; returns their ids. Runs without a heartbeat (started before heartbeats
        existed) count from their start."""
        now = utc(now)
        c = runs.c
        cutoff = now - dt.timedelta(seconds=stale_after_s)
        last_sign = sa.func.coalesce(c.heartbeat_at, c.started_at)
        with self._write() as conn:
            reaped = conn.execute(
                sa.update(runs)
                .where(c.status == "running", last_sign < cutoff)
                .values(
                    status="interrupted",
                    ended_at=now,
                    error=sa.func.coalesce(c.error, REAPED_REASON),
                )
                .returning(c.id)
            ).scalars()
            return sorted(int(run_id) for run_id in reaped)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: Mapping[str, int] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: ``ok``, ``failed`` or ``interrupted``, with its counts.

        The owner's word is the truth: a run reaped while its owner was stalled takes the status the
        owner reports when it does end.
        """
        with self._write() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    ended_at=utc(None),
                    counts=dict(counts) if counts is not None else None,
                    error=clean_optional(error),
                )
            )

    def list_runs(self, scheme: str | None = None, limit: int = 20) -> list[RunRow]:
        """The latest runs, newest first."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if scheme is not None:
            query = query.where(runs.c.scheme == scheme)
        with self.engine.connect() as conn:
            return [RunRow(**row._mapping) for row in conn.execute(query)]
