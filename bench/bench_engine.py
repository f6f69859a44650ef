"""Benchmark: records per second through collect and dispatch, beside a minimal loop, and peak memory.

A zero-latency in-process source (pages generated on the fly, never held whole) and target (answers
each batch at once) isolate the engine and the ledger. Beside each engine pass the same process runs a
**minimal loop**: the same durable work with the same tables and indexes (made by ``Ledger.migrate``),
the same page size (100) and batch size (50) and the same transactions (one per page; a claim and a
finish per batch, events included), written straight against ``sqlite3`` with the same JSON encoder.
It bounds what any ledger could do on this machine; the ratio engine/minimal is the figure to watch,
since the load of the moment cancels out. Not all of the machine's state does: the engine's excess over
the loop is Python, so on a day when SQLite's work (and the kernel's under it) is cheaper, the ratio is
lower. Each size runs in a fresh subprocess (so its peak RSS is its own); ``--repeat`` passes alternate
engine and minimal loop, and the median of each is shown, with the loops' collect and dispatch rates
under the engine's, so the gap shows where it is, and each pass's ratio, so its spread shows.

    .venv/bin/python bench/bench_engine.py                            # 10k and 100k on SQLite
    .venv/bin/python bench/bench_engine.py --sizes 10000,100000,300000 --repeat 1
    .venv/bin/python bench/bench_engine.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test

With ``--db`` for PostgreSQL (a URL whose user may create databases) every pass, engine and minimal
loop alike, runs in a fresh database of its own (created from ``template0``, dropped afterwards), and the
server's settings that decide the figures are printed first: autovacuum, fsync, synchronous_commit and
the measured latency of one committed single-row insert (each transaction pays it once). The PostgreSQL
minimal loop is the same work through psycopg: arrays over ``unnest`` (one statement per step), a claim
``FOR UPDATE SKIP LOCKED`` past the last id it claimed (sparing it the dead row versions below, as the
ledger's floor does), and one ``ANALYZE`` after its collect (a hand-written loop knows its table
is new; the ledger analyses by itself, see ``ferry.store.intake``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ferry.connectors.base import Page, RenderRequest, TargetDoc, Window, WriteItem, WriteOutcome
from ferry.engine.collect import Collector
from ferry.engine.dispatch import Dispatcher
from ferry.engine.transform import Transform
from ferry.scheme.model import Scheme
from ferry.store import Ledger

PAGE = 100


def source_record(i: int) -> dict[str, Any]:
    return {
        "id": f"R{i:08d}",
        "no": f"FKSQ{i:08d}",
        "amount": f"{i % 9999}.25",
        "supplier": {"name": f"供应商{i % 97}", "code": f"S{i % 97:03d}"},
        "rows": [{"sku": f"M{j}", "qty": j + 1} for j in range(3)],
    }


class GeneratedSource:
    def __init__(self, n: int) -> None:
        self.n = n

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        for start in range(0, self.n, PAGE):
            render({"PAGINATION_START_PAGE": start // PAGE + 1})
            yield Page([source_record(i) for i in range(start, min(self.n, start + PAGE))])

    async def aclose(self) -> None:
        return None


class InstantTarget:
    def __init__(self) -> None:
        self.written = 0

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        self.written += len(items)
        return [WriteOutcome(it.key, TargetDoc(id=f"T{it.key}", number=f"FKD{it.key}")) for it in items]

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        return None

    async def aclose(self) -> None:
        return None


SCHEME: dict[str, Any] = {
    "id": "bench",
    "source": {"api": "/x", "id": "id", "number": "no"},
    "target": {
        "api": "/y",
        "batch_size": 50,
        "request": [
            {"field": "FormId", "value": "AP_PAYBILL"},
            {"field": "FBillNo", "value": "{{no}}"},
            {"field": "FAmount", "type": "number", "value": "{{amount}}"},
            {
                "field": "FSupplier",
                "value": "{{supplier.code}}",
                "parser": {"name": "ConvertObjectParser", "params": "FNumber"},
            },
            {
                "field": "FEntity",
                "type": "array",
                "value": "rows",
                "children": [
                    {"field": "FMaterial", "value": "{{rows.sku}}"},
                    {"field": "FQty", "type": "integer", "value": "{{rows.qty}}"},
                ],
            },
        ],
    },
}


BATCH = SCHEME["target"]["batch_size"]


async def engine_pass(n: int, url: str) -> tuple[float, float]:
    """Collect then dispatch ``n`` records through the engine; returns the seconds of each."""
    ledger = Ledger(url)
    ledger.migrate()
    scheme = Scheme.model_validate(SCHEME)
    transform = Transform(scheme)
    t0 = time.perf_counter()
    await Collector(scheme, ledger, GeneratedSource(n), transform).run()
    t1 = time.perf_counter()
    target = InstantTarget()
    report = await Dispatcher(scheme, ledger, target, transform, owner="bench").run()
    t2 = time.perf_counter()
    assert target.written == n and report.by_status.get("written") == n, report
    ledger.close()
    return t1 - t0, t2 - t1


def hand_request(doc: dict[str, Any]) -> dict[str, Any]:
    """SCHEME's target request written by hand, as a script without Ferry's mapping would build it."""
    return {
        "FormId": "AP_PAYBILL",
        "FBillNo": doc["no"],
        "FAmount": float(doc["amount"]),
        "FSupplier": {"FNumber": doc["supplier"]["code"]},
        "FEntity": [{"FMaterial": row["sku"], "FQty": int(row["qty"])} for row in doc["rows"]],
    }


def minimal_pass(n: int, path: Path, *, durable: bool = False) -> tuple[float, float]:
    """The same transactions straight against sqlite3: the floor any ledger stands on.

    Bare (``durable`` False): the record's status, target ids and one event per move, nothing else.
    ``durable``: also what the ledger keeps so that a payment is never sent twice and every move can be
    traced: the request sent (built by hand), a fenced lease (a token per claim, the previous status,
    an outcome applied only under its token) and each event's detail (owner, attempts, target ids)."""
    ledger = Ledger(f"sqlite:///{path}")
    ledger.migrate()  # the same tables and indexes
    ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")

    def stamp() -> str:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    t0 = time.perf_counter()
    for start in range(0, n, PAGE):
        page = [source_record(i) for i in range(start, min(n, start + PAGE))]
        now = stamp()
        db.execute("BEGIN IMMEDIATE")
        ids = [r["id"] for r in page]
        known = {
            row[0]
            for row in db.execute(
                f"SELECT source_id FROM records WHERE scheme = ? AND source_id IN ({','.join('?' * len(ids))})",
                ["bench", *ids],
            )
        }
        values: list[Any] = []
        for r in page:
            if r["id"] in known:
                continue
            text = orjson.dumps(r, option=orjson.OPT_SORT_KEYS)
            values += [
                "bench",
                r["id"],
                "",
                r["no"],
                text.decode(),
                hashlib.sha256(text).hexdigest(),
                "pending",
                now,
                now,
            ]
        rows = db.execute(
            "INSERT INTO records (scheme, source_id, partition, number, content, content_hash, status, draft, "
            "attempts, created_at, updated_at) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)"] * (len(values) // 9))
            + " RETURNING id",
            values,
        ).fetchall()
        db.executemany(
            "INSERT INTO events (record_id, at, to_status, reason) VALUES (?, ?, 'pending', 'collected')",
            [(record_id, now) for (record_id,) in rows],
        )
        db.execute("COMMIT")
    t1 = time.perf_counter()
    token = 0
    while True:
        now = stamp()
        db.execute("BEGIN IMMEDIATE")
        ids = [
            i
            for (i,) in db.execute(
                "SELECT id FROM records WHERE scheme = 'bench' AND status = 'pending' ORDER BY id LIMIT ?",
                (BATCH,),
            )
        ]
        if not ids:
            db.execute("COMMIT")
            break
        marks = ",".join("?" * len(ids))
        if durable:
            token += 1
            claimed = db.execute(
                "UPDATE records SET status = 'writing', lease_owner = 'bench', lease_expires_at = ?, "
                f"lease_token = ?, lease_prev_status = status, updated_at = ? WHERE id IN ({marks}) "
                "RETURNING id, content, attempts",
                [now, token, now, *ids],
            ).fetchall()
        else:
            claimed = db.execute(
                "UPDATE records SET status = 'writing', lease_owner = 'bench', lease_expires_at = ?, updated_at = ? "
                f"WHERE id IN ({marks}) RETURNING id, content, 0",
                [now, now, *ids],
            ).fetchall()
        db.execute("COMMIT")
        docs = [(record_id, orjson.loads(text), attempts) for record_id, text, attempts in claimed]
        now = stamp()
        db.execute("BEGIN IMMEDIATE")
        if durable:
            db.executemany(
                "UPDATE records SET status = 'written', target_id = ?, target_number = ?, request = ?, "
                "attempts = attempts + 1, lease_owner = NULL, lease_expires_at = NULL, lease_prev_status = NULL, "
                "lease_token = NULL, updated_at = ? WHERE id = ? AND lease_token = ?",
                [
                    (
                        f"T{i}",
                        f"FKD{doc['no']}",
                        orjson.dumps(hand_request(doc), option=orjson.OPT_SORT_KEYS).decode(),
                        now,
                        i,
                        token,
                    )
                    for i, doc, _ in docs
                ],
            )
            db.executemany(
                "INSERT INTO events (record_id, at, from_status, to_status, reason, detail) "
                "VALUES (?, ?, 'writing', 'written', 'written', ?)",
                [
                    (
                        i,
                        now,
                        orjson.dumps(
                            {
                                "owner": "bench",
                                "attempts": a + 1,
                                "target_id": f"T{i}",
                                "target_number": f"FKD{doc['no']}",
                            }
                        ).decode(),
                    )
                    for i, doc, a in docs
                ],
            )
        else:
            db.executemany(
                "UPDATE records SET status = 'written', target_id = ?, target_number = ?, attempts = attempts + 1, "
                "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                [(f"T{i}", f"FKD{doc['no']}", now, i) for i, doc, _ in docs],
            )
            db.executemany(
                "INSERT INTO events (record_id, at, from_status, to_status, reason) "
                "VALUES (?, ?, 'writing', 'written', 'written')",
                [(i, now) for i, _, _ in docs],
            )
        db.execute("COMMIT")
    t2 = time.perf_counter()
    (written,) = db.execute("SELECT count(*) FROM records WHERE status = 'written'").fetchone()
    assert written == n, written
    if durable:
        (kept,) = db.execute("SELECT count(*) FROM records WHERE request IS NOT NULL").fetchone()
        assert kept == n, kept
    db.close()
    return t1 - t0, t2 - t1


