"""What every part of the ledger shares: the engines, the life cycle and a few small helpers.

:class:`LedgerCore` holds the state; each section of the ledger (:mod:`.intake`, :mod:`.leases`,
:mod:`.watching`, :mod:`.watermarks`, :mod:`.runs`, :mod:`.usage`, :mod:`.lookups`, :mod:`.steering`)
is a class over it, and :class:`ferry.store.Ledger` is all of them together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from ferry.store.calls import CallLog
from ferry.store.codec import aware, sqlite_time
from ferry.store.db import make_engine, sqlite_write_lock, write_engine, write_lock, write_transaction
from ferry.store.migrate import upgrade
from ferry.store.schema import records

T = TypeVar("T")

#: bound parameters per IN list; well under SQLite's and PostgreSQL's limits
IN_CHUNK = 500


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@functools.lru_cache(maxsize=64)
def sqlite_rows(head: str, row: str, n: int, first: int = 2, tail: str = "") -> str:
    """SQLite: ``head``, ``n`` rows of ``row``, then ``tail``. Each ``{}`` of ``row`` is a parameter of
    its own, numbered from ``?first`` on; numbers below ``first`` are values all rows share, written in
    ``row`` as ``?1``... One statement for many rows: SQLite pays per statement step and per value
    bound, so a page's rows in one VALUES list, with the shared values bound once, cost less than an
    ``executemany`` of the same rows (``bench/bench_finish.py`` prints both)."""
    per = row.count("{}")
    rows = (row.format(*[f"?{first + i * per + j}" for j in range(per)]) for i in range(n))
    return head + ", ".join(rows) + tail


def utc(value: dt.datetime | None) -> dt.datetime:
    """``value`` as aware UTC, or now when None."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the ledger takes timezone-aware datetimes")
    return value.astimezone(dt.UTC)


def detail(**values: Any) -> dict[str, Any] | None:
    """An event's detail: the values that are set, or None."""
    found = {k: v for k, v in values.items() if v is not None}
    return found or None


def live_lease(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Records a worker holds right now (their outcome is on its way)."""
    r = records.c
    return sa.and_(r.status == "writing", r.lease_expires_at.is_not(None), r.lease_expires_at >= now)


class LedgerCore:
    """The engines and the life cycle of a ledger.

    Pass ``url`` (default ``$FERRY_DATABASE_URL`` or ``sqlite:///ferry.db``) or an ``engine`` made by
    :func:`ferry.store.make_engine` (the SQLite tuning lives there). Call :meth:`migrate` once at start.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        api_call_retention_days: int = 30,
        call_flush_every: int = 500,
        call_flush_seconds: float = 5.0,
    ) -> None:
        self._owns_engine = engine is None
        self.engine: Engine = engine if engine is not None else make_engine(url)
        # same pool; on SQLite its transactions begin IMMEDIATE
        self._writer = write_engine(self.engine)
        self._pg = self.engine.dialect.name == "postgresql"
        #: SQLite: this process's writers of the file queue here rather than in SQLite's busy handler
        self._write_lock = sqlite_write_lock(self.engine)
        self.api_call_retention_days = api_call_retention_days
        self._calls = CallLog(
            self._writer, self._write_lock, flush_every=call_flush_every, flush_seconds=call_flush_seconds
        )
        #: called with each API call as it is recorded, on the caller's thread (metrics: keep them cheap)
        self.call_listeners: list[Callable[[Any], None]] = []
        #: a datetime as this backend's driver takes it (converted once per value, see :mod:`.codec`)
        self._time: Callable[[dt.datetime | None], Any] = aware if self._pg else sqlite_time

    @property
    def writes_side_by_side(self) -> bool:
        """Whether two write transactions of this process run at once: on PostgreSQL, each on its own
        connection; on SQLite they take turns on the file's write lock."""
        return self._write_lock is None

    def _sql(self, text: str) -> str:
        """A hand-written statement in this driver's parameter style: ``?`` a value, ``?json`` a JSON text."""
        if self._pg:
            return text.replace("?json", "%s::json").replace("?", "%s")
        return text.replace("?json", "?")

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A driver cursor inside one write transaction on a pooled connection, without SQLAlchemy's
        per-transaction machinery (a third of a small transaction's cost): ``BEGIN IMMEDIATE`` on SQLite,
        the driver's implicit transaction on PostgreSQL; committed on success, rolled back otherwise.

        The hot path (collect, claim, finish) runs hand-written statements on it: values are converted
        once each by :mod:`.codec`, with no per-row processing between them and the driver."""
        with write_lock(self._write_lock), self._raw_cursor() as cursor:
            yield cursor

    def _write(self) -> contextlib.AbstractContextManager[Connection]:
        """A SQLAlchemy write transaction (``BEGIN IMMEDIATE`` on SQLite) under the same lock as
        :meth:`_cursor`: every writer of this process queues there, none in SQLite's busy handler."""
        return write_transaction(self._writer, self._write_lock)

    @contextlib.contextmanager
    def _raw_cursor(self) -> Iterator[Any]:
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            if not self._pg:
                driver.execute("BEGIN IMMEDIATE")
            cursor = driver.cursor()
            calls: list[Any] = []
            try:
                yield cursor
                calls = self._take_calls(cursor)
                driver.commit()
            except BaseException:
                driver.rollback()
                if calls:
                    self._calls.put_back(calls)
                raise
            finally:
                cursor.close()
        finally:
            raw.close()

    def _take_calls(self, cursor: Any) -> list[Any]:
        """SQLite: the buffered API calls, written in this write transaction (see :mod:`.calls`)."""
        return [] if self._pg else self._calls.write_into(cursor)

    def migrate(self) -> None:
        """Create or upgrade the tables (Alembic, idempotent)."""
        upgrade(self.engine)

    def close(self) -> None:
        """Write buffered API calls and release the connections (the engine too, if the ledger made it)."""
        self._calls.close()
        if self._owns_engine:
            self.engine.dispose()
