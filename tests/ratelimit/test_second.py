"""The calendar-second pacer in one process (memory store), on the real clock."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings
from ferry.ratelimit.second import PacerSettings, SecondPacer
from ferry.ratelimit.store import KeyState, MemoryStore


async def paced_times(pacer: SecondPacer, key: object, calls: int, tasks: int = 8) -> list[float]:
    times: list[float] = []
    todo = iter(range(calls))

    async def one() -> None:
        for _ in todo:
            await pacer.acquire(key)
            times.append(time.time())

    await asyncio.gather(*(one() for _ in range(tasks)))
    return sorted(times)


async def test_each_calendar_second_gets_its_limit_and_no_more() -> None:
    pacer = SecondPacer(PacerSettings(limit=10), MemoryStore())
    times = await paced_times(pacer, "k", 35)
    per_second = Counter(math.floor(t) for t in times)
    assert max(per_second.values()) <= 10
    # full seconds in the middle are full: the pacer runs at the limit, not under it
    inner = [per_second[s] for s in range(min(per_second) + 1, max(per_second))]
    assert inner and all(n == 10 for n in inner), per_second
    # and nothing is sent in the margin at the end of a second
    margin = pacer.margin("k")
    assert all(t - math.floor(t) <= 1 - margin + 0.05 for t in times)


async def test_a_call_woken_too_late_by_a_busy_loop_waits_for_a_later_slot() -> None:
    pacer = SecondPacer(PacerSettings(limit=10), MemoryStore())
    margin = pacer.margin("k")  # 0.5 s: nothing observed

    async def hog() -> None:
        # blocks the event loop across slot deadlines, as a CPU-bound task on a loaded machine does
        for _ in range(2):
            # from .3 to .75 of a second: across the 0.5 s deadline of the slots due at .35 to .45
            now = time.time()
            await asyncio.sleep(math.floor(now) + 1.3 - now)
            time.sleep(0.45)

    times, _ = await asyncio.gather(paced_times(pacer, "k", 25), hog())
    assert all(t - math.floor(t) <= 1 - margin + 0.02 for t in times), times
    assert pacer.wasted > 0  # the late wake-ups gave their slots up
    assert max(Counter(math.floor(t) for t in times).values()) <= 10


def test_the_margin_follows_the_observed_round_trips() -> None:
    pacer = SecondPacer(PacerSettings(), MemoryStore())
    assert pacer.margin("k") == pytest.approx(0.5)  # nothing observed yet: wide
    for seconds in [0.05, 0.06, 0.07, 0.2, 0.08, 0.3]:
        pacer.observe("k", seconds)
    # the second-slowest of the recent round trips, with room: one outlier does not decide
    assert pacer.margin("k") == pytest.approx(0.2 * 1.25 + 0.01)
    for _ in range(64):
        pacer.observe("k", 0.001)
    assert pacer.margin("k") == pytest.approx(0.02)  # never below the floor
    for _ in range(64):
        pacer.observe("k", 5.0)
    assert pacer.margin("k") == pytest.approx(0.7)  # nor above the ceiling


async def test_a_throttle_pauses_steps_down_and_widens_the_margin() -> None:
    pacer = SecondPacer(PacerSettings(limit=10, decrease_factor=0.5), MemoryStore())
    await paced_times(pacer, "k", 3)
    before = pacer.margin("k")
    pacer.slow_down("k", 0.5)
    throttled_at = time.time()
    times = await paced_times(pacer, "k", 8)
    assert min(times) >= throttled_at + 0.5
    # the pause runs to the end of the second it ends in, then the rate is halved
    resumed = math.ceil(throttled_at + 0.5)
    assert Counter(math.floor(t) for t in times)[resumed] <= 5
    # halved when the pause ends, then growing back by 2/s
    assert pacer.rate("k", throttled_at + 0.5) == pytest.approx(5.0, abs=0.05)
    assert pacer.margin("k") == pytest.approx(before + 0.05)
    assert pacer.rate("k", resumed + 10) == 10  # recovered by 2/s


def test_the_dingtalk_client_uses_the_store_the_environment_names() -> None:
    # a fresh process: the store is chosen once per process, from FERRY_RATE_LIMITS
    code = (
        "from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings\n"
        "c = DingTalkClient(DingTalkSettings(connection='c', app_key='k', app_secret='s'))\n"
        "print(type(c.limiter.store).__name__)\n"
    )
    env = {**os.environ, "FERRY_RATE_LIMITS": "redis://127.0.0.1:6379/0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "RedisStore"
    env["FERRY_RATE_LIMITS"] = ""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "MemoryStore"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u:hunter2@h/db", "names no rate-limit store"),
        ("redis://:hunter2@127.0.0.1:1/0", "is not usable"),
    ],
)
def test_a_bad_store_stops_the_command_with_a_short_error(url: str, expected: str) -> None:
    env = {**os.environ, "FERRY_RATE_LIMITS": url}
    out = subprocess.run(
        [sys.executable, "-m", "ferry", "demo", "--instances", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0 and expected in text
    assert "hunter2" not in text and "Traceback" not in text
    assert "FERRY_RATE_LIMITS" in text


class SlowStore(MemoryStore):
    """A shared store whose writes take a round trip, like Redis or PostgreSQL over a network."""

    async def slow_down(self, key: str, now: float, until: float, low_rate: float) -> KeyState:
        await asyncio.sleep(0.05)
        return await super().slow_down(key, now, until, low_rate)


async def test_a_throttle_reported_just_before_the_end_still_reaches_the_store() -> None:
    store = SlowStore()
    pacer = SecondPacer(PacerSettings(limit=10), store)
    await paced_times(pacer, "k", 1)
    pacer.slow_down("k", 1.0)
    await pacer.flush()
    # the store holds the pause for every other worker: a process ending here cancels nothing
    claimed = await store.claim("k", math.floor(time.time()), 10, 1)
    assert claimed.state.penalty_until > time.time()


async def test_closing_the_dingtalk_client_shares_its_throttles_first() -> None:
    store = SlowStore()
    pacer = SecondPacer(PacerSettings(), store)
    client = DingTalkClient(DingTalkSettings(connection="c", app_key="k", app_secret="s"), limiter=pacer)
    pacer.slow_down(("dingtalk", "k", "api"), 1.0)
    await client.aclose()
    claimed = await store.claim("dingtalk|k|api", math.floor(time.time()), 20, 1)
    assert claimed.state.penalty_until > time.time()


class StuckStore(MemoryStore):
    """A shared store that never answers a write."""

    async def slow_down(self, key: str, now: float, until: float, low_rate: float) -> KeyState:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_a_store_that_does_not_answer_does_not_hold_a_closing_client() -> None:
    pacer = SecondPacer(PacerSettings(), StuckStore())
    pacer.slow_down("k", 1.0)
    started = time.monotonic()
    await pacer.flush(timeout=0.2)
    assert time.monotonic() - started < 2.0
