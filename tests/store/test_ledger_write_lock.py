"""SQLite: every writer of one process takes the file's write lock, the hot path and SQLAlchemy's alike."""

from __future__ import annotations

import datetime as dt
import gc
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ferry.observe.calls import ApiCall
from ferry.store import Collected, Ledger, db
from ferry.store.db import sqlite_write_lock


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", call_flush_every=1_000_000, call_flush_seconds=3600)
    ledger.migrate()
    ledger.collect("s", [Collected(str(i), None, {"i": i}) for i in range(3)])
    return ledger


def _blocked_while_locked(ledger: Ledger, write: Callable[[], object]) -> None:
    """``write`` waits while another thread holds the lock (no SQLite transaction is open, so only
    the lock can hold it back) and goes through once the lock is released."""
    lock = sqlite_write_lock(ledger.engine)
    assert lock is not None
    done = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as e:  # reported by the assertion below
            failed.append(e)
        finally:
            done.set()

    with lock:
        worker = threading.Thread(target=run)
        worker.start()
        assert not done.wait(0.3), "the write went ahead while this process's write lock was held"
    assert done.wait(10), "the write never went through after the lock was released"
    worker.join()
    assert failed == []


def test_sqlalchemy_write_transactions_queue_on_the_write_lock(ledger: Ledger) -> None:
    [claimed] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    _blocked_while_locked(ledger, lambda: ledger.renew("w", [claimed], 600))
    _blocked_while_locked(ledger, lambda: ledger.release("w", [claimed]))
    _blocked_while_locked(ledger, lambda: ledger.set_watermark("s", dt.datetime(2026, 3, 1, tzinfo=dt.UTC)))
    assert ledger.counts("s") == {"pending": 3}
    ledger.close()


def test_the_api_call_log_flushes_under_the_write_lock(ledger: Ledger) -> None:
    ledger.record(ApiCall("dingtalk", "token", "ok", 1.0))
    _blocked_while_locked(ledger, ledger._calls.flush)
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM api_calls").scalar_one() == 1
    ledger.close()


def test_a_files_lock_is_kept_only_while_a_ledger_of_it_lives(tmp_path: Path) -> None:
    path = str((tmp_path / "gone.db").resolve())
    ledger = Ledger(f"sqlite:///{path}")
    assert db._WRITE_LOCKS.get(path) is sqlite_write_lock(ledger.engine) is not None
    ledger.close()
    del ledger
    gc.collect()
    assert path not in db._WRITE_LOCKS
