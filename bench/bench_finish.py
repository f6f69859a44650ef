"""Benchmark: a written outcome's UPDATE and a batch's events on SQLite, as the ledger writes them
beside the obvious statements.

An outcome's ``None`` target ids, request, response, content and watch times keep the stored values,
its ``None`` error and retry time clear them. The ledger leaves the kept columns out of its UPDATE and
writes the cleared ones as NULL in the statement (``ferry.store.outcomes._sqlite_finish``); the obvious
statement binds all of them, the kept ones as ``coalesce(?, column)``. Both store the same row. The
batch's events go in one multi-row INSERT with their shared time bound once
(``ferry.store.core.sqlite_rows``), where the obvious way is an ``executemany`` of one row each.
This runs both of each over the ledger's own table (``Ledger.migrate``: same indexes), 50 rows and one
transaction per batch, alternating passes in one process, and prints the microseconds per row of each
and their ratio.

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
from ferry.store.core import sqlite_rows
from ferry.store.leases import EVENTS_HEAD
from ferry.store.outcomes import _EVENT_ROW, _sqlite_finish

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
    return (*row[:4], *[v for v in row[4:16] if v is not None], *row[16:])


Step = Callable[[sqlite3.Connection, range], None]
SHAPED = _sqlite_finish((False,) * 4 + (True, True, True, False, False, False, False, False))
DETAIL = orjson.dumps({"owner": "bench", "attempts": 1, "target_id": "T1", "target_number": "FKD1"}).decode()
EVENT_ONE = (
    "INSERT INTO events (record_id, at, from_status, to_status, reason, detail) VALUES (?, ?, ?, ?, ?, ?)"
)


def update_coalesce(db: sqlite3.Connection, ids: range) -> None:
    db.executemany(COALESCE_ALL, [full_row(i) for i in ids])


def update_ledger(db: sqlite3.Connection, ids: range) -> None:
    db.executemany(SHAPED, [shaped_row(i) for i in ids])


def events_executemany(db: sqlite3.Connection, ids: range) -> None:
    db.executemany(EVENT_ONE, [(i, AT, "writing", "written", "written", DETAIL) for i in ids])


def events_ledger(db: sqlite3.Connection, ids: range) -> None:
    values: list[Any] = [AT]
    for i in ids:
        values += (i, "written", "written", DETAIL)
    db.execute(sqlite_rows(EVENTS_HEAD, _EVENT_ROW, len(ids)), values)


def one_pass(path: Path, n: int, step: Step) -> float:
    """Microseconds per row of ``step`` (its parameters built and its statement run) over ``n`` fresh
    writing records, a batch per transaction."""
    db = writing_table(path, n)
    spent = 0.0
    for start in range(1, n + 1, BATCH):
        db.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        step(db, range(start, min(n + 1, start + BATCH)))
        spent += time.perf_counter() - began
        db.execute("COMMIT")
    if step in (update_coalesce, update_ledger):
        query = "SELECT count(*) FROM records WHERE status = 'written' AND request = ?"
        (done,) = db.execute(query, (REQUEST,)).fetchone()
    else:
        query = "SELECT count(*) FROM events WHERE to_status = 'written' AND detail = ? AND at = ?"
        (done,) = db.execute(query, (DETAIL, AT)).fetchone()
    assert done == n, done
    db.close()
    return spent / n * 1e6


PAIRS: dict[str, tuple[tuple[str, Step], tuple[str, Step]]] = {
    "finish UPDATE of a written outcome": (
        ("every column bound, kept ones coalesce", update_coalesce),
        ("the ledger's (set columns only)", update_ledger),
    ),
    "the batch's events": (
        ("executemany, a row each", events_executemany),
        ("the ledger's (one multi-row INSERT)", events_ledger),
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"SQLite, {args.rows:,} rows, batches of {BATCH}; median of {args.repeat}")
    with tempfile.TemporaryDirectory() as d:
        for what, ((obvious_name, obvious), (ledger_name, ledger)) in PAIRS.items():
            runs: dict[str, list[float]] = {obvious_name: [], ledger_name: []}
            for i in range(args.repeat):
                runs[obvious_name].append(one_pass(Path(d) / f"o{len(what)}{i}.db", args.rows, obvious))
                runs[ledger_name].append(one_pass(Path(d) / f"l{len(what)}{i}.db", args.rows, ledger))
            medians = {name: statistics.median(times) for name, times in runs.items()}
            print(f"{what}:")
            for name, value in medians.items():
                print(f"  {name:40s} {value:6.2f} us/row")
            print(f"  {'ratio ledger/obvious':40s} {medians[ledger_name] / medians[obvious_name]:6.2f}")


if __name__ == "__main__":
    main()
