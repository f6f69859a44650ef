"""Adaptive token buckets: pacing, bursts, slow-down and gradual recovery (fake clock), and real pacing."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from ferry.ratelimit.bucket import (
    AdaptiveBucket,
    BucketSettings,
    RateLimiter,
    honour_retry_after,
    retry_delay,
)


class FakeClock:
    """Time moves only when a caller sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def slots(bucket: AdaptiveBucket, clock: FakeClock, n: int) -> list[float]:
    """Times at which ``n`` back-to-back callers may go (reservations made at the current time)."""
    return [clock.now + bucket.reserve() for _ in range(n)]


def test_paces_at_the_configured_rate() -> None:
    clock = FakeClock()
    bucket = AdaptiveBucket(BucketSettings(rate=20), clock)
    times = slots(bucket, clock, 41)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.05}
    # at most 20 in any window just under a second (exactly one second may hold 21: both ends)
    assert max(sum(1 for t in times if s <= t < s + 0.999) for s in times) == 20


def test_burst_allows_back_to_back_calls_then_paces() -> None:
    clock = FakeClock()
    bucket = AdaptiveBucket(BucketSettings(rate=10, burst=3), clock)
    times = slots(bucket, clock, 5)
    assert times[:3] == [100.0, 100.0, 100.0]
    assert times[3] == pytest.approx(100.1) and times[4] == pytest.approx(100.2)


async def test_sequential_acquires_sleep_exactly_the_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(BucketSettings(rate=4), clock=clock)
    for _ in range(9):
        await limiter.acquire(("conn", "api"))
    assert clock.now == pytest.approx(102.0) and clock.slept == pytest.approx([0.25] * 8)


def test_slow_down_halves_pauses_and_recovers_additively() -> None:
    clock = FakeClock()
    bucket = AdaptiveBucket(BucketSettings(rate=20, recovery_per_s=2.0, default_pause_s=1.0), clock)
    bucket.slow_down()
    assert bucket.rate() == 10
    # nothing goes during the pause, then calls are paced at the lower rate
    times = slots(bucket, clock, 3)
    assert times[0] == pytest.approx(101.0) and times[1] - times[0] == pytest.approx(0.1, abs=0.01)
    clock.now = 102.5
    assert bucket.rate() == pytest.approx(15.0)
    clock.now = 105.0
    assert bucket.rate() == 20
    clock.now = 200.0
    assert bucket.rate() == 20


def test_repeated_slow_downs_compound_down_to_the_floor() -> None:
    clock = FakeClock()
    bucket = AdaptiveBucket(BucketSettings(rate=20, min_rate=2, recovery_per_s=1.0), clock)
    for expected in (10, 5, 2.5, 2, 2):
        bucket.slow_down(retry_after=0)
        assert bucket.rate() == pytest.approx(expected)
    assert bucket.slowdowns == 5


def test_retry_after_pauses_the_bucket_for_that_long() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    key = ("dingtalk_main", "topapi/processinstance/get")
    limiter.slow_down(key, retry_after=7.5)
    assert limiter.bucket(key).reserve() == pytest.approx(7.5)
    # other keys are not affected
    assert limiter.bucket(("dingtalk_main", "topapi/processinstance/listids")).reserve() == 0
    assert limiter.rate(key) == 10 and limiter.rate(("x", "y")) == 20


def test_per_key_settings() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        BucketSettings(rate=20), per_key={("a", "list"): BucketSettings(rate=5)}, clock=clock
    )
    assert limiter.rate(("a", "list")) == 5 and limiter.rate(("a", "get")) == 20
    limiter.configure(("a", "get"), BucketSettings(rate=2))
    assert limiter.rate(("a", "get")) == 2


def test_retry_delay_prefers_the_servers_answer() -> None:
    assert retry_delay(3.0, attempt=5) == 3.0
    assert [retry_delay(None, n) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]


async def test_honour_retry_after_sleeps_on_the_given_clock() -> None:
    clock = FakeClock()
    assert await honour_retry_after(2.5, clock=clock) == 2.5 and clock.now == 102.5


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        BucketSettings(rate=0)
    with pytest.raises(ValueError):
        BucketSettings(decrease_factor=1.5)


async def test_real_clock_rate_is_respected_under_concurrency() -> None:
    limiter = RateLimiter(BucketSettings(rate=50))
    key = ("conn", "api")
    stamps: list[float] = []

    async def call() -> None:
        await limiter.acquire(key)
        stamps.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(call() for _ in range(40)))
    elapsed = time.monotonic() - started
    # 40 calls at 50/s: the last goes at 39 intervals = 0.78 s
    assert 0.74 <= elapsed <= 1.2
    window = [t for t in stamps if t < started + 0.5]
    assert 23 <= len(window) <= 27  # ~25 in the first half second
