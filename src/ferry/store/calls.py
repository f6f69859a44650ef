"""The API-call log: every outbound call becomes a narrow ``api_calls`` row.

Calls arrive on the event loop thread, so :meth:`CallLog.record` only appends to a bounded in-memory
buffer; a background thread writes the buffer in bulk every ``flush_every`` calls or ``flush_seconds``
seconds, so a busy database never stalls the loop. If the database stays unavailable, the oldest
buffered calls are dropped (and counted) rather than letting memory grow.

On SQLite the ledger's own write transactions (collect, claim, finish) also take the buffer with them
(:meth:`CallLog.write_into`): they hold the database's one write lock already, so the calls cost their
inserts and nothing else, where a background transaction would queue for the lock and make the next
page wait on SQLite's busy handler (it sleeps a millisecond or more per try). A call-log failure there
never fails the caller's transaction (a savepoint), and calls whose transaction rolls back go back to
the buffer.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from sqlalchemy import Engine

from ferry.store.codec import aware, sqlite_time
from ferry.store.db import write_transaction
from ferry.store.models import ApiCallLike

#: the columns of ``api_calls`` a call fills, in the order :meth:`CallLog.record` buffers them
_COLUMNS = (
    "at",
    "connection",
    "api",
    "status",
    "http_status",
    "error_code",
    "latency_ms",
    "request_id",
    "metered",
    "scheme",
)

log = logging.getLogger(__name__)


class CallLog:
    """Buffered, thread-safe writer of ``api_calls`` rows."""

    def __init__(
        self,
        engine: Engine,
        write_lock: threading.RLock | None = None,
        *,
        flush_every: int = 500,
        flush_seconds: float = 5.0,
        max_buffer: int = 100_000,
    ) -> None:
        self._engine = engine
        #: SQLite: the file's write lock, held for each flush (see :func:`ferry.store.db.write_transaction`)
        self._write_lock = write_lock
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._buffer: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=max_buffer)
        self._lock = threading.Lock()
        # one flush at a time, so rows reach the table in the order they were recorded
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: calls lost because the buffer was full while the database could not be written
        self.dropped = 0

    def record(self, call: ApiCallLike) -> None:
        """Buffer one call; never touches the database on the caller's thread."""
        row = (
            call.at,
            call.connection,
            call.api,
            call.status,
            call.http_status,
            call.error_code,
            float(call.latency_ms),
            call.request_id,
            bool(call.metered),
            getattr(call, "scheme", None),
        )
        with self._lock:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1
            self._buffer.append(row)
            size = len(self._buffer)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="ferry-call-log", daemon=True)
                self._thread.start()
        if size >= self.flush_every:
            self._wake.set()

    def pending(self) -> int:
        """Calls buffered and not yet written."""
        with self._lock:
            return len(self._buffer)

    def flush(self) -> None:
        """Write every buffered call now, in one transaction."""
        with self._flush_lock:
            with self._lock:
                rows = list(self._buffer)
                self._buffer.clear()
            if not rows:
                return
            try:
                self._write(rows)
            except Exception:
                self.put_back(rows)
                raise

    def write_into(self, cursor: Any) -> list[tuple[Any, ...]]:
        """SQLite: write the buffered calls in the caller's open write transaction; returns them, for
        :meth:`put_back` should that transaction roll back. Writes nothing while a flush is under way
        (that flush takes them) or when the write fails (the buffer keeps them)."""
        if not self._buffer or not self._flush_lock.acquire(blocking=False):
            return []
        try:
            with self._lock:
                rows = list(self._buffer)
                self._buffer.clear()
            try:
                cursor.execute("SAVEPOINT ferry_calls")
                try:
                    cursor.executemany(self._statement(False), self._values(rows, False))
                except BaseException:
                    cursor.execute("ROLLBACK TO ferry_calls")
                    raise
                finally:
                    cursor.execute("RELEASE ferry_calls")
            except Exception:
                self.put_back(rows)
                log.warning("could not write %d buffered API calls; will retry", len(rows), exc_info=True)
                return []
            return rows
        finally:
            self._flush_lock.release()

    def put_back(self, rows: list[tuple[Any, ...]]) -> None:
        """Buffer ``rows`` again, in front of newer calls (their transaction did not commit); the
        buffer's bound still applies."""
        with self._lock:
            room = (self._buffer.maxlen or 0) - len(self._buffer)
            keep = rows[-room:] if room > 0 else []
            self.dropped += len(rows) - len(keep)
            self._buffer.extendleft(reversed(keep))

    @staticmethod
    def _statement(pg: bool) -> str:
        mark = "%s" if pg else "?"
        return f"INSERT INTO api_calls ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})"

    @staticmethod
    def _values(rows: list[tuple[Any, ...]], pg: bool) -> list[tuple[Any, ...]]:
        at = aware if pg else sqlite_time
        return [(at(r[0]), *r[1:]) for r in rows]

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        # the driver's executemany with values converted once each: a tenth of what SQLAlchemy's per-row
        # type processing costs, which matters when every record makes a call or two
        pg = self._engine.dialect.name == "postgresql"
        with write_transaction(self._engine, self._write_lock) as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(self._statement(pg), self._values(rows, pg))
            finally:
                cursor.close()

    def close(self) -> None:
        """Stop the background writer and write what is left."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:
                log.warning(
                    "could not write %d buffered API calls; will retry", self.pending(), exc_info=True
                )
