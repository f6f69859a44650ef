"""The history the quality checks read (``ferry.quality.history.History``): each checked record's
denormalised keys in ``quality_facts``, looked up by index, a batch at a time.

Contract notes:
- ``note_facts`` replaces a batch's facts in one transaction before its checks run, so two workers
  checking the same duplicate at once both see each other's facts.
- Lookups return facts with their record's status and leave out records never paid (rejected, i.e.
  skipped; quarantined; dead); which of the rest count as a match for a record is the checks' rule
  (:mod:`ferry.quality.history`).
- These are the checks' hot path: hand-written statements on the driver's cursor, one per lookup.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ferry.errors import StoreError
from ferry.store.core import LedgerCore, chunks
from ferry.store.schema import quality_facts

#: a record in one of these was never paid: its facts match nothing
UNPAID = ("skipped", "quarantined", "dead")
_NOT_UNPAID = "r.status NOT IN ('skipped', 'quarantined', 'dead')"
_COLUMNS = "f.record_id, r.number, r.status, f.key, f.at, f.amount_cents, f.account, f.summary"
_INSERT = (
    "INSERT INTO quality_facts (record_id, scheme, kind, key, at, payee, amount_cents, account, summary) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


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


def _aware(value: Any) -> dt.datetime | None:
    """A time as the driver returns it (text on SQLite) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@functools.cache
def _matching_sql(n: int, since: bool, until: bool) -> str:
    where = [
        "f.scheme = ?",
        "f.kind = ?",
        f"f.key IN ({', '.join('?' * n)})",
        _NOT_UNPAID,
        *(["f.at >= ?"] if since else []),
        *(["f.at <= ?"] if until else []),
    ]
    return (
        f"SELECT {_COLUMNS} FROM quality_facts f JOIN records r ON r.id = f.record_id "
        f"WHERE {' AND '.join(where)} ORDER BY f.record_id DESC LIMIT ?"
    )


_PAYEE_SQL = (
    "SELECT f.record_id, r.status, f.amount_cents, f.account FROM quality_facts f JOIN records r ON r.id = f.record_id "
    f"WHERE f.scheme = ? AND f.payee = ? AND f.record_id < ? AND f.kind = 'payment' AND {_NOT_UNPAID} "
    "ORDER BY f.record_id DESC LIMIT ?"
)
# ``+f.record_id``: not an index column for the planner, so SQLite takes the (payee, account) index (a
# few rows, none for a new account) rather than the (payee, record_id) one (every payment of the payee:
# 2 ms at 100,000 facts, against 10 us)
_ACCOUNT_SQL = (
    "SELECT f.id FROM quality_facts f JOIN records r ON r.id = f.record_id WHERE f.scheme = ? AND "
    f"f.payee = ? AND f.account = ? AND +f.record_id < ? AND {_NOT_UNPAID} LIMIT 1"
)
_RELEASED_SQL = "SELECT record_id, rule FROM findings WHERE resolution = 'released' AND record_id IN ({})"


@contextlib.contextmanager
def history_errors(ledger: LedgerCore) -> Iterator[None]:
    """A database error of the checks' history is nobody's record's fault: a StoreError, so dispatch
    gives the batch back untouched (no record is held or sent for it)."""
    dbapi = ledger.engine.dialect.dbapi
    error: type[BaseException] = getattr(dbapi, "Error", Exception) if dbapi is not None else Exception
    try:
        yield
    except (error, sa.exc.DBAPIError) as e:
        raise StoreError(
            f"the ledger could not be read for the quality checks: {type(e).__name__}: {e}"
        ) from e


def write_facts(cur: Any, ledger: LedgerCore, scheme: str, facts: Mapping[int, Sequence[Any]]) -> None:
    """Replace the facts of each record id on ``cur``, inside the caller's transaction (``note_facts``'s,
    or a claim's: see ``Leases.claim``)."""
    time = ledger._time
    rows = [
        (
            record_id,
            scheme,
            _cut(fact.kind, 100),
            _cut(fact.key, 400),
            None if fact.at is None else time(fact.at),
            _cut(fact.payee, 200),
            fact.amount_cents,
            _cut(fact.account, 200),
            _cut(fact.summary, 200),
        )
        for record_id, record_facts in facts.items()
        for fact in record_facts
    ]
    with history_errors(ledger):
        for chunk in chunks(list(facts)):
            cur.execute(
                ledger._sql(f"DELETE FROM quality_facts WHERE record_id IN ({', '.join('?' * len(chunk))})"),
                tuple(chunk),
            )
        if rows:
            cur.executemany(ledger._sql(_INSERT), rows)


