"""Pacing by the calendar second, the way DingTalk counts: at most ``limit`` calls arrive in each second.

DingTalk counts calls per app per API in calendar seconds, when they *arrive*. A token bucket at 20/s
drifts across second boundaries with latency jitter, so it must run below the limit (19/s) to stay clear
of throttles. Here each second has ``limit`` numbered slots, claimed from a store (this process, or
PostgreSQL/Redis shared by every worker). Slot ``i`` of second ``S`` is sent at
``S + i * (1 - margin) / limit``: evenly spread, and the last one leaves ``margin`` before the second
ends, so even a slow call lands inside it. ``margin`` is measured: a high quantile of the observed
round-trip times (an upper bound of the one-way delay), so the whole second's slots are used whatever
the latency, and the pass runs at the full limit.

A throttle (:meth:`SecondPacer.slow_down`) pauses every worker sharing the store for ``retry_after``
(DingTalk: one second), cuts the rate by ``decrease_factor`` (one cut per burst of throttles) and widens
the local margin; the rate then grows back by ``recovery_per_s`` per second. Clocks are assumed to be
NTP-synchronised with the remote side; a skew shows up as throttles, which widen the margin.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from contextlib import suppress
from dataclasses import dataclass, field

from ferry.ratelimit.store import KeyState, LimitStore, RateLimitStoreError, Updates, shared_store


@dataclass(frozen=True, slots=True)
class PacerSettings:
    """How a :class:`SecondPacer` behaves; the defaults suit DingTalk's 20 calls/s per app per API."""

    limit: float = 20.0
    #: the rate is multiplied by this on a throttle (one cut per pause)
    decrease_factor: float = 0.8
    min_rate: float = 1.0
    #: calls/s given back per second after the pause
    recovery_per_s: float = 2.0
    #: pause after a throttle that names no retry-after
    default_pause_s: float = 1.0
    #: margin before any latency is observed, and its bounds. A wide margin costs no throughput (it only
    #: packs a second's slots closer), a narrow one costs throttles, so start wide
    initial_margin_s: float = 0.5
    min_margin_s: float = 0.02
    max_margin_s: float = 0.7
    #: most slots one claim takes: bigger is cheaper on a shared store, smaller wastes fewer slots
    claim_batch: int = 5


@dataclass
class _Key:
    name: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: claimed, unused slots: (send at, last moment it may still be sent)
    slots: deque[tuple[float, float]] = field(default_factory=deque)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    second: int = 0
    state: KeyState = field(default_factory=KeyState)
    waiting: int = 0
    widen_s: float = 0.0
    slowdowns: int = 0


def store_key(key: Hashable) -> str:
    """The text a key is stored under: a tuple's parts joined by ``|``."""
    return "|".join(map(str, key)) if isinstance(key, tuple) else str(key)


