"""Benchmark: the flagship demo at scale against the sandbox defaults, compared with its ceiling.

DingTalk allows 20 detail calls per second per app, and each approval needs one detail call, so N
instances cannot be read faster than N / 20 seconds: that is the ceiling. The goal is to run within
90% of it (throughput >= 0.9 x ceiling throughput). Latency 30-80 ms on both sandboxes.

    .venv/bin/python bench/bench_demo.py --instances 2000
"""

from __future__ import annotations

import argparse
import asyncio

from ferry.demo import DemoOptions, run_demo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--latency", default="30-80")
    args = ap.parse_args()
    lo, _, hi = args.latency.partition("-")
    options = DemoOptions(instances=args.instances, latency_ms=(int(lo), int(hi or lo)))
    summary = asyncio.run(run_demo(options))
    details = next(n for api, n in summary.api_calls.items() if api.endswith("processInstances"))
    ceiling_s = args.instances / options.qps
    print(f"instances            {summary.instances}")
    print(
        f"payment bills        {summary.payment_bills}  (missing {summary.missing}, duplicates {summary.duplicates})"
    )
    print(f"detail calls         {details}  (throttled and retried: {details - args.instances - 1})")
    print(f"elapsed              {summary.elapsed_s:.1f} s  (includes the late approval's event round trip)")
    print(f"ceiling              {ceiling_s:.1f} s  ({args.instances} detail calls at {options.qps:g}/s)")
    print(f"share of ceiling     {100 * ceiling_s / summary.elapsed_s:.1f} %  (goal: at least 90 %)")


if __name__ == "__main__":
    main()
