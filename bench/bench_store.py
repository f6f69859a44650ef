"""Ledger throughput: collect N records in pages of 100, then claim and finish them in batches of 50.

Prints records/s for each phase and the peak RSS of the process. Each N runs in a fresh subprocess, so
the peak memory of one size is not carried into the next. Run by hand:

    .venv/bin/python bench/bench_store.py                    # SQLite file in a temp dir, N=10k and 100k
    .venv/bin/python bench/bench_store.py --n 50000 --url postgresql+psycopg://postgres@127.0.0.1/test

With ``--url`` for PostgreSQL, the tables are created in a throwaway schema and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PAGE = 100
BATCH = 50


def pages(n: int) -> Iterator[list[object]]:
    from ferry.store import Collected

    for start in range(0, n, PAGE):
        yield [
            Collected(
                source_id=f"PROC-{i:08d}",
                number=f"SP{i:08d}",
                content={
                    "processInstanceId": f"PROC-{i:08d}",
                    "businessId": f"SP{i:08d}",
                    "title": "付款申请",
                    "amount": f"{(i % 9973) * 1.25:.2f}",
                    "form": [
                        {"name": "收款方", "value": f"供应商{i % 500}"},
                        {"name": "事由", "value": "采购"},
                    ],
                },
            )
            for i in range(start, min(start + PAGE, n))
        ]


def run_one(n: int, url: str) -> dict[str, float]:
    from ferry.store import Ledger

    ledger = Ledger(url)
    ledger.migrate()
    started = time.perf_counter()
    for page in pages(n):
        ledger.collect("bench", page)  # type: ignore[arg-type]
    collect_s = time.perf_counter() - started

    started = time.perf_counter()
    done = 0
    while True:
        claimed = ledger.claim("bench", owner="bench", limit=BATCH, lease_seconds=300)
        if not claimed:
            break
        outcomes = [
            c.outcome(
                "written",
                target_id=f"FID{c.id}",
                target_number=f"PAY{c.id}",
                response={"IsSuccess": True},
            )
            for c in claimed
        ]
        lost = ledger.finish("bench", outcomes)
        assert not lost, lost
        done += len(claimed)
    dispatch_s = time.perf_counter() - started
    assert done == n, (done, n)
    ledger.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "n": n,
        "collect_per_s": n / collect_s,
        "dispatch_per_s": n / dispatch_s,
        "end_to_end_per_s": n / (collect_s + dispatch_s),
        "peak_rss_mb": peak_kb / 1024,
    }


def pg_schema_url(url: str) -> tuple[str, str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), schema


def drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_one(args.n[0], args.url)))
        return

    print(f"{'N':>8} {'collect/s':>10} {'dispatch/s':>11} {'end-to-end/s':>13} {'peak RSS MB':>12}  backend")
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            url, schema = args.url, None
            if url is None:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            elif url.startswith("postgresql"):
                url, schema = pg_schema_url(url)
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", "--n", str(n), "--url", url],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            finally:
                if schema is not None:
                    drop_schema(args.url, schema)
            r = json.loads(out.strip().splitlines()[-1])
            backend = url.split(":", 1)[0]
            print(
                f"{n:>8} {r['collect_per_s']:>10.0f} {r['dispatch_per_s']:>11.0f} "
                f"{r['end_to_end_per_s']:>13.0f} {r['peak_rss_mb']:>12.1f}  {backend}"
            )


if __name__ == "__main__":
    main()
