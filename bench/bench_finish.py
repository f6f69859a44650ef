"""Benchmark: a written outcome's UPDATE on SQLite, as the ledger writes it beside ``coalesce`` for all.

An outcome's ``None`` target ids, request, response, content and watch times keep the stored values.
The ledger leaves those columns out of its UPDATE (``ferry.store.outcomes._sqlite_finish``); the
obvious statement assigns every one of them ``coalesce(?, column)``. Both store the same row. This
runs both over the same rows of the ledger's own table (``Ledger.migrate``: same indexes), 50 rows per
``executemany`` and one transaction per batch, alternating passes in one process, and prints the
microseconds per row of each and their ratio.

    .venv/bin/python bench/bench_finish.py                 # 20,000 rows, 3 passes each
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ferry.store import Ledger
from ferry.store.outcomes import _sqlite_finish

BATCH = 50
AT = "2026-12-01 00:00:01.000000"
REQUEST = orjson.dumps(
    {"FormId": "AP_PAYBILL", "FBillNo": "FKSQ00000001", "FAmount": 12.25, "FEntity": [{"FQty": 1}] * 3},
    option=orjson.OPT_SORT_KEYS,
).decode()

#: every kept column assigned, a NULL keeping the stored value
COALESCE_ALL = (
    "UPDATE records SET status = ?, reason = ?, draft = ?, attempts = ?, next_attempt_at = ?, "
    "last_error_type = ?, last_error_code = ?, last_error_message = ?, "
    "target_id = coalesce(?, target_id), target_number = coalesce(?, target_number), "
    "request = coalesce(?, request), response = coalesce(?, response), "
    "content = coalesce(?, content), content_hash = coalesce(?, content_hash), "
    "watch_next_at = coalesce(?, watch_next_at), watch_until = coalesce(?, watch_until), "
    "lease_owner = NULL, lease_expires_at = NULL, lease_prev_status = NULL, lease_token = NULL, "
    "updated_at = ? WHERE id = ? AND lease_token = ?"
)


def writing_table(path: Path, n: int) -> sqlite3.Connection:
    """The ledger's tables holding ``n`` records claimed (``writing``, lease token 7)."""
    ledger = Ledger(f"sqlite:///{path}")
    ledger.migrate()
    ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
        db.execute(f"PRAGMA {pragma}")
    content = orjson.dumps({"no": "FKSQ", "amount": "1.25", "rows": [{"sku": "M1", "qty": 1}] * 3}).decode()
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO records (scheme, source_id, partition, number, content, content_hash, status, draft, "
        "attempts, created_at, updated_at, lease_owner, lease_token) "
        "VALUES ('b', ?, '', ?, ?, 'h', 'writing', 0, 0, ?, ?, 'o', 7)",
        [(f"R{i}", f"N{i}", content, AT, AT) for i in range(n)],
    )
    db.execute("COMMIT")
    return db


def full_row(i: int) -> tuple[Any, ...]:
    """The 19 parameters of a written outcome (target ids and request set, the rest kept)."""
    return (
        ("written", "written", False, 1, None, None, None, None, f"T{i}", f"FKD{i}", REQUEST)
        + (None,) * 5
        + (AT, i, 7)
    )


def shaped_row(i: int) -> tuple[Any, ...]:
    row = full_row(i)
    return (*row[:8], *[v for v in row[8:16] if v is not None], *row[16:])


def one_pass(path: Path, n: int, statement: str, row: Callable[[int], tuple[Any, ...]]) -> float:
    """Microseconds per row of ``statement`` over ``n`` fresh writing records."""
    db = writing_table(path, n)
    spent = 0.0
    for start in range(1, n + 1, BATCH):
        rows = [row(i) for i in range(start, min(n + 1, start + BATCH))]
        db.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        db.executemany(statement, rows)
        spent += time.perf_counter() - began
        db.execute("COMMIT")
    (written,) = db.execute(
        "SELECT count(*) FROM records WHERE status = 'written' AND request = ?", (REQUEST,)
    ).fetchone()
    assert written == n, written
    db.close()
    return spent / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    shaped = _sqlite_finish((True, True, True, False, False, False, False, False))
    both: dict[str, list[float]] = {"coalesce every kept column": [], "the ledger's (set columns only)": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeat):
            both["coalesce every kept column"].append(
                one_pass(Path(d) / f"c{i}.db", args.rows, COALESCE_ALL, full_row)
            )
            both["the ledger's (set columns only)"].append(
                one_pass(Path(d) / f"s{i}.db", args.rows, shaped, shaped_row)
            )
    print(
        f"SQLite finish UPDATE of a written outcome, {args.rows:,} rows, batches of {BATCH}; median of {args.repeat}"
    )
    medians = {name: statistics.median(runs) for name, runs in both.items()}
    for name, value in medians.items():
        print(f"  {name:34s} {value:6.2f} us/row")
    coalesced, ledger = medians.values()
    print(f"  ratio ledger/coalesce            {ledger / coalesced:6.2f}")


if __name__ == "__main__":
    main()
