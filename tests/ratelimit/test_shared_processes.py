"""Three OS processes share one limit through PostgreSQL or Redis, against the DingTalk sandbox over HTTP.

The sandbox counts every business call on arrival per calendar second and throttles above 20, so its
counters are the judge: no second over 20, no throttles, and the three together still near 20/s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.ratelimit.leases import SharedConcurrency
from ferry.ratelimit.store import open_store
from ferry.sandbox.dingtalk import SandboxConfig, create_app
from ferry.sandbox.serve import ServerThread

WORKER = str(Path(__file__).with_name("paced_worker.py"))
DETAIL_API = "v1.0/workflow/processInstances"


@pytest.fixture
def sandbox() -> Iterator[tuple[str, SandboxConfig]]:
    # an app of its own: the shared store keeps an app's slots, pause and step-down across processes
    # and runs, so another test's (or a benchmark's) throttle must not reach this one
    config = SandboxConfig(
        seed_instances=0, latency_ms=(30, 80), qps=20, app_key=f"ding{uuid.uuid4().hex[:16]}"
    )
    with ServerThread(create_app(config)) as server:
        yield server.url, config


@pytest.fixture(params=["postgresql", "redis"])
def shared_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgresql" else "redis_url"))


def spawn(store_url: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "FERRY_RATE_LIMITS": store_url}
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)], env=env, stdout=subprocess.PIPE, text=True
    )


def outcome(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def per_second(url: str) -> tuple[dict[int, int], int]:
    view = httpx.get(f"{url}/_sandbox/calls").json()
    counts = {int(s): n for s, n in view["per_second"].get(DETAIL_API, {}).items()}
    return counts, int(view["by_api"].get(DETAIL_API, {}).get("throttled", 0))


def test_three_processes_never_exceed_the_limit_in_any_second(
    sandbox: tuple[str, SandboxConfig], shared_url: str
) -> None:
    url, config = sandbox
    calls = 60
    procs = [spawn(shared_url, "details", url, config.app_key, config.app_secret, calls, 8) for _ in range(3)]
    results = [outcome(p) for p in procs]
    counts, throttled = per_second(url)
    assert sum(counts.values()) == 3 * calls
    assert max(counts.values()) <= 20 and throttled == 0
    assert sum(r["throttled"] for r in results) == 0
    # and the limit is used, not just respected: full seconds between the first and the last run near 20
    inner = [counts.get(s, 0) for s in range(min(counts) + 1, max(counts))]
    assert sum(inner) / len(inner) >= 17, counts


def test_a_throttle_in_one_process_pauses_and_slows_the_others(
    sandbox: tuple[str, SandboxConfig], shared_url: str
) -> None:
    url, config = sandbox
    # a few seconds for the workers to start on a loaded machine; early in a second, so that no worker has
    # claimed slots of the next second before the throttle is shared
    slow_at = int(time.time()) + 8.3
    # two processes keep calling; a third sees a throttle at slow_at (and makes one call itself)
    busy = [spawn(shared_url, "details", url, config.app_key, config.app_secret, 150, 8) for _ in range(2)]
    third = spawn(shared_url, "details", url, config.app_key, config.app_secret, 1, 1, slow_at)
    results = [outcome(p) for p in busy]
    outcome(third)
    finished = sorted(t for r in results for t in r["finished"])
    assert finished[0] < slow_at - 2 and finished[-1] > slow_at + 4, "the busy workers must span the throttle"
    counts, throttled = per_second(url)
    throttle_second = int(slow_at)
    assert counts.get(throttle_second - 1, 0) >= 19, ("running at the limit before", counts)
    # the pause (until slow_at + 1, to the end of that calendar second) holds the other workers: only
    # calls already in flight or claimed before they heard of it arrive in the next second
    assert counts.get(throttle_second + 1, 0) <= 5, counts
    # then the shared step-down: 16/s in the first second after the pause, recovering by 2/s
    assert 10 <= counts.get(throttle_second + 2, 0) <= 17, counts
    assert throttled == 0


def test_the_kingdee_concurrency_cap_holds_across_processes(shared_url: str) -> None:
    key = f"kingdee|test|{uuid.uuid4().hex}"
    procs = [spawn(shared_url, "leases", key, 3, 4, 0.15, 30) for _ in range(3)]
    spans = [tuple(s) for p in procs for s in outcome(p)["spans"]]
    assert len(spans) == 3 * 4 * 3
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    assert peak == 3  # the cap, reached and never passed


async def test_a_killed_holders_slots_come_back_when_their_leases_run_out(shared_url: str) -> None:
    key = f"kingdee|test|{uuid.uuid4().hex}"
    ttl = 1.5
    holder = spawn(shared_url, "hold", key, 2, ttl)
    assert holder.stdout is not None
    assert json.loads(holder.stdout.readline()) == {"held": 2}
    held_at = time.time()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    shared = SharedConcurrency(key, 2, store=open_store(shared_url), ttl_s=ttl)
    try:
        await shared.acquire()
        waited = time.time() - held_at
    finally:
        await shared.store.aclose()
    # not before the dead holder's lease expired, and soon after (its heartbeat died with it)
    assert ttl * 0.6 <= waited <= ttl + 2.0, waited
