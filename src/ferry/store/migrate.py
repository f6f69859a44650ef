"""Run the ledger's Alembic migrations in code (no alembic.ini at runtime)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from ferry.errors import StoreError
from ferry.store.db import write_engine
from ferry.store.schema import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic keeps the running migration context in module globals: one upgrade per process at a time
_UPGRADE_LOCK = threading.Lock()


def alembic_config() -> Config:
    """An Alembic Config pointing at the migrations inside this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``; idempotent, and safe when several processes start at once
    (one transaction under SQLite's write lock or a PostgreSQL advisory lock)."""
    config = alembic_config()
    with _UPGRADE_LOCK, write_engine(engine).begin() as connection:
        # on the migration's own connection, under its lock: a second connection opened beside it
        # could meet SQLite switching the new file to WAL ("database is locked")
        _refuse_unknown_revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _refuse_unknown_revision(connection: Connection) -> None:
    current = MigrationContext.configure(connection).get_current_revision()
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(
            f"the ledger is at migration {current}, newer than this Ferry knows (up to {head_revision()})",
            hint="upgrade Ferry, or point it at another database",
        )


def head_revision() -> str:
    """The newest migration this Ferry knows."""
    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
        return revision


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the database and :mod:`ferry.store.schema` (empty when they match)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff: list[Any] = compare_metadata(context, metadata)
        return diff