def pg_database(url: str) -> tuple[str, str]:
    """A fresh database on the server of ``url``: the URL that uses it, and its name."""
    name = f"ferry_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_database(url: str, name: str) -> None:
    admin = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    admin.dispose()


def libpq(url: str) -> str:
    """``url`` as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_settings(url: str) -> str:
    """The server settings that decide the figures, and what one committed write costs."""
    import psycopg  # PostgreSQL only: a SQLite run's peak RSS stays its own

    with psycopg.connect(libpq(url)) as db:
        shown = []
        for name in ("server_version", "autovacuum", "fsync", "synchronous_commit", "wal_sync_method"):
            row = db.execute("SELECT setting FROM pg_settings WHERE name = %s", (name,)).fetchone()
            shown.append(f"{name}={row[0] if row else '?'}")
        db.execute("CREATE TEMP TABLE commit_probe (x int)")
        db.commit()
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            db.execute("INSERT INTO commit_probe VALUES (1)")
            db.commit()
            times.append(time.perf_counter() - t0)
    # a temporary table writes no WAL: probe a real one too
    url2, name = pg_database(url)
    try:
        with psycopg.connect(libpq(url2)) as db:
            db.execute("CREATE TABLE commit_probe (x int)")
            db.commit()
            durable = []
            for _ in range(50):
                t0 = time.perf_counter()
                db.execute("INSERT INTO commit_probe VALUES (1)")
                db.commit()
                durable.append(time.perf_counter() - t0)
    finally:
        drop_database(url, name)
    return (
        ", ".join(shown)
        + f"; one committed insert {statistics.median(durable) * 1000:.2f} ms"
        + f" (temporary table, no WAL flush: {statistics.median(times) * 1000:.2f} ms)"
    )


_PG_EXISTING = "SELECT source_id FROM records WHERE scheme = %s AND source_id = ANY(%s)"
_PG_INSERT = (
    "INSERT INTO records (scheme, source_id, partition, number, content, content_hash, status, draft, "
    "attempts, created_at, updated_at) SELECT 'bench', s, '', n, c::json, h, 'pending', false, 0, %s, %s "
    "FROM unnest(%s::varchar[], %s::varchar[], %s::text[], %s::varchar[]) AS v(s, n, c, h) RETURNING id"
)
_PG_EVENTS = (
    "INSERT INTO events (record_id, at, from_status, to_status, reason) "
    "SELECT i, %s, {from_status}, {to_status}, {reason} FROM unnest(%s::bigint[]) AS v(i)"
)
_PG_CLAIM = (
    "UPDATE records r SET status = 'writing', lease_owner = 'bench', lease_expires_at = %s, updated_at = %s "
    "FROM (SELECT id FROM records WHERE scheme = 'bench' AND status = 'pending' AND id > %s ORDER BY id LIMIT %s "
    "FOR UPDATE SKIP LOCKED) c WHERE r.id = c.id RETURNING r.id, r.content::text"
)
_PG_FINISH = (
    "UPDATE records r SET status = 'written', target_id = v.t, target_number = v.n, attempts = attempts + 1, "
    "lease_owner = NULL, lease_expires_at = NULL, updated_at = %s "
    "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) AS v(i, t, n) WHERE r.id = v.i"
)


def minimal_pg_pass(n: int, url: str) -> tuple[float, float]:
    """The same durable work straight through psycopg: the floor any ledger on this server stands on."""
    import psycopg

    ledger = Ledger(url)
    ledger.migrate()  # the same tables and indexes
    ledger.close()
    db = psycopg.connect(libpq(url))
    # the ledger's own session setting (ferry.store.db): plans for the actual values, never a generic plan
    db.execute("SET plan_cache_mode = force_custom_plan")
    db.commit()
    events_in = _PG_EVENTS.format(from_status="NULL", to_status="'pending'", reason="'collected'")
    events_out = _PG_EVENTS.format(from_status="'writing'", to_status="'written'", reason="'written'")
    t0 = time.perf_counter()
    with db.cursor() as cur:
        for start in range(0, n, PAGE):
            page = [source_record(i) for i in range(start, min(n, start + PAGE))]
            now = dt.datetime.now(dt.UTC)
            cur.execute(_PG_EXISTING, ("bench", [r["id"] for r in page]))
            known = {row[0] for row in cur.fetchall()}
            texts = [(r, orjson.dumps(r, option=orjson.OPT_SORT_KEYS)) for r in page if r["id"] not in known]
            cur.execute(
                _PG_INSERT,
                (
                    now,
                    now,
                    [r["id"] for r, _ in texts],
                    [r["no"] for r, _ in texts],
                    [t.decode() for _, t in texts],
                    [hashlib.sha256(t).hexdigest() for _, t in texts],
                ),
            )
            cur.execute(events_in, (now, [i for (i,) in cur.fetchall()]))
            db.commit()
        cur.execute("ANALYZE records")
        db.commit()
        t1 = time.perf_counter()
        floor = 0
        while True:
            now = dt.datetime.now(dt.UTC)
            cur.execute(_PG_CLAIM, (now, now, floor, BATCH))
            claimed = cur.fetchall()
            db.commit()
            if not claimed:
                break
            docs = [(record_id, orjson.loads(text)) for record_id, text in claimed]
            now = dt.datetime.now(dt.UTC)
            ids = [i for i, _ in docs]
            floor = max(ids)
            cur.execute(
                _PG_FINISH, (now, ids, [f"T{i}" for i in ids], [f"FKD{doc['no']}" for _, doc in docs])
            )
            cur.execute(events_out, (now, ids))
            db.commit()
        t2 = time.perf_counter()
        cur.execute("SELECT count(*) FROM records WHERE status = 'written'")
        (written,) = cur.fetchone() or (0,)
    db.close()
    assert written == n, written
    return t1 - t0, t2 - t1


def child(n: int, repeat: int, db: str | None) -> dict[str, Any]:
    engine_runs: list[tuple[float, float]] = []
    minimal_runs: list[tuple[float, float]] = []
    durable_runs: list[tuple[float, float]] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            if db is None:
                engine_runs.append(asyncio.run(engine_pass(n, f"sqlite:///{Path(d) / 'engine.db'}")))
                minimal_runs.append(minimal_pass(n, Path(d) / "minimal.db"))
                durable_runs.append(minimal_pass(n, Path(d) / "durable.db", durable=True))
            else:
                url, name = pg_database(db)
                try:
                    engine_runs.append(asyncio.run(engine_pass(n, url)))
                finally:
                    drop_database(db, name)
                url, name = pg_database(db)
                try:
                    minimal_runs.append(minimal_pg_pass(n, url))
                finally:
                    drop_database(db, name)

    def rates(runs: list[tuple[float, float]]) -> dict[str, float]:
        return {
            "collect": statistics.median(n / c for c, _ in runs),
            "dispatch": statistics.median(n / d for _, d in runs),
            "end_to_end": statistics.median(n / (c + d) for c, d in runs),
        }

    def ratios(loop: list[tuple[float, float]]) -> list[float]:
        # each pass's ratio, its loop run beside it: the machine's load of the moment cancels out
        # (none for a loop that did not run: PostgreSQL has no durable one)
        if not loop:
            return []
        return [(c2 + d2) / (c + d) for (c, d), (c2, d2) in zip(engine_runs, loop, strict=True)]

    return {
        "records": n,
        "engine": rates(engine_runs),
        "minimal": rates(minimal_runs) if minimal_runs else None,
        "durable": rates(durable_runs) if durable_runs else None,
        "ratios": ratios(minimal_runs),
        "durable_ratios": ratios(durable_runs),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated record counts")
    ap.add_argument("--repeat", type=int, default=3, help="passes per size; medians are shown")
    ap.add_argument("--db", help="a PostgreSQL URL (default: SQLite files in a temp dir)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat, args.db)))
        return
    backend = "sqlite" if args.db is None else make_url(args.db).render_as_string(hide_password=True)
    print(f"backend: {backend}; page {PAGE}, batch {BATCH}; median of {args.repeat}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    if args.db:
        print(f"server: {pg_settings(args.db)}")
    print(
        f"{'records':>8} {'collect/s':>10} {'dispatch/s':>11} {'end-to-end/s':>13} "
        f"{'minimal/s':>10} {'ratio':>6} {'durable/s':>10} {'ratio':>6} {'peak RSS MB':>12}"
    )
    for n in (int(x) for x in args.sizes.split(",")):
        command = [sys.executable, __file__, "--child", str(n), "--repeat", str(args.repeat)]
        if args.db:
            command += ["--db", args.db]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        e, m, k = r["engine"], r["minimal"], r["durable"]
        minimal = f"{m['end_to_end']:>10.0f}" if m else f"{'-':>10}"
        durable = f"{k['end_to_end']:>10.0f}" if k else f"{'-':>10}"
        ratio, durable_ratio = (
            f"{statistics.median(r[key]):>6.2f}" if r[key] else f"{'-':>6}"
            for key in ("ratios", "durable_ratios")
        )
        print(
            f"{n:>8} {e['collect']:>10.0f} {e['dispatch']:>11.0f} {e['end_to_end']:>13.0f} "
            f"{minimal} {ratio} {durable} {durable_ratio} {r['peak_rss_mb']:>12.1f}"
        )
        # where the engine stands against the loops, step by step, and how far the passes spread
        for name, loop, key in (("minimal", m, "ratios"), ("durable", k, "durable_ratios")):
            if loop:
                spread = " ".join(f"{x:.2f}" for x in r[key])
                print(
                    f"{'':>8} {loop['collect']:>10.0f} {loop['dispatch']:>11.0f} {loop['end_to_end']:>13.0f}"
                    f"  ({name} loop; each pass's ratio: {spread})"
                )


if __name__ == "__main__":
    main()
