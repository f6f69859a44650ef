"""Benchmark: what recording API calls and counting them in Prometheus metrics costs the engine.

The engine benchmark's zero-latency source and target (``bench_engine.py``), made to report API calls
as the real connectors do: one list call per page and one detail call per record on the source side
(DingTalk), a Save, a Submit and an Audit per batch on the target side (Kingdee). Three modes run
alternately in one process, ``--repeat`` times each, and the medians are printed side by side:

- ``bare``: calls go to a recorder that drops them (no call log, no metrics);
- ``recorded``: calls go to the ledger's call log (buffered; on SQLite written by the ledger's own next
  write transaction, elsewhere in bulk by a background thread);
- ``recorded+metrics``: the same, with the ledger instrumented (a Prometheus histogram observation and
  a throttle check per call) and the engine's dispatch counters and spans as always.

The figure to watch is the cost of ``recorded+metrics`` against ``bare`` in dispatch records per second
(goal: under 5 %); collect is shown too (one logged call per record, the heaviest case). ``.venv/bin/python bench/bench_observe.py --records 5000 --repeat 3``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bench_engine import PAGE, SCHEME, source_record
from prometheus_client import generate_latest

from ferry.connectors.base import Page, RenderRequest, TargetDoc, Window, WriteItem, WriteOutcome
from ferry.engine.collect import Collector
from ferry.engine.dispatch import Dispatcher
from ferry.engine.transform import Transform
from ferry.observe.calls import ApiCall, CallRecorder, NullCallRecorder
from ferry.observe.metrics import exposition_registry, instrument, observe_call
from ferry.scheme.model import Scheme
from ferry.store import Ledger

#: seconds per /metrics scrape of a ledger the size of one pass
SCRAPES: list[float] = []


class CallingSource:
    def __init__(self, n: int, recorder: CallRecorder) -> None:
        self.n, self.recorder = n, recorder

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        for start in range(0, self.n, PAGE):
            render({"PAGINATION_START_PAGE": start // PAGE + 1})
            self.recorder.record(
                ApiCall("dingtalk_main", "instanceIds/query", "ok", 12.0, http_status=200, metered=True)
            )
            records = [source_record(i) for i in range(start, min(self.n, start + PAGE))]
            for _ in records:
                self.recorder.record(
                    ApiCall("dingtalk_main", "processInstances", "ok", 30.0, http_status=200, metered=True)
                )
            yield Page(records)

    async def aclose(self) -> None:
        return None


class CallingTarget:
    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder
        self.written = 0

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        for op in ("Save", "Submit", "Audit"):
            self.recorder.record(ApiCall("kingdee_main", op, "ok", 80.0, http_status=200))
        self.written += len(items)
        return [WriteOutcome(it.key, TargetDoc(id=f"T{it.key}", number=f"FKD{it.key}")) for it in items]

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        return None

    async def aclose(self) -> None:
        return None


async def one_pass(n: int, mode: str, folder: Path) -> tuple[float, float, int]:
    """(collect seconds, dispatch seconds including the call log's last write, calls logged)."""
    ledger = Ledger(f"sqlite:///{folder / f'{mode}-{time.monotonic_ns()}.db'}")
    ledger.migrate()
    recorder: CallRecorder = NullCallRecorder() if mode == "bare" else ledger
    stop = instrument(ledger) if mode == "recorded+metrics" else (lambda: None)
    scheme = Scheme.model_validate(SCHEME)
    transform = Transform(scheme)
    t0 = time.perf_counter()
    await Collector(scheme, ledger, CallingSource(n, recorder), transform).run()
    t1 = time.perf_counter()
    target = CallingTarget(recorder)
    await Dispatcher(scheme, ledger, target, transform, owner="bench").run()
    ledger.flush()  # the call log's writes are part of the cost
    t2 = time.perf_counter()
    assert target.written == n
    calls = sum(u.calls for u in ledger.api_usage())
    if mode == "recorded+metrics":
        registry = exposition_registry(ledger)
        generate_latest(registry)  # the first scrape rolls up
        t3 = time.perf_counter()
        generate_latest(registry)
        SCRAPES.append(time.perf_counter() - t3)
    stop()
    ledger.close()
    return t1 - t0, t2 - t1, calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    modes = ("bare", "recorded", "recorded+metrics")
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    calls: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="ferry-bench-observe-") as tmp:
        asyncio.run(one_pass(min(args.records, 500), "recorded+metrics", Path(tmp)))  # warm up
        for i in range(args.repeat):
            # rotate the order, so no mode always runs first (on a warm or a cold machine)
            for mode in modes[i % 3 :] + modes[: i % 3]:
                c, d, n_calls = asyncio.run(one_pass(args.records, mode, Path(tmp)))
                runs[mode].append((c, d))
                calls[mode] = n_calls
    n = args.records
    med = {
        m: (statistics.median(r[0] for r in runs[m]), statistics.median(r[1] for r in runs[m])) for m in modes
    }
    base_c, base_d = med["bare"]
    print(
        f"{n} records on SQLite, medians of {args.repeat} passes in rotating order (records/s; cost vs bare):"
    )
    print(f"{'mode':<18} {'API calls':>9} {'collect':>9} {'cost':>7} {'dispatch':>9} {'cost':>7}")
    for mode in modes:
        c, d = med[mode]
        print(
            f"{mode:<18} {calls[mode]:>9,} {n / c:>9,.0f} {1 - base_c / c:>+7.1%} {n / d:>9,.0f} {1 - base_d / d:>+7.1%}"
        )
    print(
        f"one /metrics scrape of such a ledger ({n:,} records, {calls['bare'] or calls['recorded']:,} calls): "
        f"{statistics.median(SCRAPES) * 1000:.0f} ms"
    )
    with tempfile.TemporaryDirectory(prefix="ferry-bench-observe-") as tmp:
        per_call(Path(tmp))


def per_call(folder: Path, n: int = 20_000) -> None:
    """The absolute cost of one logged, counted call, beside what a real call takes."""
    call = ApiCall("dingtalk_main", "processInstances", "ok", 30.0, http_status=200, metered=True)
    ledger = Ledger(f"sqlite:///{folder / 'per-call.db'}", call_flush_every=10**9, call_flush_seconds=10**6)
    ledger.migrate()
    t0 = time.perf_counter()
    for _ in range(n):
        ledger.record(call)
    t1 = time.perf_counter()
    ledger.flush()
    t2 = time.perf_counter()
    for _ in range(n):
        observe_call(call)
    t3 = time.perf_counter()
    ledger.close()
    each = [(t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6, (t3 - t2) / n * 1e6]
    print(
        f"per call: buffer {each[0]:.1f} us, write {each[1]:.1f} us (in bulk), metrics {each[2]:.1f} us; "
        f"{sum(each):.1f} us in all = {sum(each) / 30_000:.3%} of a 30 ms DingTalk call"
    )


if __name__ == "__main__":
    main()