class Facts(LedgerCore):
    """``note_facts``, ``matching_facts``, ``payee_facts``, ``account_known``, ``released_rules``."""

    def _db_errors(self) -> contextlib.AbstractContextManager[None]:
        return history_errors(self)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        """A driver cursor on a pooled connection, for one read."""
        with self._db_errors():
            raw = self.engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                with self._db_errors():
                    yield cursor
            finally:
                cursor.close()
            if self._pg:
                raw.driver_connection.commit()  # type: ignore[union-attr]  # end the read's transaction
        finally:
            raw.close()

    def note_facts(self, scheme: str, facts: Mapping[int, Sequence[Any]]) -> None:
        """Replace the facts of each record id with the ones given (``ferry.quality.Fact``-like)."""
        if not facts:
            return
        with self._db_errors(), self._cursor() as cur:  # the BEGIN and COMMIT's errors too
            write_facts(cur, self, scheme, facts)

    def matching_facts(
        self,
        scheme: str,
        kind: str,
        keys: Sequence[str],
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 1000,
    ) -> list[FactRow]:
        """Facts of ``kind`` with one of ``keys`` (``at`` within [since, until]) of records that may have
        been paid, newest record first."""
        keys = sorted({k[:400] for k in keys})
        if not keys:
            return []
        out: list[FactRow] = []
        with self._read() as cur:
            for chunk in chunks(keys):
                sql = self._sql(_matching_sql(len(chunk), since is not None, until is not None))
                params: list[Any] = [scheme, kind, *chunk]
                params += [self._time(t) for t in (since, until) if t is not None]
                cur.execute(sql, (*params, limit))
                out += [
                    FactRow(r[0], r[1], r[2], r[3], _aware(r[4]), r[5], r[6], r[7]) for r in cur.fetchall()
                ]
        return out

    def payee_facts(self, scheme: str, payee: str, *, before: int, limit: int = 60) -> list[FactRow]:
        """The latest payment facts of ``payee`` from records older than ``before``, newest first (only
        their amounts and accounts: what the outlier and account checks read)."""
        with self._read() as cur:
            cur.execute(self._sql(_PAYEE_SQL), (scheme, payee[:200], before, limit))
            return [FactRow(r[0], None, r[1], "", None, r[2], r[3], None) for r in cur.fetchall()]

    def account_known(self, scheme: str, payee: str, account: str, *, before: int) -> bool:
        """Has a record older than ``before`` (not rejected) paid ``payee`` on ``account``?"""
        with self._read() as cur:
            cur.execute(self._sql(_ACCOUNT_SQL), (scheme, payee[:200], account[:200], before))
            return cur.fetchone() is not None

    def payment_facts_after(
        self, scheme: str, after: int | None
    ) -> tuple[int, list[tuple[int, str, int | None, str | None]]]:
        """The payment facts stored since fact id ``after`` as (record id, payee, amount in cents,
        account), and the highest fact id now (``after`` None: only that id). A primary-key range."""
        with self._read() as cur:
            if after is None:
                cur.execute("SELECT max(id) FROM quality_facts")
                return int(cur.fetchone()[0] or 0), []
            # by the primary key alone: with scheme and kind in the WHERE, SQLite picks a payee index and
            # scans every payment of the scheme (10 ms at 100,000); the few rows since are filtered here
            cur.execute(
                self._sql(
                    "SELECT id, record_id, payee, amount_cents, account, scheme, kind FROM quality_facts WHERE id > ?"
                ),
                (after,),
            )
            rows = cur.fetchall()
        newest = max([after, *(r[0] for r in rows)])
        return newest, [
            (r[1], r[2], r[3], r[4]) for r in rows if r[5] == scheme and r[6] == "payment" and r[2]
        ]

    def released_rules(self, record_ids: Sequence[int]) -> dict[int, set[str]]:
        """Per record, the rules whose hold of it a person released (records without any left out)."""
        out: dict[int, set[str]] = {}
        with self._read() as cur:
            for chunk in chunks(list(record_ids)):
                cur.execute(self._sql(_RELEASED_SQL.format(", ".join("?" * len(chunk)))), tuple(chunk))
                for record_id, rule in cur.fetchall():
                    out.setdefault(record_id, set()).add(rule)
        return out


__all__ = ["UNPAID", "FactRow", "Facts", "quality_facts", "write_facts"]
