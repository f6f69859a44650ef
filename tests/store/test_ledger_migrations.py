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
        assert current_revision(ledger.engine) == head_revision() == "0007"
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


def test_upgrading_rehashes_contents_whose_canonical_text_changed(db_url: str) -> None:
    """A float below 1e-4 was hashed as ``1e-05`` before orjson; 0002 rehashes it so on_change sees no
    change that did not happen, and leaves every other hash alone."""
    import hashlib
    import json

    from ferry.store import Collected
    from ferry.store.migrate import upgrade

    ledger = Ledger(db_url)
    try:
        upgrade(ledger.engine, "0001")
        old_hash = {}
        with ledger.engine.begin() as conn:
            for source_id, content in (("tiny", {"rate": 1e-05}), ("plain", {"rate": 0.5, "名": "值"})):
                text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                old_hash[source_id] = hashlib.sha256(text.encode()).hexdigest()
                conn.execute(
                    sa.text(
                        "INSERT INTO records (scheme, source_id, partition, content, content_hash, status, draft, "
                        "attempts, created_at, updated_at) VALUES ('s', :sid, '', :c, :h, 'written', false, 1, "
                        ":at, :at)"
                    ),
                    {
                        "sid": source_id,
                        "c": json.dumps(content),
                        "h": old_hash[source_id],
                        "at": "2026-01-01 00:00:00",
                    },
                )
        ledger.migrate()
        tiny, plain = ledger.get("s", "tiny"), ledger.get("s", "plain")
        assert tiny is not None and plain is not None
        assert plain.content_hash == old_hash["plain"]
        assert tiny.content_hash != old_hash["tiny"]
        # the same content collected again is unchanged: nothing is rewritten
        counts = ledger.collect(
            "s",
            [Collected("tiny", None, {"rate": 1e-05}), Collected("plain", None, {"rate": 0.5, "名": "值"})],
            on_change="rewrite",
        )
        assert counts.as_dict() == {"new": 0, "changed": 0, "unchanged": 2, "ignored": 0}
    finally:
        ledger.close()


def test_upgrading_drops_the_events_foreign_key_and_keeps_every_event(db_url: str) -> None:
    """0007 takes the foreign key off ``events`` (SQLite by copying the table): the events already
    stored, their ids and their index stay, and the other tables keep their keys to ``records``."""
    from ferry.store import Collected
    from ferry.store.migrate import upgrade

    ledger = Ledger(db_url)

    def stored_events() -> list[tuple[int, int, str]]:
        return [
            (e.id, e.record_id, e.to_status)
            for r in ledger.list_records(scheme="s")
            for e in ledger.history(r.id)
        ]

    try:
        upgrade(ledger.engine, "0006")
        ledger.collect("s", [Collected(f"P{i}", f"FK{i}", {"i": i}) for i in range(3)])
        before = stored_events()
        assert len(before) == 3 and sa.inspect(ledger.engine).get_foreign_keys("events") != []
        ledger.migrate()
        inspector = sa.inspect(ledger.engine)
        assert inspector.get_foreign_keys("events") == []
        assert {"ix_events_record_id", "ix_events_at"} <= {
            ix["name"] for ix in inspector.get_indexes("events")
        }
        assert [fk["referred_table"] for fk in inspector.get_foreign_keys("findings")] == ["records"]
        assert stored_events() == before
        # the ledger goes on writing events after the upgrade
        ledger.collect("s", [Collected("P9", "FK9", {"i": 9})])
        assert [e.to_status for e in ledger.history(ledger.get("s", "P9").id)] == ["pending"]  # type: ignore[union-attr]
    finally:
        ledger.close()
