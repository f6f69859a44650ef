"""Benchmark: records per second through collect and dispatch, and peak memory, on SQLite.

A zero-latency in-process source (pages generated on the fly, never held whole) and target (answers
each batch at once) isolate the engine and the ledger. Each size runs in a fresh subprocess so the
peak RSS it reports belongs to that size alone.

    .venv/bin/python bench/bench_engine.py                 # 10,000 and 100,000 records
    .venv/bin/python bench/bench_engine.py --sizes 2000    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from ferry.connectors.base import Page, RenderRequest, TargetDoc, Window, WriteItem, WriteOutcome
from ferry.engine.collect import Collector
from ferry.engine.dispatch import Dispatcher
from ferry.engine.transform import Transform
from ferry.scheme.model import Scheme
from ferry.store import Ledger

PAGE = 100


class GeneratedSource:
    def __init__(self, n: int) -> None:
        self.n = n

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        for start in range(0, self.n, PAGE):
            render({"PAGINATION_START_PAGE": start // PAGE + 1})
            yield Page(
                [
                    {
                        "id": f"R{i:08d}",
                        "no": f"FKSQ{i:08d}",
                        "amount": f"{i % 9999}.25",
                        "supplier": {"name": f"供应商{i % 97}", "code": f"S{i % 97:03d}"},
                        "rows": [{"sku": f"M{j}", "qty": j + 1} for j in range(3)],
                    }
                    for i in range(start, min(self.n, start + PAGE))
                ]
            )

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


async def one(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(f"sqlite:///{Path(d) / 'bench.db'}")
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
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "records": n,
        "collect_per_s": round(n / (t1 - t0)),
        "dispatch_per_s": round(n / (t2 - t1)),
        "end_to_end_per_s": round(n / (t2 - t0)),
        "peak_rss_mb": round(rss_mb, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--child", type=int)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(one(args.child))))
        return
    print(f"{'records':>8} {'collect/s':>10} {'dispatch/s':>11} {'end-to-end/s':>13} {'peak RSS MB':>12}")
    for n in (int(x) for x in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['records']:>8} {r['collect_per_s']:>10} {r['dispatch_per_s']:>11} {r['end_to_end_per_s']:>13} {r['peak_rss_mb']:>12}"
        )


if __name__ == "__main__":
    main()
