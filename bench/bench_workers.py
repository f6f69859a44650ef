"""Benchmark: dispatch rate of one ``ferry worker`` against three, the Kingdee sandbox at 50 ms a call.

    PYTHONPATH=src .venv/bin/python bench/bench_workers.py [--instances 500] [--concurrency 1]

For each size, a fresh PostgreSQL database and ``ferry sandbox both`` (50 ms latency); the approvals are
collected first (``ferry run --collect-only``), so DingTalk is no bottleneck; then the workers start, and
once all are up one sweep job offers the backlog; they dispatch everything (Push, Submit, Audit and the enrich lookup, each a Kingdee call). The rate is
records written per second from the first write to the last. Goal: three workers >= 2.5x one.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "executor"))

import sqlalchemy as sa
from cluster import SCHEME_ID, Cluster

from ferry.executor.queue import QUEUE, SWEEP, build_app


def _live_workers(cluster: Cluster) -> int:
    with cluster.ledger.engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
            return 0
        return int(conn.execute(sa.text("SELECT count(*) FROM procrastinate_workers")).scalar_one())


async def _offer_dispatch(url: str) -> None:
    """One sweep job: it defers the dispatch jobs for the backlog, as the schedule would."""
    app = build_app(url)
    async with app.open_async():
        await app.configure_task(SWEEP, queue=QUEUE).defer_async(scheme=SCHEME_ID)


def dispatch_rate(workers: int, instances: int, concurrency: int, batch_size: int) -> tuple[float, int]:
    cluster = Cluster(
        instances=instances,
        latency="50-50",
        batch_size=batch_size,
        concurrency=concurrency,
        lease=60.0,
        stalled_after=30.0,
        collect_every="1h",
        sweep_every="1h",
        serve=False,
    )
    try:
        cluster.start()
        subprocess.run(
            [sys.executable, "-m", "ferry", "run", str(cluster.folder / "scheme.yaml"), "--collect-only",
             "--connections", str(cluster.connections), "--json"],
            env=cluster.env, cwd=cluster.work, check=True, capture_output=True,
        )  # fmt: skip
        due = cluster.counts().get("pending", 0)
        for _ in range(workers):
            cluster.start_worker()
        # every worker is up before any work is offered: the rate is theirs, not their start-up's
        deadline = time.monotonic() + 120
        while _live_workers(cluster) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        asyncio.run(_offer_dispatch(cluster.db_url))
        first = last = 0.0
        written = 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            now = cluster.counts()
            if now.get("written", 0) > written:
                written = now["written"]
                last = time.monotonic()
                first = first or last
            if not any(now.get(s) for s in ("pending", "writing", "failed", "in_doubt", "finishing")):
                break
            time.sleep(0.05)
        cluster.stop_workers()
        return (written - 1) / (last - first) if last > first else 0.0, due
    finally:
        cluster.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=1, help="jobs at once per worker")
    ap.add_argument("--batch-size", type=int, default=5)
    args = ap.parse_args()
    one, due = dispatch_rate(1, args.instances, args.concurrency, args.batch_size)
    three, _ = dispatch_rate(3, args.instances, args.concurrency, args.batch_size)
    print(
        f"{due} records due, Kingdee 50 ms a call, batch {args.batch_size}, {args.concurrency} job(s) per worker"
    )
    print(f"{'workers':<10}{'records/s':>12}")
    print(f"{'1':<10}{one:>12.1f}")
    print(f"{'3':<10}{three:>12.1f}")
    ratio = three / one if one else float("inf")
    print(f"three / one: {ratio:.2f}x (goal >= 2.5x): {'met' if ratio >= 2.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
