"""Adaptive token buckets, one per key (typically ``(connection, api)``).

Each bucket paces calls with GCRA (a token bucket expressed as a "theoretical arrival time"), so a
waiter knows its slot at once and sleeps exactly until then. A throttling answer from the remote side
calls :meth:`RateLimiter.slow_down`: the bucket's rate is multiplied by ``decrease_factor`` and the
bucket pauses for ``retry_after`` (DingTalk's advice is one second: its window is one second); the
rate then grows back linearly by ``recovery_per_s`` each second until it reaches the configured rate
again (additive increase, multiplicative decrease).

Why not ``aiolimiter`` (installed, and fine for a fixed rate): its ``AsyncLimiter`` computes its rate
once at construction and reads the event loop's clock, so it can neither change rate gradually nor be
driven by a fake clock in tests; swapping limiter objects on every rate change would lose queued
waiters. The pacing itself is twenty lines, so we keep it here.

Imports nothing of Ferry's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Where buckets read time and how they wait; tests pass a fake one."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class BucketSettings:
    """How one bucket behaves; the defaults suit DingTalk's 20 calls/s per app per API."""

    #: calls per second when nothing has been throttled
    rate: float = 20.0
    #: calls allowed back to back after a quiet spell; 1 keeps any one-second window within ``rate``
    burst: int = 1
    #: the rate is multiplied by this on each throttling answer
    decrease_factor: float = 0.5
    #: the rate never drops below this
    min_rate: float = 0.5
    #: calls/s added back per second after a slow-down, until ``rate`` is reached again
    recovery_per_s: float = 2.0
    #: pause after a throttling answer that names no retry-after (DingTalk: "sleep 1 s and continue")
    default_pause_s: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.min_rate <= 0 or self.burst < 1:
            raise ValueError("rate and min_rate must be positive and burst at least 1")
        if not 0 < self.decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")


class AdaptiveBucket:
    """One paced stream of calls whose rate drops on throttling and recovers gradually."""

    def __init__(self, settings: BucketSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._tat = 0.0
        self._paused_until = 0.0
        # rate right after the last slow-down, and when it happened; None when at full rate
        self._low_rate: float | None = None
        self._low_since = 0.0
        self.slowdowns = 0

    def rate(self, now: float | None = None) -> float:
        """The current rate in calls per second, including any recovery since the last slow-down."""
        if self._low_rate is None:
            return self.settings.rate
        now = self._clock.monotonic() if now is None else now
        rate = self._low_rate + self.settings.recovery_per_s * max(0.0, now - self._low_since)
        if rate >= self.settings.rate:
            self._low_rate = None
            return self.settings.rate
        return rate

    def reserve(self) -> float:
        """Take the next slot and return how long to wait for it (0 when it is free now)."""
        now = self._clock.monotonic()
        interval = 1.0 / self.rate(now)
        tolerance = (self.settings.burst - 1) * interval
        tat = max(self._tat, now, self._paused_until)
        allowed_at = max(now, tat - tolerance, self._paused_until)
        self._tat = tat + interval
        return allowed_at - now

    async def acquire(self) -> None:
        """Wait until this call may be made."""
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)

    def slow_down(self, retry_after: float | None = None) -> None:
        """A throttling answer: cut the rate and pause for ``retry_after`` (or the default pause)."""
        now = self._clock.monotonic()
        current = self.rate(now)
        self._low_rate = max(self.settings.min_rate, current * self.settings.decrease_factor)
        self._low_since = now
        pause = self.settings.default_pause_s if retry_after is None else max(0.0, retry_after)
        self._paused_until = max(self._paused_until, now + pause)
        # slots handed out at the old rate are re-paced from the end of the pause
        self._tat = self._paused_until
        self.slowdowns += 1


class RateLimiter:
    """Adaptive buckets by key, created on first use with per-key settings or the default.

    ``await limiter.acquire(("dingtalk_main", "topapi/processinstance/get"))`` before each call;
    ``limiter.slow_down(key, retry_after)`` when the answer says the call was throttled.
    """

    def __init__(
        self,
        default: BucketSettings | None = None,
        per_key: Mapping[Hashable, BucketSettings] | None = None,
        clock: Clock | None = None,
        on_wait: Callable[[Hashable, float], None] | None = None,
    ) -> None:
        self.default = default or BucketSettings()
        #: told (key, seconds) at every acquire, for metrics
        self.on_wait = on_wait
        self._per_key = dict(per_key or {})
        self._clock = clock or SystemClock()
        self._buckets: dict[Hashable, AdaptiveBucket] = {}

    def configure(self, key: Hashable, settings: BucketSettings) -> None:
        """Set the settings for one key (replaces its bucket)."""
        self._per_key[key] = settings
        self._buckets.pop(key, None)

    def bucket(self, key: Hashable) -> AdaptiveBucket:
        """The bucket for ``key``, created on first use."""
        found = self._buckets.get(key)
        if found is None:
            found = AdaptiveBucket(self._per_key.get(key, self.default), self._clock)
            self._buckets[key] = found
        return found

    async def acquire(self, key: Hashable) -> None:
        """Wait for a slot in ``key``'s bucket."""
        delay = self.bucket(key).reserve()
        if self.on_wait is not None:
            self.on_wait(key, max(delay, 0.0))
        if delay > 0:
            await self._clock.sleep(delay)

    def slow_down(self, key: Hashable, retry_after: float | None = None) -> None:
        """Throttled on ``key``: slow its bucket down (see :meth:`AdaptiveBucket.slow_down`)."""
        self.bucket(key).slow_down(retry_after)

    def rate(self, key: Hashable) -> float:
        """The current rate of ``key``'s bucket."""
        return self.bucket(key).rate()

    async def ready(self) -> None:
        """Nothing to reach: the buckets live in this process."""

    def observe(self, key: Hashable, seconds: float) -> None:
        """A call's round trip (unused here: a token bucket has no notion of arrival time)."""


def retry_delay(retry_after: float | None, attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """How long to wait before retry number ``attempt`` (1-based).

    A ``retry_after`` the remote system gave wins; otherwise exponential back-off from ``base``,
    capped at ``cap``.
    """
    if retry_after is not None:
        return max(0.0, retry_after)
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


async def honour_retry_after(
    retry_after: float | None, attempt: int = 1, clock: Clock | None = None
) -> float:
    """Sleep for :func:`retry_delay` and return the time slept."""
    delay = retry_delay(retry_after, attempt)
    await (clock or SystemClock()).sleep(delay)
    return delay


__all__ = [
    "AdaptiveBucket",
    "BucketSettings",
    "Clock",
    "RateLimiter",
    "SystemClock",
    "honour_retry_after",
    "retry_delay",
]
