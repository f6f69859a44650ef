"""The console's pages on a big ledger: 100,000 records and 1,000,000 events (3 schemes), each page and
search answered by the real app over real HTTP (uvicorn on a loopback port, open access).

Prints, per page, the median and worst of a few requests with migration 0003's indexes, then the same
with those indexes dropped (the baseline the indexes are measured against), side by side; the goal is
under 300 ms each. Run by hand:

    .venv/bin/python bench/bench_console.py                          # SQLite file in a temp dir
    .venv/bin/python bench/bench_console.py --url postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python bench/bench_console.py --records 20000 --events 200000   # smaller, while developing

With ``--url`` for PostgreSQL, the tables live in a throwaway schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_store import drop_schema, pg_schema_url

GOAL_MS = 300.0
SCHEMES = ("dingtalk-payapply-to-paybill", "expense-to-paybill", "contract-to-receivable")
STATUS_MIX = [
    ("written", 84),
    ("failed", 5),
    ("dead", 3),
    ("quarantined", 3),
    ("skipped", 3),
    ("in_doubt", 1),
    ("pending", 1),
]
REASONS = {
    "failed": ("retry", "500", "attempt 1 failed: Kingdee answered HTTP 500"),
    "dead": ("give_up", "MsgCode 11", "Kingdee refused the bill: 单据编号已存在"),
    "quarantined": ("quality", None, "quality rule 'amount-matches' failed: the approved amount differs"),
    "skipped": ("source_state", None, "refused in DingTalk"),
    "in_doubt": ("reconcile", "timeout", "outcome unknown: no answer to Push"),
}


def seed(url: str, n_records: int, n_events: int) -> None:
    import sqlalchemy as sa

    from ferry.store import Ledger
    from ferry.store.schema import api_calls, events, records, runs

    rng = random.Random(7)
    ledger = Ledger(url)
    ledger.migrate()
    now = dt.datetime.now(dt.UTC)
    statuses = [s for s, w in STATUS_MIX for _ in range(w)]
    started = time.perf_counter()
    with ledger.engine.begin() as conn:
        rows: list[dict[str, Any]] = []
        for i in range(n_records):
            status = statuses[i % len(statuses)]
            at = now - dt.timedelta(seconds=rng.uniform(0, 10 * 86400))
            error = REASONS.get(status)
            rows.append(
                {
                    "scheme": SCHEMES[i % 3],
                    "source_id": f"PROC-{i:09d}",
                    "partition": "",
                    "number": f"SP{i:09d}",
                    "content": {
                        "金蝶单据编号": f"FKSQ{i:08d}",
                        "付款金额": round(rng.uniform(100, 99999), 2),
                        "title": f"付款申请 {i}",
                        "收款方": f"供应商{i % 500}",
                    },
                    "content_hash": f"{i:064x}",
                    "status": status,
                    "reason": error[2] if error else None,
                    "draft": False,
                    "attempts": 1,
                    "last_error_type": error[0] if error else None,
                    "last_error_code": error[1] if error else None,
                    "last_error_message": error[2] if error else None,
                    "target_id": str(100000 + i) if status == "written" else None,
                    "target_number": f"FKD{i:08d}" if status == "written" else None,
                    "request": {"FormId": "CN_PAYAPPLY", "Numbers": [f"FKSQ{i:08d}"]},
                    "response": {"IsSuccess": status == "written"},
                    "created_at": at - dt.timedelta(minutes=5),
                    "updated_at": at,
                }
            )
            if len(rows) == 10_000:
                conn.execute(sa.insert(records), rows)
                rows = []
        if rows:
            conn.execute(sa.insert(records), rows)
        ids = [int(i) for i in conn.execute(sa.select(records.c.id)).scalars()]
        per = max(1, n_events // len(ids))
        batch: list[dict[str, Any]] = []
        chain = ["pending", "writing", "failed", "pending", "writing", "written"]
        for k in range(n_events):
            rid = ids[k // per % len(ids)]
            step = k % per
            batch.append(
                {
                    "record_id": rid,
                    "at": now - dt.timedelta(seconds=rng.uniform(0, 10 * 86400)),
                    "from_status": chain[step % len(chain) - 1] if step else None,
                    "to_status": chain[step % len(chain)],
                    "reason": "attempt failed" if chain[step % len(chain)] == "failed" else None,
                    "detail": {"owner": "w1", "attempts": step // 3 + 1},
                }
            )
            if len(batch) == 20_000:
                conn.execute(sa.insert(events), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(events), batch)
        run_rows = []
        for j in range(3000):
            start = now - dt.timedelta(minutes=5 * j)
            run_rows.append(
                {
                    "scheme": SCHEMES[j % 3],
                    "kind": ("collect", "dispatch")[j % 2],
                    "trigger": "schedule",
                    "started_at": start,
                    "ended_at": start + dt.timedelta(seconds=40),
                    "status": "failed" if j % 17 == 0 else "ok",
                    "counts": {"written": 20, "failed": 1},
                    "error": "Kingdee answered HTTP 500" if j % 17 == 0 else None,
                }
            )
        conn.execute(sa.insert(runs), run_rows)
        calls = [
            {
                "at": now - dt.timedelta(seconds=3 * j),
                "connection": ("dingtalk_main", "kingdee_main")[j % 2],
                "api": ("topapi/processinstance/get", "Push")[j % 2],
                "status": "slow_down" if j % 50 == 0 else "ok",
                "http_status": 200,
                "latency_ms": 40.0 + j % 30,
                "metered": j % 2 == 0,
            }
            for j in range(100_000)
        ]
        conn.execute(sa.insert(api_calls), calls)
    if ledger.engine.dialect.name == "postgresql":
        # what autovacuum does on a live ledger: statistics, and the visibility map index-only scans need
        with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    ledger.close()
    print(
        f"seeded {n_records:,} records, {n_events:,} events, 3,000 runs, 100,000 API calls in "
        f"{time.perf_counter() - started:.1f}s",
        flush=True,
    )


def measure(url: str, repeat: int) -> dict[str, tuple[float, float]]:
    import httpx

    from ferry.console.app import create_app
    from ferry.console.settings import ConsoleSettings
    from ferry.console.web import ConsoleState
    from ferry.sandbox.serve import ServerThread
    from ferry.scheme import load_scheme
    from ferry.store import Ledger

    flagship = load_scheme(Path(__file__).parents[1] / "examples" / "dingtalk-payapply-to-paybill.yaml")
    schemes = {s: flagship.model_copy(update={"id": s}) for s in SCHEMES}
    ledger = Ledger(url)
    some = ledger.list_records(scheme=SCHEMES[0], status="written", limit=1)[0]
    run = ledger.list_runs(limit=1)[0]
    paths = {
        "healthz (floor)": "/healthz",
        "overview": "/",
        "runs": "/runs",
        "runs, one scheme, failed": f"/runs?scheme={SCHEMES[1]}&status=failed",
        "run detail (timeline)": f"/runs/{run.id}",
        "records": "/records",
        "records, unresolved": "/records?status=unresolved",
        "records, scheme + failed": f"/records?scheme={SCHEMES[2]}&status=failed",
        "records, scheme + since": f"/records?scheme={SCHEMES[0]}&since={(dt.datetime.now() - dt.timedelta(days=1)).strftime('%Y-%m-%dT%H:%M')}",
        "search: Kingdee bill no.": f"/records?q={some.target_number}",
        "search: approval no.": f"/records?q={some.number}",
        "search: prefix": "/records?q=SP00001234",
        "search: content text": f"/records?q={some.content['金蝶单据编号']}",
        "trace": f"/records/{some.id}",
        "trace JSON": f"/records/{some.id}/trace.json",
        "dead letters": "/dead-letters",
    }
    state = ConsoleState(ledger, ConsoleSettings.from_env(env={}), schemes)
    out: dict[str, tuple[float, float]] = {}
    with ServerThread(create_app(state)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        for name, path in paths.items():
            assert http.get(path).status_code == 200, path  # warm-up, and a check it answers
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                http.get(path).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            out[name] = (statistics.median(times), max(times))
    ledger.close()
    return out


def drop_console_indexes(url: str) -> None:
    import sqlalchemy as sa

    from ferry.store import Ledger

    ledger = Ledger(url)
    with ledger.engine.begin() as conn:
        for name in (
            "ix_records_status_id",
            "ix_records_scheme_status_updated_at",
            "ix_runs_scheme_started_at",
            "ix_events_at",
        ):
            conn.execute(sa.text(f"DROP INDEX {name}"))
    ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = args.url, None
        if url is None:
            url = f"sqlite:///{Path(tmp) / 'console.db'}"
        elif url.startswith("postgresql"):
            url, schema = pg_schema_url(url)
        try:
            seed(url, args.records, args.events)
            with_ix = measure(url, args.repeat)
            drop_console_indexes(url)
            without = measure(url, args.repeat)
        finally:
            if schema is not None:
                drop_schema(args.url, schema)
    backend = url.split(":", 1)[0]
    print(
        f"\n{backend}: {args.records:,} records, {args.events:,} events; ms per request (median / worst of {args.repeat})"
    )
    print(
        f"{'page':<28} {'with 0003':>16} {'without (baseline)':>20} {'speed-up':>9}  goal <{GOAL_MS:.0f} ms"
    )
    for name, (median, worst) in with_ix.items():
        base_median, base_worst = without[name]
        verdict = "ok" if worst < GOAL_MS else "SLOW"
        print(
            f"{name:<28} {median:>7.1f} / {worst:>6.1f} {base_median:>10.1f} / {base_worst:>7.1f} "
            f"{base_median / median:>8.1f}x  {verdict}"
        )


if __name__ == "__main__":
    main()
