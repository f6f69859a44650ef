"""Findings and the review of held records (待复核): store findings, read a record's, hold, release,
reject, and the figures of the quality report.

Contract notes:
- A ``held`` record is never claimed (:mod:`.leases`); only :meth:`Review.release_held` (to ``pending``) or
  :meth:`Review.reject_held` (to ``skipped``) moves it on, each with who, when and why in its event and on
  the findings it settles. A released rule only warns when the same record is checked again.
- A hold by hand never touches a record under a live lease, nor one whose request may have reached the
  target (``in_doubt``, ``finishing``, ``written``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ferry.store.codec import encode_json
from ferry.store.core import LedgerCore, chunks, live_lease, utc
from ferry.store.schema import events, findings, quality_facts, records

INSERT_FINDING = (
    "INSERT INTO findings (record_id, scheme, at, rule, kind, verdict, severity, message, detail, payee) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?json, ?)"
)


@dataclass(frozen=True, slots=True)
class BatchFindings:
    """A batch's findings by record id (``Finding.as_dict()`` plus an optional ``payee``), stored with
    its outcomes by ``finish`` (:mod:`.outcomes`): a held record and why, in one transaction."""

    scheme: str
    found: Mapping[int, Sequence[Mapping[str, Any]]]


def finding_rows(
    scheme: str, found: Mapping[int, Sequence[Mapping[str, Any]]], at: Any
) -> list[tuple[Any, ...]]:
    """The ``findings`` rows of ``found`` for :data:`INSERT_FINDING` (``at`` as the driver takes it)."""
    return [
        (
            record_id,
            scheme,
            at,
            str(f["rule"])[:100],
            str(f["kind"])[:40],
            str(f["verdict"])[:10],
            str(f["severity"])[:12],
            str(f["message"]),
            encode_json({"values": f.get("values") or {}, "matched": list(f.get("matched") or [])}),
            None if f.get("payee") is None else str(f["payee"])[:200],
        )
        for record_id, record_findings in found.items()
        for f in record_findings
    ]


#: statuses a person may hold by hand: nothing has reached the target for them
HOLDABLE = ("pending", "failed", "quarantined", "dead")


@dataclass(frozen=True, slots=True)
class FindingRow:
    """A ``findings`` row."""

    id: int
    record_id: int
    scheme: str
    at: dt.datetime
    rule: str
    kind: str
    verdict: str
    severity: str
    message: str
    detail: dict[str, Any] | None
    payee: str | None
    resolution: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolved_reason: str | None

    @property
    def matched(self) -> list[int]:
        return [int(i) for i in (self.detail or {}).get("matched", [])]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "record_id": self.record_id,
            "scheme": self.scheme,
            "at": self.at.isoformat(),
            "rule": self.rule,
            "kind": self.kind,
            "verdict": self.verdict,
            "severity": self.severity,
            "message": self.message,
            "values": (self.detail or {}).get("values", {}),
            "matched": self.matched,
            "payee": self.payee,
            "resolution": self.resolution,
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_reason": self.resolved_reason,
        }


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A record waiting for review, with its age and its findings' messages."""

    id: int
    scheme: str
    source_id: str
    number: str | None
    reason: str | None
    held_since: dt.datetime


