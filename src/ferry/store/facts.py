"""The history the quality checks read (``ferry.quality.history.History``): each checked record's
denormalised keys in ``quality_facts``, looked up by index.

Contract notes (what the checks rely on):
- ``note_facts`` replaces a batch's facts in one transaction before its checks run, so two workers
  checking the same duplicate at once both see each other's facts.
- A fact matches when its record is older (lower id), or newer and already sent or being sent by
  another worker (not one of the asking batch's); never a record rejected (skipped), quarantined or
  dead: it was never paid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ferry.store.core import LedgerCore, chunks
from ferry.store.schema import findings, quality_facts, records

#: a record in one of these was never paid: its facts match nothing
_UNPAID = ("skipped", "quarantined", "dead")
#: a newer record in one of these has gone (or is going) to the target
_SENT = ("writing", "written", "finishing", "in_doubt", "failed")


@dataclass(frozen=True, slots=True)
class FactRow:
    """Another record's fact, as a check sees it."""

    record_id: int
    number: str | None
    status: str
    key: str
    at: dt.datetime | None
    amount_cents: int | None
    account: str | None
    summary: str | None


def _cut(value: Any, limit: int) -> Any:
    return value[:limit] if isinstance(value, str) else value


class Facts(LedgerCore):
    """``note_facts``, ``matching_facts``, ``payee_facts``, ``account_known``, ``released_rules``."""

    def note_facts(self, scheme: str, facts: Mapping[int, Sequence[Any]]) -> None:
        """Replace the facts of each record id with the ones given (``ferry.quality.Fact``-like)."""
        if not facts:
            return
        f = quality_facts.c
        rows = [
            {
                "record_id": record_id,
                "scheme": scheme,
                "kind": _cut(fact.kind, 100),
                "key": _cut(fact.key, 400),
                "at": fact.at,
                "payee": _cut(fact.payee, 200),
                "amount_cents": fact.amount_cents,
                "account": _cut(fact.account, 200),
                "summary": _cut(fact.summary, 200),
            }
            for record_id, record_facts in facts.items()
            for fact in record_facts
        ]
        with self._writer.begin() as conn:
            for chunk in chunks(list(facts)):
                conn.execute(sa.delete(quality_facts).where(f.record_id.in_(chunk)))
            if rows:
                conn.execute(sa.insert(quality_facts), rows)

    def _facts_query(self) -> sa.Select[Any]:
        f, r = quality_facts.c, records.c
        return sa.select(
            f.record_id, r.number, r.status, f.key, f.at, f.amount_cents, f.account, f.summary
        ).join(records, r.id == f.record_id)

    def matching_facts(
        self,
        scheme: str,
        kind: str,
        keys: Sequence[str],
        *,
        record_id: int,
        batch: Collection[int] = (),
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 20,
    ) -> list[FactRow]:
        """Other records' facts of ``kind`` with one of ``keys`` (``at`` within [since, until]), newest
        first."""
        if not keys:
            return []
        f, r = quality_facts.c, records.c
        newer_sent = sa.and_(r.status.in_(_SENT), f.record_id.not_in(list(batch)) if batch else sa.true())
        query = (
            self._facts_query()
            .where(
                f.scheme == scheme,
                f.kind == kind,
                f.key.in_([k[:400] for k in keys]),
                f.record_id != record_id,
                r.status.not_in(_UNPAID),
                sa.or_(f.record_id < record_id, newer_sent),
            )
            .order_by(f.record_id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(f.at >= since)
        if until is not None:
            query = query.where(f.at <= until)
        with self.engine.connect() as conn:
            return [FactRow(*row) for row in conn.execute(query)]

    def payee_facts(self, scheme: str, payee: str, *, record_id: int, limit: int = 200) -> list[FactRow]:
        """The latest payment facts of ``payee`` from older records, newest first."""
        f, r = quality_facts.c, records.c
        query = (
            self._facts_query()
            .where(
                f.scheme == scheme,
                f.payee == payee[:200],
                f.record_id < record_id,
                f.kind == "payment",
                r.status.not_in(_UNPAID),
            )
            .order_by(f.record_id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [FactRow(*row) for row in conn.execute(query)]

    def account_known(self, scheme: str, payee: str, account: str, *, record_id: int) -> bool:
        """Has an older record (not rejected) paid ``payee`` on ``account``?"""
        f, r = quality_facts.c, records.c
        query = (
            sa.select(f.id)
            .join(records, r.id == f.record_id)
            .where(
                f.scheme == scheme,
                f.payee == payee[:200],
                f.account == account[:200],
                f.record_id < record_id,
                r.status.not_in(_UNPAID),
            )
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def released_rules(self, record_id: int) -> set[str]:
        """Rules whose hold of this record a person released."""
        x = findings.c
        query = sa.select(x.rule).where(x.record_id == record_id, x.resolution == "released").distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())
