"""Engine construction: SQLite (the default, a file in the working directory) or PostgreSQL.

SQLite is tuned for several processes sharing one file: WAL (readers never block the writer),
``synchronous=NORMAL`` (durable at checkpoints, safe with WAL), a 30 s busy timeout, and foreign keys.
Write transactions begin with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can
fail with SQLITE_BUSY at the upgrade instead of waiting, which is exactly the claim pattern.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

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
    parsed = make_url(url)
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
        engine = create_engine(url, connect_args=connect_args, **engine_kwargs)
        _tune_sqlite(engine)
        return engine
    if backend == "postgresql":
        engine_kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **engine_kwargs)


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