class Review(LedgerCore):
    """Findings, holds and the quality report's figures."""

    def store_findings(
        self, scheme: str, found: Mapping[int, Sequence[Mapping[str, Any]]], *, now: dt.datetime | None = None
    ) -> None:
        """Keep each record's findings (``Finding.as_dict()`` plus an optional ``payee``)."""
        rows = finding_rows(scheme, found, self._time(utc(now)))
        if rows:
            # on the driver's cursor: a batch's findings are on dispatch's path (SQLAlchemy's insert
            # machinery cost a millisecond a batch)
            with self._cursor() as cur:
                cur.executemany(self._sql(INSERT_FINDING), rows)

    def findings_of(self, record_id: int) -> list[FindingRow]:
        """Every finding ever made about one record, oldest first."""
        query = sa.select(findings).where(findings.c.record_id == record_id).order_by(findings.c.id)
        with self.engine.connect() as conn:
            return [FindingRow(**row._mapping) for row in conn.execute(query)]

    def hold_records(
        self, record_ids: Sequence[int], who: str, reason: str, *, now: dt.datetime | None = None
    ) -> int:
        """Hold records for review by hand (only ``pending``, ``failed``, ``quarantined``, ``dead`` ones
        not under a live lease); returns how many."""
        return self._move(record_ids, HOLDABLE, "held", None, who, f"held by {who}: {reason}", reason, now)

    def release_held(
        self, record_ids: Sequence[int], who: str, reason: str, *, now: dt.datetime | None = None
    ) -> int:
        """Release held records to ``pending`` (dispatched again; the released rules then only warn)."""
        return self._move(
            record_ids, ("held",), "pending", "released", who, f"released by {who}: {reason}", reason, now
        )

    def reject_held(
        self, record_ids: Sequence[int], who: str, reason: str, *, now: dt.datetime | None = None
    ) -> int:
        """Reject held records: ``skipped``, never sent."""
        return self._move(
            record_ids, ("held",), "skipped", "rejected", who, f"rejected by {who}: {reason}", reason, now
        )

    def _move(
        self,
        record_ids: Sequence[int],
        from_statuses: Sequence[str],
        to: str,
        resolution: str | None,
        who: str,
        text: str,
        reason: str,
        now: dt.datetime | None,
    ) -> int:
        now = utc(now)
        r, x = records.c, findings.c
        moved = 0
        with self._write() as conn:
            for chunk in chunks(list(record_ids)):
                query = sa.select(r.id, r.status).where(
                    r.id.in_(chunk), r.status.in_(list(from_statuses)), sa.not_(live_lease(now))
                )
                if self._pg:
                    query = query.with_for_update()
                rows = conn.execute(query).all()
                if not rows:
                    continue
                ids = [row.id for row in rows]
                conn.execute(
                    sa.update(records)
                    .where(r.id.in_(ids), r.status.in_(list(from_statuses)))
                    .values(
                        status=to,
                        reason=text,
                        next_attempt_at=None,
                        attempts=0 if to == "pending" else r.attempts,
                        lease_owner=None,
                        lease_expires_at=None,
                        lease_prev_status=None,
                        lease_token=None,
                        updated_at=now,
                    )
                )
                if resolution is not None:
                    conn.execute(
                        sa.update(findings)
                        .where(x.record_id.in_(ids), x.resolution.is_(None), x.severity == "block")
                        .values(
                            resolution=resolution, resolved_by=who, resolved_at=now, resolved_reason=reason
                        )
                    )
                conn.execute(
                    sa.insert(events),
                    [
                        {
                            "record_id": row.id,
                            "at": now,
                            "from_status": row.status,
                            "to_status": to,
                            "reason": text,
                            "detail": {"manual": True, "by": who, "review": resolution or "hold"},
                        }
                        for row in rows
                    ],
                )
                moved += len(rows)
        return moved

    def held(self, scheme: str | None = None, *, limit: int = 200) -> list[HeldRow]:
        """Records waiting for review, longest waiting first."""
        r = records.c
        query = (
            sa.select(r.id, r.scheme, r.source_id, r.number, r.reason, r.updated_at)
            .where(r.status == "held")
            .order_by(r.updated_at, r.id)
            .limit(limit)
        )
        if scheme is not None:
            query = query.where(r.scheme == scheme)
        with self.engine.connect() as conn:
            return [HeldRow(*row) for row in conn.execute(query)]

    def findings_between(
        self, *, scheme: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[tuple[str, dt.datetime, str, str, str | None, str | None]]:
        """(scheme, at, rule, verdict, payee, resolution) of every finding made in [since, until)."""
        x = findings.c
        query = sa.select(x.scheme, x.at, x.rule, x.verdict, x.payee, x.resolution).order_by(x.at)
        if scheme is not None:
            query = query.where(x.scheme == scheme)
        if since is not None:
            query = query.where(x.at >= utc(since))
        if until is not None:
            query = query.where(x.at < utc(until))
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]

    def payment_amounts(
        self, *, scheme: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[tuple[str, dt.datetime | None, int]]:
        """(scheme, business date, amount in cents) of the payments checked, for Benford's test."""
        f, r = quality_facts.c, records.c
        query = (
            sa.select(f.scheme, f.at, f.amount_cents)
            .join(records, r.id == f.record_id)
            .where(
                f.kind == "payment", f.amount_cents.is_not(None), r.status.not_in(("skipped", "quarantined"))
            )
        )
        if scheme is not None:
            query = query.where(f.scheme == scheme)
        if since is not None:
            query = query.where(f.at >= utc(since))
        if until is not None:
            query = query.where(f.at < utc(until))
        with self.engine.connect() as conn:
            return [(row[0], row[1], int(row[2])) for row in conn.execute(query)]
