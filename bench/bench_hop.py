"""Benchmark: what one hop from the event loop to a worker thread and back costs, through
``loop.run_in_executor`` and through the async ledger's own threads (``ferry.store.threads``).

Each call runs a fixed piece of work (a busy wait, as a ledger transaction would hold a thread); the
figures are the wall time and the process CPU time of a call beyond that work, so what is left is
the hop. Both are run alternately in one process, with the same number of threads (4, the facade's
default). Collect pays one hop per page, dispatch one per batch.

The work is run at two lengths, half a millisecond and 3.5 ms (about what one batch's transaction
takes in ``bench_engine``): on this virtual machine a hop that waited longer costs more, in wall and
CPU time alike (a thread's idle CPU is slower to wake the longer it slept), so the first figures
understate what dispatch pays a batch.

    .venv/bin/python bench/bench_hop.py              # 2,000 calls each way and length, 3 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ferry.store.threads import Threads


def busy(seconds: float) -> Callable[[], None]:
    def work() -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            pass

    return work


async def per_call(
    calls: int, hop: str, work_s: float, pool: ThreadPoolExecutor, threads: Threads
) -> tuple[float, float]:
    """Microseconds of wall and of CPU time per call beyond the work."""
    loop = asyncio.get_running_loop()
    work = busy(work_s)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        if hop == "executor":
            await loop.run_in_executor(pool, work)
        else:
            await threads.call(work)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return (wall / calls - work_s) * 1e6, (cpu / calls - work_s) * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work-ms", default="0.5,3.5", help="comma-separated lengths of the work, ms")
    args = ap.parse_args()
    pool = ThreadPoolExecutor(max_workers=4)
    threads = Threads(4, "bench")
    names = {"executor": "loop.run_in_executor", "threads": "ferry.store.threads"}
    for work_s in (float(x) / 1000 for x in args.work_ms.split(",")):
        runs: dict[str, list[tuple[float, float]]] = {"executor": [], "threads": []}
        for _ in range(args.rounds):
            for hop in runs:
                runs[hop].append(await per_call(args.calls, hop, work_s, pool, threads))
        print(
            f"{args.calls:,} calls of {work_s * 1e6:.0f} us of work each way; median of {args.rounds} rounds"
        )
        medians = {}
        for hop, figures in runs.items():
            medians[hop] = statistics.median(w for w, _ in figures), statistics.median(c for _, c in figures)
            print(
                f"  {names[hop]:22s} {medians[hop][0]:7.1f} us wall, {medians[hop][1]:7.1f} us CPU a call over the work"
            )
        print(
            f"  ratio threads/executor  {medians['threads'][0] / medians['executor'][0]:7.2f} wall, "
            f"{medians['threads'][1] / medians['executor'][1]:7.2f} CPU"
        )
    pool.shutdown()
    threads.shutdown(wait=True)


if __name__ == "__main__":
    asyncio.run(main())
