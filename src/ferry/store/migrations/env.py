"""Alembic environment: runs on the connection handed over in ``config.attributes["connection"]``.

There is no alembic.ini: :func:`ferry.store.migrate.upgrade` builds the Config in code.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from ferry.store.schema import metadata

#: any constant; serialises concurrent ``migrate()`` calls from several processes on PostgreSQL
_PG_LOCK_KEY = 0x46455252  # "FERR"


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("ferry migrations run in code: pass a connection in config.attributes")
    if connection.dialect.name == "postgresql":
        # held until the transaction ends; SQLite already serialises through BEGIN IMMEDIATE
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations get copy-and-move batches
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("ferry migrations run online only")
run_migrations_online()
