"""A worker process for the shared-limit tests and bench: real DingTalk client calls against a sandbox.

    python tests/ratelimit/paced_worker.py details URL APP_KEY SECRET CALLS CONCURRENCY [SLOW_DOWN_AT]
    python tests/ratelimit/paced_worker.py leases KEY LIMIT TASKS HOLD_S TTL_S
    python tests/ratelimit/paced_worker.py hold KEY LIMIT TTL_S

The store comes from FERRY_RATE_LIMITS, as in ``ferry worker``. Prints one JSON line with what it saw.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings
from ferry.connectors.errors import GiveUp, SlowDown
from ferry.ratelimit.leases import SharedConcurrency


async def details(url: str, app_key: str, secret: str, calls: int, concurrency: int, slow_at: float) -> None:
    settings = DingTalkSettings(
        connection="w", app_key=app_key, app_secret=secret, api_style="v1", api_base=url, oapi_base=url
    )
    sent: list[float] = []
    throttled = 0
    todo = iter(range(calls))
    key = ("dingtalk", app_key, "v1.0/workflow/processInstances")
    async with DingTalkClient(settings) as client:
        await client.get_token()
        started = time.time()

        async def one() -> None:
            nonlocal throttled
            for _ in todo:
                try:
                    # any id: the limit is counted before the instance is looked up
                    await client.get_instance("no-such-instance")
                except SlowDown:
                    throttled += 1
                except GiveUp:  # "no such instance" is the expected answer
                    pass
                sent.append(time.time())

        async def slow_down_later() -> None:
            await asyncio.sleep(max(0.0, slow_at - time.time()))
            # exactly what the client does on a throttling answer
            client.limiter.slow_down(key, 1.0)

        extra = [slow_down_later()] if slow_at else []
        await asyncio.gather(*(one() for _ in range(concurrency)), *extra)
    print(json.dumps({"started": started, "finished": sent, "throttled": throttled}))


async def leases(key: str, limit: int, tasks: int, hold_s: float, ttl_s: float) -> None:
    shared = SharedConcurrency(key, limit, ttl_s=ttl_s)
    spans: list[tuple[float, float]] = []

    async def one() -> None:
        for _ in range(3):
            async with shared.slot():
                start = time.time()
                await asyncio.sleep(hold_s)
                spans.append((start, time.time()))

    await asyncio.gather(*(one() for _ in range(tasks)))
    print(json.dumps({"spans": spans}))


async def hold(key: str, limit: int, ttl_s: float) -> None:
    shared = SharedConcurrency(key, limit, ttl_s=ttl_s)
    for _ in range(limit):
        await shared.acquire()
    print(json.dumps({"held": limit}), flush=True)
    await asyncio.sleep(3600)  # until killed


def main(argv: list[str]) -> None:
    mode, args = argv[0], argv[1:]
    run: Any
    if mode == "details":
        slow = float(args[5]) if len(args) > 5 else 0.0
        run = details(args[0], args[1], args[2], int(args[3]), int(args[4]), slow)
    elif mode == "leases":
        run = leases(args[0], int(args[1]), int(args[2]), float(args[3]), float(args[4]))
    else:
        run = hold(args[0], int(args[1]), float(args[2]))
    asyncio.run(run)


if __name__ == "__main__":
    main(sys.argv[1:])
