"""Claims under concurrency: several threads and several processes never share a record."""

from __future__ import annotations

import multiprocessing
from collections import Counter

from ledger_workers import drain_in_threads

from ferry.store import Collected, Ledger

N = 500


def seed(url: str) -> Ledger:
    ledger = Ledger(url)
    ledger.migrate()
    for start in range(0, N, 100):
        ledger.collect("s", [Collected(str(i), None, {"i": i}) for i in range(start, start + 100)])
    return ledger


def assert_each_record_written_once(ledger: Ledger, handed: dict[str, list[int]]) -> None:
    every = [record_id for ids in handed.values() for record_id in ids]
    duplicates = [record_id for record_id, n in Counter(every).items() if n > 1]
    assert duplicates == [], f"records handed to two owners: {duplicates[:10]}"
    assert len(every) == N
    assert ledger.counts("s") == {"written": N}
    for owner, ids in handed.items():
        for record_id in ids[:20]:
            row = ledger.get_by_id(record_id)
            assert row is not None and row.target_id == owner
            assert [e.to_status for e in ledger.history(record_id)] == ["pending", "written"]
    # several owners really took part
    assert sum(1 for ids in handed.values() if ids) >= 2


def test_four_threads_never_claim_the_same_record(db_url: str) -> None:
    ledger = seed(db_url)
    try:
        handed = drain_in_threads(db_url, "s", "p", threads=4, batch=7)
        assert_each_record_written_once(ledger, handed)
    finally:
        ledger.close()


def test_two_processes_never_claim_the_same_record(db_url: str) -> None:
    ledger = seed(db_url)
    try:
        context = multiprocessing.get_context("spawn")
        with context.Pool(2) as pool:
            results = pool.starmap(drain_in_threads, [(db_url, "s", f"proc{i}", 2, 5) for i in range(2)])
        handed = {owner: ids for result in results for owner, ids in result.items()}
        assert len(handed) == 4
        assert_each_record_written_once(ledger, handed)
    finally:
        ledger.close()
