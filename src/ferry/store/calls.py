"""The API-call log: every outbound call becomes a narrow ``api_calls`` row.

Calls arrive on the event loop thread, so :meth:`CallLog.record` only appends to a bounded in-memory
buffer; a background thread writes the buffer in bulk every ``flush_every`` calls or ``flush_seconds``
seconds, so a busy database never stalls the loop. If the database stays unavailable, the oldest
buffered calls are dropped (and counted) rather than letting memory grow.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from sqlalchemy import Engine

from ferry.store.codec import aware, sqlite_time
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
        *,
        flush_every: int = 500,
        flush_seconds: float = 5.0,
        max_buffer: int = 100_000,
    ) -> None:
        self._engine = engine
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
                # put them back in front of newer calls; the deque's bound still applies
                with self._lock:
                    room = (self._buffer.maxlen or 0) - len(self._buffer)
                    keep = rows[-room:] if room > 0 else []
                    self.dropped += len(rows) - len(keep)
                    self._buffer.extendleft(reversed(keep))
                raise

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        # the driver's executemany with values converted once each: a tenth of what SQLAlchemy's per-row
        # type processing costs, which matters when every record makes a call or two
        pg = self._engine.dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        sql = f"INSERT INTO api_calls ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})"
        at = aware if pg else sqlite_time
        values = [(at(r[0]), *r[1:]) for r in rows]
        with self._engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(sql, values)
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
