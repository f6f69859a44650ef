"""Quality fixtures: a migrated ledger on SQLite (a file in tmp_path) and on PostgreSQL when reachable
(skipped with the reason otherwise), and a helper to put records in it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from quality_db import AddRecords, fresh_pg_schema, require_postgres

from ferry.store import Collected, Ledger

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database no other test uses."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
        return
    require_postgres()
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    ledger = Ledger(db_url)
    ledger.migrate()
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def add(ledger: Ledger) -> AddRecords:
    """Collect records into the ledger; returns their ids in order."""
    counter = iter(range(1, 1_000_000))

    def add(*contents: Mapping[str, Any], scheme: str = "pay") -> list[int]:
        items = []
        for content in contents:
            sid = str(content.get("id") or f"r{next(counter)}")
            items.append(
                Collected(source_id=sid, number=str(content.get("no") or sid), content=dict(content))
            )
        ledger.collect(scheme, items)
        ids = []
        for item in items:
            row = ledger.get(scheme, item.source_id)
            assert row is not None
            ids.append(row.id)
        return ids

    return add