class SecondPacer:
    """``await pacer.acquire(key)`` before a call, ``pacer.observe(key, seconds)`` after it, and
    ``pacer.slow_down(key, retry_after)`` on a throttling answer. Keys are any hashable (tuples are
    joined into the store's text key, so every worker must build them alike)."""

    def __init__(
        self,
        settings: PacerSettings | None = None,
        store: LimitStore | None = None,
        on_wait: Callable[[Hashable, float], None] | None = None,
    ) -> None:
        self.settings = settings or PacerSettings()
        self._store = store
        #: told how long each call waited for its slot (the limiter-wait metric)
        self.on_wait = on_wait
        self._keys: dict[Hashable, _Key] = {}
        #: what the store was asked (claims) and what it granted, for benchmarks and tests
        self.claims = 0
        self.wasted = 0
        #: slow-downs on their way to the store
        self._sharing = Updates()

    @property
    def store(self) -> LimitStore:
        if self._store is None:
            self._store = shared_store()
        return self._store

    def _key(self, key: Hashable) -> _Key:
        found = self._keys.get(key)
        if found is None:
            found = self._keys[key] = _Key(store_key(key))
        return found

    def margin(self, key: Hashable) -> float:
        """The time kept free at the end of each second for ``key``: the second-slowest of the recent
        round trips with room to spare, plus what throttles added."""
        k, s = self._key(key), self.settings
        if len(k.latencies) < 4:
            base = s.initial_margin_s
        else:
            ordered = sorted(k.latencies)
            # the second-slowest of the last 64: one outlier does not shrink the window for long
            base = ordered[-2] * 1.25 + 0.01
        return min(s.max_margin_s, max(s.min_margin_s, base + k.widen_s))

    def rate(self, key: Hashable, now: float | None = None) -> float:
        """The shared current rate of ``key`` (the limit, or less while recovering from a throttle)."""
        state, s = self._key(key).state, self.settings
        if state.low_rate is None:
            return s.limit
        now = time.time() if now is None else now
        return min(s.limit, state.low_rate + s.recovery_per_s * max(0.0, now - state.low_since))

    async def ready(self) -> None:
        """Reach the store (a clear error if it cannot be), before the caller sends anything."""
        await self.store.connect()

    def observe(self, key: Hashable, seconds: float) -> None:
        """A call's round trip took ``seconds``: it bounds how late a call sent now may arrive."""
        self._key(key).latencies.append(max(0.0, seconds))

    async def acquire(self, key: Hashable) -> None:
        """Wait until a call on ``key`` may be sent."""
        k = self._key(key)
        began = time.time()
        while True:
            k.waiting += 1
            try:
                async with k.lock:
                    at, deadline = await self._next_slot(k, key)
            finally:
                k.waiting -= 1
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # a busy event loop can wake us late (past the deadline the call could land in the next second),
            # and a throttle may have started a pause while we slept
            if time.time() <= deadline and at >= k.state.penalty_until:
                if self.on_wait is not None:
                    self.on_wait(key, max(0.0, time.time() - began))
                return
            self.wasted += 1

    async def _next_slot(self, k: _Key, key: Hashable) -> tuple[float, float]:
        while True:
            now = time.time()
            while k.slots:
                at, deadline = k.slots.popleft()
                if now <= deadline and at >= k.state.penalty_until:
                    return max(at, now), deadline
                self.wasted += 1
            await self._claim(k, key, now)

    async def _claim(self, k: _Key, key: Hashable, now: float) -> None:
        margin = self.margin(key)
        second = max(k.second, math.floor(now))
        if now > second + 1 - margin:
            second += 1
        if second < k.state.penalty_until:
            second = math.ceil(k.state.penalty_until)
        limit = int(self.rate(key, float(second)))
        want = max(1, min(self.settings.claim_batch, k.waiting))
        self.claims += 1
        got = await self.store.claim(k.name, second, limit, want)
        k.state = got.state
        k.second = second
        if got.granted == 0 or second < got.state.penalty_until:
            # full (or paused by another worker): the next second, and wait for it rather than spin
            k.second = second + 1
            wait = max(0.0, second + 1 - margin - time.time()) if got.granted == 0 else 0.0
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
            return
        span = (1.0 - margin) / max(limit, 1)
        for i in range(got.first, got.first + got.granted):
            k.slots.append((second + i * span, second + 1 - margin))

    def slow_down(self, key: Hashable, retry_after: float | None = None) -> None:
        """Throttled: pause every sharer, cut the shared rate, widen this process's margin.

        Synchronous so callers need no ``await``; the shared update runs as a task (and the local state
        changes at once, so this process stops before the store answers)."""
        k, s = self._key(key), self.settings
        now = time.time()
        pause = s.default_pause_s if retry_after is None else max(0.0, retry_after)
        until = now + pause
        low = max(s.min_rate, self.rate(key, now) * s.decrease_factor)
        if k.state.penalty_until < now:
            k.state = KeyState(until, low, until)
        else:
            k.state = KeyState(max(until, k.state.penalty_until), k.state.low_rate, k.state.low_since)
        k.widen_s = min(s.max_margin_s, k.widen_s + 0.05)
        k.slowdowns += 1
        k.slots = deque(slot for slot in k.slots if slot[0] >= until)
        self._sharing.send(self._share_slow_down(k, now, until, low))

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout``) until every slow-down reported so far has reached the store: a
        process that saw a throttle and ends at once (a short ``ferry run``) tells the others first."""
        await self._sharing.flush(timeout)

    async def _share_slow_down(self, k: _Key, now: float, until: float, low: float) -> None:
        # a store that fails here fails the next claim too, where the caller sees it
        with suppress(RateLimitStoreError):
            k.state = await self.store.slow_down(k.name, now, until, low)

    def slowdowns(self, key: Hashable) -> int:
        """Throttles this process reported on ``key``."""
        return self._key(key).slowdowns


__all__ = ["PacerSettings", "SecondPacer", "store_key"]
