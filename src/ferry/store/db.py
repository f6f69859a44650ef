"""Engine construction: SQLite (the default, a file in the working directory) or PostgreSQL.

SQLite is tuned for several processes sharing one file: WAL (readers never block the writer),
``synchronous=NORMAL`` (durable at checkpoints, safe with WAL), a 30 s busy timeout, and foreign keys.
Write transactions begin with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can
fail with SQLITE_BUSY at the upgrade instead of waiting, which is exactly the claim pattern.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

from ferry.errors import StoreError
from ferry.store.codec import decode_json, encode_json

#: environment variable naming the database; unset means a SQLite file in the working directory
DATABASE_URL_ENV = "FERRY_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///ferry.db"

#: execution option that makes the SQLite ``begin`` hook emit BEGIN IMMEDIATE (see :func:`write_engine`)
WRITE_OPTION = "ferry_write"

SQLITE_BUSY_TIMEOUT_S = 30.0


def make_engine(url: str | None = None, **engine_kwargs: Any) -> Engine:
    """Create the engine for ``url``, else ``$FERRY_DATABASE_URL``, else ``sqlite:///ferry.db``.

    Extra keyword arguments go to :func:`sqlalchemy.create_engine` (pool sizes, echo...).
    """
    url = url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    parsed = _checked_url(url)
    backend = parsed.get_backend_name()
    # one JSON encoding everywhere: the canonical one the hot path writes and content_hash hashes
    engine_kwargs.setdefault("json_serializer", encode_json)
    engine_kwargs.setdefault("json_deserializer", decode_json)
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # an in-memory database lives in one connection: share it (for tests and one-off commands;
            # it is not safe for concurrent writers)
            engine_kwargs.setdefault("poolclass", StaticPool)
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _tune_sqlite(engine)
        _explain_connect_errors(engine)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(parsed, **engine_kwargs)
    _tune_postgres(engine)
    _explain_connect_errors(engine)
    return engine


def _tune_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver prepares a statement after a few runs, and PostgreSQL then may switch it to a
        # generic plan. For a table that grew faster than autovacuum analyses it (a first backfill),
        # that plan believed the table nearly empty and read a whole scheme per page. Plans made for
        # the actual values cost a fraction of a millisecond and never do that.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()


def _checked_url(url: str) -> Any:
    """``url`` parsed, or a :class:`StoreError` a person can act on (never quoting a password)."""
    example = "sqlite:///ferry.db or postgresql+psycopg://USER@HOST:5432/DATABASE"
    try:
        parsed = make_url(url)
    except Exception:
        raise StoreError("the database URL cannot be read", hint=f"write it as {example}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgres+psycopg"):
        fixed = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=True)
        raise StoreError(
            f"the database URL {shown} names a driver Ferry does not use",
            hint=f"write postgresql+psycopg://..., here: {fixed}",
        )
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql") or (
        backend == "postgresql" and parsed.get_driver_name() != "psycopg"
    ):
        raise StoreError(f"Ferry's ledger runs on SQLite or PostgreSQL, not {shown}", hint=f"write {example}")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise StoreError(
                f"the folder of the SQLite ledger {parsed.database} does not exist: {folder}",
                hint=f"create it (mkdir -p {folder}) or choose another path",
            )
    return parsed


def _explain_connect_errors(engine: Engine) -> None:
    """Turn a failed connection into a :class:`StoreError` that names the place and the remedy."""
    url = engine.url

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        text = str(context.original_exception)
        if url.get_backend_name() == "sqlite":
            if "unable to open database file" in text:
                raise StoreError(
                    f"cannot open the SQLite ledger {url.database}",
                    hint="check that the folder exists and is writable",
                ) from None
            return
        host, port, name = url.host or "localhost", url.port or 5432, url.database or ""
        if "does not exist" in text and f'database "{name}"' in text:
            user = f" -U {url.username}" if url.username else ""
            raise StoreError(
                f"the PostgreSQL database {name!r} does not exist on {host}:{port}",
                hint=f"create it: createdb -h {host} -p {port}{user} {name}",
            ) from None
        unreachable = (
            "Connection refused",
            "could not translate host name",
            "Name or service not known",
            "timeout expired",
            "No route to host",
            "Network is unreachable",
        )
        if any(marker in text for marker in unreachable):
            raise StoreError(
                f"cannot reach PostgreSQL at {host}:{port}",
                hint="is the server running, and are the host and port in the database URL right?",
            ) from None
        if "password authentication failed" in text or "no password supplied" in text:
            raise StoreError(
                f"PostgreSQL at {host}:{port} refused user {url.username!r}",
                hint="check the user and password in the database URL",
            ) from None


#: by file, held for as long as a ledger of the file keeps its lock (a test run opens hundreds of files)
_WRITE_LOCKS: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def sqlite_write_lock(engine: Engine) -> threading.RLock | None:
    """SQLite: the lock this process's writers of ``engine``'s file take before ``BEGIN IMMEDIATE``
    (None on PostgreSQL). SQLite admits one writer at a time; a writer that finds the file locked waits
    in SQLite's busy handler, which sleeps in steps of 1 to 100 ms and polls, so two threads of one
    process taking turns (dispatch's claim ahead and its finish) lost a millisecond or more a turn.
    Queued on a lock, the next writer starts the moment the last one commits. Other processes still
    meet the busy handler. One lock per file (resolved path), whichever ledger opened it."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    key = os.path.realpath(database) if database not in ("", ":memory:") else f"memory:{id(engine)}"
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


@contextlib.contextmanager
def write_lock(lock: threading.RLock | None) -> Iterator[None]:
    """Hold this process's SQLite write lock of a file (None: nothing to hold, PostgreSQL) for one write
    transaction, taken before it begins and released after it committed or rolled back."""
    if lock is None:
        yield
        return
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
        raise StoreError(
            "the SQLite ledger stayed locked by another writer of this process",
            hint=f"a write transaction ran over {SQLITE_BUSY_TIMEOUT_S:g} s; see the log for what it was",
        )
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def write_transaction(writer: Engine, lock: threading.RLock | None) -> Iterator[Connection]:
    """``writer.begin()`` (a :func:`write_engine`) under the file's write lock: SQLAlchemy's write
    transactions (renewals, releases, runs, watermarks, the API-call log) queue behind the hot path's
    ones instead of meeting them in SQLite's busy handler, which sleeps and polls."""
    with write_lock(lock), writer.begin() as conn:
        yield conn


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) whose transactions take SQLite's write lock at BEGIN."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would not emit it for SELECT), see the
        # SQLAlchemy SQLite docs, "Serializable isolation / Savepoints / Transactional DDL".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
