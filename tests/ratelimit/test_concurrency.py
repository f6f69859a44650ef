"""AdaptiveConcurrency: bounds calls in flight, halves on slow-down, recovers +1 after a run of successes."""

from __future__ import annotations

import asyncio

import pytest

from ferry.ratelimit.concurrency import AdaptiveConcurrency


async def _peak(limiter: AdaptiveConcurrency, tasks: int) -> int:
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(work() for _ in range(tasks)))
    return peak


async def test_never_more_than_the_limit_in_flight() -> None:
    limiter = AdaptiveConcurrency(3)
    assert await _peak(limiter, 12) == 3
    assert limiter.in_flight == 0


async def test_slow_down_halves_and_successes_recover() -> None:
    limiter = AdaptiveConcurrency(8, recover_after=3)
    limiter.slow_down()
    assert limiter.limit == 4
    assert await _peak(limiter, 10) == 4
    limiter.slow_down()
    limiter.slow_down()
    limiter.slow_down()
    assert limiter.limit == 1 and limiter.slowdowns == 4  # never below min_limit
    for _ in range(2):
        limiter.succeeded()
    assert limiter.limit == 1
    limiter.succeeded()
    assert limiter.limit == 2
    limiter.slow_down()  # a slow-down also resets the success streak
    limiter.succeeded()
    limiter.succeeded()
    assert limiter.limit == 1
    for _ in range(100):
        limiter.succeeded()
    assert limiter.limit == 8  # capped at max_limit (the initial limit by default)


async def test_raising_the_limit_lets_waiters_in() -> None:
    limiter = AdaptiveConcurrency(1, max_limit=2, recover_after=1)
    limiter.succeeded()
    assert limiter.limit == 2
    assert await _peak(limiter, 4) == 2


async def test_cancelled_holder_releases_its_slot() -> None:
    limiter = AdaptiveConcurrency(1)
    started = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot():
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(hold())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(limiter.acquire(), 1)
    await limiter.release()
    assert limiter.in_flight == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        AdaptiveConcurrency(0)
    with pytest.raises(ValueError):
        AdaptiveConcurrency(4, min_limit=5, max_limit=6)
    with pytest.raises(ValueError):
        AdaptiveConcurrency(2, recover_after=0)
