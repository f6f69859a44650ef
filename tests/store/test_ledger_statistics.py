"""PostgreSQL: a ledger filled faster than autovacuum analyses it gives its planner statistics itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ferry.store import Collected, Ledger
from ferry.store.intake import ANALYZE_AFTER


def _reltuples(ledger: Ledger) -> float:
    with ledger.engine.connect() as conn:
        query = sa.text("SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass")
        return float(conn.execute(query).scalar_one())


def test_a_backfill_leaves_the_records_table_analysed(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite plans without statistics")
    ledger = Ledger(db_url)
    try:
        ledger.migrate()
        assert _reltuples(ledger) < 0  # never analysed: the planner guesses
        for start in range(0, ANALYZE_AFTER + 200, 100):
            page = [Collected(f"R{i:05d}", f"N{i}", {"i": i}) for i in range(start, start + 100)]
            ledger.collect("s", page)
        assert _reltuples(ledger) >= ANALYZE_AFTER
        claimed = ledger.claim("s", owner="w", limit=5, lease_seconds=30)
        assert [c.source_id for c in claimed] == [f"R{i:05d}" for i in range(5)]
    finally:
        ledger.close()
