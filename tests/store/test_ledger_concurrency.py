"""Claims under concurrency: several threads and several processes never share a record."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path

from ledger_workers import claim_for, claim_then_stall, drain_in_threads, hold_and_renew

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


def test_two_processes_never_claim_the_same_record(db_url: str, tmp_path: Path) -> None:
    ledger = seed(db_url)
    ready = tmp_path / "ready"
    ready.mkdir()
    try:
        context = multiprocessing.get_context("spawn")
        with context.Pool(2) as pool:
            results = pool.starmap(
                drain_in_threads, [(db_url, "s", f"proc{i}", 2, 5, str(ready), 2) for i in range(2)]
            )
        handed = {owner: ids for result in results for owner, ids in result.items()}
        assert len(handed) == 4
        assert_each_record_written_once(ledger, handed)
    finally:
        ledger.close()


def wait_for(ledger: Ledger, status: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while ledger.counts("s").get(status, 0) < n:
        assert time.monotonic() < deadline, f"timed out waiting for {n} {status}: {ledger.counts('s')}"
        time.sleep(0.02)


def test_a_renewed_batch_is_never_taken_by_another_process(db_url: str) -> None:
    ledger = seed(db_url)
    try:
        context = multiprocessing.get_context("spawn")
        with context.Pool(2) as pool:
            holder = pool.apply_async(hold_and_renew, (db_url, "s", "holder", 0.6, 3.0))
            wait_for(ledger, "writing", N)
            # the holder's lease is 0.6 s; the thief tries for 2 s, several leases long
            thief = pool.apply_async(claim_for, (db_url, "s", "thief", 2.0))
            assert thief.get(timeout=60) == []
            assert holder.get(timeout=60) == []
        assert ledger.counts("s") == {"written": N}
        assert {ledger.get_by_id(i).target_id for i in (1, N // 2, N)} == {"holder"}  # type: ignore[union-attr]
    finally:
        ledger.close()


def test_a_stalled_process_is_fenced_out_after_a_takeover(db_url: str) -> None:
    ledger = seed(db_url)
    try:
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            stalled = pool.apply_async(claim_then_stall, (db_url, "s", "stalled", 0.3, 2.0))
            wait_for(ledger, "writing", N)
            time.sleep(0.4)  # its lease runs out while it is still alive
            taken = ledger.claim("s", owner="stalled", limit=N, lease_seconds=60)  # same owner name
            assert len(taken) == N and all(c.needs_probe for c in taken)
            assert ledger.finish("stalled", [c.outcome("written", target_id="new") for c in taken]) == []
            lost = stalled.get(timeout=60)
        assert len(lost) == N  # its late outcomes changed nothing
        assert ledger.counts("s") == {"written": N}
        assert {ledger.get_by_id(i).target_id for i in (1, N // 2, N)} == {"new"}  # type: ignore[union-attr]
    finally:
        ledger.close()
