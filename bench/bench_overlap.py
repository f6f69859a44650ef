"""Benchmark: does the ledger's SQLite work overlap with rendering on another thread?

SQLite releases the GIL while it steps a statement or commits, so it looks as if a second thread could
render the next batch meanwhile (designs that do so were tried for issue 16 and dropped). This measures
it directly: the ledger storing pages (``Ledger.collect``, 100 records a page, one transaction each) and
the scheme's request rendered for records (``Transform.target_request``), each alone on one thread,
then both at once on two threads, alternating in one process. If they overlapped, both at once would
take about as long as the longer of the two; if they take turns on the GIL, as long as their sum.

    .venv/bin/python bench/bench_overlap.py                # 200 pages and 40,000 renders, 3 passes
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench_engine import SCHEME, source_record

from ferry.engine.transform import Transform
from ferry.scheme.model import Scheme
from ferry.store import Collected, Ledger

PAGE = 100


def storing(ledger: Ledger, pages: int, offset: int) -> Callable[[], None]:
    """Store ``pages`` pages of new records (ids from ``offset`` on)."""

    def work() -> None:
        for p in range(pages):
            start = offset + p * PAGE
            records = [source_record(i) for i in range(start, start + PAGE)]
            ledger.collect("bench", [Collected(r["id"], r["no"], r) for r in records])

    return work


def rendering(transform: Transform, n: int) -> Callable[[], None]:
    records = [source_record(i) for i in range(100)]

    def work() -> None:
        for i in range(n):
            transform.target_request(records[i % 100])

    return work


def timed(*works: Callable[[], None]) -> float:
    """Seconds to run ``works``, each on a thread of its own, all started together."""
    threads = [threading.Thread(target=work) for work in works]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--renders", type=int, default=40_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    transform = Transform(Scheme.model_validate(SCHEME))
    runs: dict[str, list[float]] = {"store": [], "render": [], "both": []}
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(f"sqlite:///{Path(d) / 'overlap.db'}")
        ledger.migrate()
        offset = 0
        for _ in range(args.repeat):
            runs["store"].append(timed(storing(ledger, args.pages, offset)))
            offset += args.pages * PAGE
            runs["render"].append(timed(rendering(transform, args.renders)))
            runs["both"].append(
                timed(storing(ledger, args.pages, offset), rendering(transform, args.renders))
            )
            offset += args.pages * PAGE
        (stored,) = ledger.counts("bench").values()
        assert stored == offset, (stored, offset)
        ledger.close()
    store, render, both = (statistics.median(runs[k]) for k in ("store", "render", "both"))
    print(f"SQLite, {args.pages} pages of {PAGE} and {args.renders:,} renders; median of {args.repeat}")
    print(f"  storing alone                        {store:6.3f} s")
    print(f"  rendering alone                      {render:6.3f} s")
    print(f"  both at once, two threads            {both:6.3f} s")
    print(f"  if they overlapped (the longer)      {max(store, render):6.3f} s")
    print(f"  if they take turns (the sum)         {store + render:6.3f} s")
    print(f"  overlap won: {(store + render - both) / min(store, render):.0%} of the shorter one's time")


if __name__ == "__main__":
    main()
