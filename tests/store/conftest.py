"""Store fixtures: every ledger test runs on SQLite (a file in tmp_path) and on PostgreSQL when reachable.

PostgreSQL comes from ``$FERRY_TEST_POSTGRES_URL`` (default: the local ``test`` database). Schemas
through ``search_path`` keep tests apart: ``db_url`` is a fresh empty schema per test, ``ledger`` a
session-wide migrated schema truncated (identities restarted) before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.store import Ledger, metadata
from pg_support import fresh_pg_schema, require_postgres

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database (no tables) no other test uses."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ledger')}/ledger.db"
        return
    require_postgres()
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(scope="session")
def pg_migrated_url() -> Iterator[str]:
    """One migrated PostgreSQL schema for the session; :func:`ledger` empties it before each test
    (migrating a fresh schema per test would cost most of the suite's time)."""
    require_postgres()
    with fresh_pg_schema() as url:
        ledger = Ledger(url)
        ledger.migrate()
        ledger.close()
        yield url


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A migrated, empty ledger on each backend."""
    if request.param == "sqlite":
        ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db")
        ledger.migrate()
    else:
        ledger = Ledger(request.getfixturevalue("pg_migrated_url"))
        tables = ", ".join(table.name for table in metadata.sorted_tables)
        with ledger.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield ledger
    finally:
        ledger.close()
