"""Benchmark: what one alert tick costs over a large ledger, and how a flood is sent.

    .venv/bin/python bench/bench_alerts.py [--records 50000] [--dead 2000] [--db sqlite:///...]

A ledger with ``--records`` written records and ``--dead`` dead ones (one scheme), the built-in rules with
every dead record its own group (the most notifications a flood can ask for), a DingTalk sandbox robot on
loopback. Printed: the first tick (evaluate, store every alert, plan, send within the minute's budget), a
steady tick (nothing new), and how many messages the robot took for the flood (at most 20).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import tempfile
import time

import httpx

from ferry.observe.alerts import AlertService, Rules, build_channel
from ferry.observe.alerts.rules import AlertsFile, ChannelSpec
from ferry.sandbox.dingtalk import SandboxConfig, create_app
from ferry.sandbox.serve import ServerThread
from ferry.store import Collected, Ledger, Outcome


def fill(ledger: Ledger, records: int, dead: int, now: dt.datetime) -> None:
    page = 5000
    for start in range(0, records + dead, page):
        ids = range(start, min(start + page, records + dead))
        ledger.collect("pay", [Collected(f"R{i:07d}", None, {"i": i}) for i in ids], now=now)
        claimed = ledger.claim("pay", owner="bench", limit=page, lease_seconds=60, now=now)
        outcomes = [
            Outcome(
                c.id,
                "dead" if int(c.source_id[1:]) >= records else "written",
                lease_token=c.lease_token,
                error_message="bad" if int(c.source_id[1:]) >= records else None,
            )
            for c in claimed
        ]
        ledger.finish("bench", outcomes, now=now)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--dead", type=int, default=2_000)
    ap.add_argument("--db")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{tmp.name}/bench.db"
    config = SandboxConfig(seed_instances=0)
    with ServerThread(create_app(config)) as sandbox, Ledger(url) as ledger:
        ledger.migrate()
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        fill(ledger, args.records, args.dead, now)
        print(
            f"ledger: {args.records:,} written + {args.dead:,} dead in {time.perf_counter() - started:.1f} s"
        )
        rules = Rules(
            AlertsFile.model_validate(
                {"defaults": {"group_by": ["rule", "scheme", "record"], "group_wait": 0}}
            )
        )
        spec = ChannelSpec(
            name="ding", type="dingtalk", url=f"{sandbox.url}/robot/send?access_token={config.robot_token}"
        )
        service = AlertService(
            ledger, rules, [build_channel(spec.model_copy(update={"secret": config.robot_secret}))]
        )
        t = time.perf_counter()
        first = await service.tick(now)
        print(
            f"first tick: {time.perf_counter() - t:.2f} s ({first.firing:,} firing, {first.planned:,} planned, "
            f"{first.sent} sent, {first.failed} failed)"
        )
        t = time.perf_counter()
        steady = await service.tick(now + dt.timedelta(seconds=10))
        print(f"steady tick: {time.perf_counter() - t:.2f} s ({steady.sent} sent)")
        async with httpx.AsyncClient() as http:
            msgs = (await http.get(f"{sandbox.url}/_sandbox/robot/messages")).json()["messages"]
        text = "\n".join(m["body"]["markdown"]["text"] for m in msgs)
        named = len(set(re.findall(r"\bR\d{7}\b", text)))
        print(f"robot: {len(msgs)} messages for {args.dead:,} dead records, {named:,} records named")
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
