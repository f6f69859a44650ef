"""How many DingTalk calls the approval source spends, measured against the sandbox (run by hand).

    .venv/bin/python bench/bench_dingtalk_calls.py [--backlog 1000] [--day 60] [--qps 20]

(a) Backlog: ``--backlog`` instances created over the last 30 days (80 % approved, 8 % refused,
    2 % revoked, 10 % still running), then one ``Engine.collect`` pass (windows, listing, detail
    fetches, re-checks), then a second pass with nothing new.
(b) A steady day with events on: ``--day`` instances created one by one, each approved (or refused)
    a few steps later; the sandbox pushes ``bpms_instance_change`` to the HTTP callback endpoint,
    whose handler runs ``Engine.collect_ids``; after every step the safety-net poll
    (``Engine.collect``) runs, as a 5-minute schedule would. Measured twice: scheme param
    ``events: false`` (the poll fetches every new instance) and ``events: true`` (the poll stores
    stubs and leaves the fetch to the event).

Figures come from the sandbox's own counters (``/_sandbox/calls``) and are checked against the
ledger's ``api_calls``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ferry.connectors.settings import connections_from_dict
from ferry.console.dingtalk_callback import CALLBACK_PATH, make_callback_app
from ferry.engine.runner import Engine
from ferry.sandbox.dingtalk import SandboxConfig, create_app
from ferry.sandbox.serve import ServerThread
from ferry.scheme import Scheme
from ferry.store import Ledger

LIST = "v1.0/workflow/processes/instanceIds/query"
GET = "v1.0/workflow/processInstances"
DAY_MS = 86_400_000
TOKEN = "benchtoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def scheme(process_code: str, sid: str, lookback: float = 600, **params: Any) -> Scheme:
    return Scheme.model_validate(
        {
            "id": sid,
            "source": {
                "connection": "dingtalk_main",
                "api": "processinstance",
                "id": "process_instance_id",
                "number": "business_id",
                "initial_days": 31,
                "lookback": lookback,
                "params": {"process_code": process_code, **params},
            },
            "target": {"connection": "none", "api": "noop"},
        }
    )


class Bench:
    def __init__(self, url: str, state: Any, ledger: Ledger) -> None:
        self.url = url
        self.state = state
        self.ledger = ledger
        self.http = httpx.Client(base_url=url, timeout=30)
        cfg = state.config
        conns = connections_from_dict(
            {
                "dingtalk_main": {
                    "type": "dingtalk",
                    "app_key": cfg.app_key,
                    "app_secret": "${DT_SECRET}",
                    "api_style": "v1",
                    "api_base": url,
                }
            },
            env={"DT_SECRET": cfg.app_secret},
        )
        self.engine = Engine(ledger, conns)

    def calls(self) -> tuple[int, int]:
        by_api = self.http.get("/_sandbox/calls").json()["by_api"]
        return int(by_api.get(LIST, {}).get("requests", 0)), int(by_api.get(GET, {}).get("requests", 0))

    def create(self, create_ms: int | None = None) -> str:
        body: dict[str, Any] = {"form": {}}
        if create_ms is not None:
            body["create_time_ms"] = create_ms
        answer = self.http.post("/_sandbox/instances", json=body)
        answer.raise_for_status()
        return str(answer.json()["process_instance_id"])

    def act(self, iid: str, action: str, at_ms: int | None = None) -> None:
        body = {"at_ms": at_ms} if at_ms else {}
        self.http.post(f"/_sandbox/instances/{iid}/{action}", json=body).raise_for_status()


def backlog(b: Bench, n: int, rng: random.Random) -> None:
    now_ms = b.state.clock.now_ms()
    counts = {"approve": 0, "refuse": 0, "revoke": 0, "running": 0}
    for _ in range(n):
        created = now_ms - rng.randrange(60_000, 30 * DAY_MS)
        iid = b.create(created)
        roll = rng.random()
        action = (
            "approve" if roll < 0.80 else "refuse" if roll < 0.88 else "revoke" if roll < 0.90 else "running"
        )
        counts[action] += 1
        if action != "running":
            b.act(iid, action, min(now_ms - 1000, created + rng.randrange(60_000, 5 * DAY_MS)))
    print(f"  backlog: {n} instances over 30 days: {counts}")


async def part_a(n: int, qps: int, rng: random.Random) -> None:
    print(f"(a) a 30-day backlog of {n} instances, one collect pass, then a second pass (sandbox qps {qps})")
    app = create_app(SandboxConfig(seed_instances=0, qps=qps, monthly_quota=1_000_000))
    with ServerThread(app) as server, tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'bench.db'}")
        ledger.migrate()
        b = Bench(server.url, app.sandbox, ledger)
        backlog(b, n, rng)
        s = scheme(app.sandbox.config.process_code, "bench-backlog")
        t0 = time.perf_counter()
        await b.engine.collect(s)
        elapsed = time.perf_counter() - t0
        lists, gets = b.calls()
        counts = ledger.counts(s.id)
        approved = counts.get("pending", 0)
        print(f"  pass 1: {elapsed:.1f}s; ledger {counts}")
        print(
            f"  pass 1: list calls {lists}, detail calls {gets}, approved {approved}, "
            f"calls per approved instance {(lists + gets) / approved:.3f} "
            f"(detail {gets / approved:.3f}, list {lists / approved:.3f}); per instance {(lists + gets) / n:.3f}"
        )
        metered = ledger.metered_this_month("dingtalk_main")
        print(f"  ledger api_calls metered this month: {metered} (sandbox metered {lists + gets})")
        t0 = time.perf_counter()
        await b.engine.collect(s)
        lists2, gets2 = b.calls()
        print(
            f"  pass 2 (nothing new): {time.perf_counter() - t0:.1f}s; "
            f"list calls {lists2 - lists}, detail calls {gets2 - gets}"
        )
        b.http.close()
        ledger.close()


async def wait_final(ledger: Ledger, scheme_id: str, iid: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await asyncio.to_thread(ledger.get, scheme_id, iid)
        if row is not None and row.status != "watching":
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{iid} did not become final after its event")


async def part_b(n: int, events_mode: bool, rng: random.Random) -> None:
    label = "events: true (stubs)" if events_mode else "events: false"
    app = create_app(SandboxConfig(seed_instances=0, monthly_quota=1_000_000))
    with tempfile.TemporaryDirectory() as tmp, ServerThread(app) as server:
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'bench.db'}")
        ledger.migrate()
        b = Bench(server.url, app.sandbox, ledger)
        # the day is compressed into seconds: a lookback of 1 s stands for the real 10 minutes behind a
        # 5-minute poll, so each poll lists what a real one would (the instances created since the last)
        s = scheme(app.sandbox.config.process_code, "bench-day", lookback=1, events=events_mode)
        # start from a caught-up watermark: the day begins with nothing to do
        await b.engine.collect(s)

        async def on_change(process_code: str, instance_id: str) -> None:
            await b.engine.collect_ids(s, [instance_id], trigger="event")

        with ServerThread(make_callback_app(TOKEN, AES_KEY, app.sandbox.config.app_key, on_change)) as cb:
            registered = b.http.put(
                "/_sandbox/callback", json={"url": cb.url + CALLBACK_PATH, "token": TOKEN, "aes_key": AES_KEY}
            ).json()
            assert registered["registered"], registered
            lists0, gets0 = b.calls()
            open_: list[str] = []
            finished, polls = 0, 0
            for step in range(n + 4):
                if step < n:
                    open_.append(b.create())
                # an instance is decided 0 to 4 steps (poll intervals) after it was created
                if open_ and (step >= n or rng.random() < 0.6):
                    iid = open_.pop(0)
                    b.act(iid, "refuse" if rng.random() < 0.1 else "approve")
                    await wait_final(ledger, s.id, iid)
                    finished += 1
                await b.engine.collect(s)  # the safety-net poll
                polls += 1
            for iid in open_:
                b.act(iid, "approve")
                await wait_final(ledger, s.id, iid)
                finished += 1
            lists, gets = b.calls()
        lists, gets = lists - lists0, gets - gets0
        print(
            f"  {label}: {finished} finished instances, {polls} polls: detail calls {gets} "
            f"({gets / finished:.2f} per finished instance); list calls {lists} ({lists / polls:.2f} per poll)"
        )
        b.http.close()
        ledger.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--day", type=int, default=60)
    parser.add_argument("--qps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.backlog:
        await part_a(args.backlog, args.qps, random.Random(args.seed))
    print(f"(b) a steady day with events on: {args.day} instances created and decided one by one")
    await part_b(args.day, False, random.Random(args.seed))
    await part_b(args.day, True, random.Random(args.seed))


if __name__ == "__main__":
    asyncio.run(main())
