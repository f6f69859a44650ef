"""Migrations: idempotent, concurrent-safe, and identical to schema.py."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from ferry.store import Ledger, current_revision, make_engine, schema_diff
from ferry.store.db import DATABASE_URL_ENV
from ferry.store.migrate import head_revision


def test_migrate_is_idempotent_and_matches_the_metadata(db_url: str) -> None:
    ledger = Ledger(db_url)
    try:
        assert current_revision(ledger.engine) is None
        ledger.migrate()
        ledger.migrate()
        assert current_revision(ledger.engine) == head_revision() == "0002"
        assert schema_diff(ledger.engine) == []
        tables = set(sa.inspect(ledger.engine).get_table_names())
        assert {"records", "watermarks", "runs", "api_calls", "events"} <= tables
    finally:
        ledger.close()


def test_concurrent_migrations_from_several_ledgers(db_url: str) -> None:
    ledgers = [Ledger(db_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(ledger: Ledger) -> None:
        try:
            ledger.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert current_revision(ledgers[0].engine) == head_revision()
    finally:
        for ledger in ledgers:
            ledger.close()


def test_sqlite_engine_is_tuned_for_several_processes(tmp_path: object, monkeypatch: object) -> None:
    import pytest

    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    mp.chdir(tmp_path)  # type: ignore[arg-type]
    mp.delenv(DATABASE_URL_ENV, raising=False)
    engine = make_engine()
    try:
        assert str(engine.url) == "sqlite:///ferry.db"
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 30000, "foreign_keys": 1}
    finally:
        engine.dispose()


def test_database_url_comes_from_the_environment(monkeypatch: object) -> None:
    import pytest

    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    mp.setenv(DATABASE_URL_ENV, "sqlite:///elsewhere.db")
    engine = make_engine()
    assert str(engine.url) == "sqlite:///elsewhere.db"
    engine.dispose()


def test_an_in_memory_ledger_is_one_database_across_threads() -> None:
    from ferry.store import Collected

    ledger = Ledger("sqlite://")
    try:
        ledger.migrate()
        worker = threading.Thread(target=lambda: ledger.collect("s", [Collected("a", None, {})]))
        worker.start()
        worker.join()
        assert ledger.counts() == {"pending": 1}
    finally:
        ledger.close()
