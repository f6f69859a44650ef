"""An adaptive concurrency limit for one connection (AIMD: halve on throttling, +1 after a run of successes).

Kingdee publishes no request rate, only "slow down" answers (MsgCode 13 network-control conflict, MsgCode 14
call limit, HTTP 5xx). So instead of a token bucket we bound the number of calls in flight and adapt that
bound to what the server tells us. Imports nothing of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AdaptiveConcurrency:
    """An async limiter on calls in flight whose limit halves on :meth:`slow_down` and recovers slowly.

    ``limit`` starts at ``initial`` and never leaves ``[min_limit, max_limit]`` (``max_limit`` defaults to
    ``initial``). After ``recover_after`` consecutive :meth:`succeeded` calls the limit grows by one.
    Use ``async with limiter.slot(): ...`` around each call, then report the outcome.
    """

    def __init__(
        self,
        initial: int = 4,
        *,
        min_limit: int = 1,
        max_limit: int | None = None,
        recover_after: int = 20,
    ) -> None:
        if initial < 1 or min_limit < 1:
            raise ValueError("concurrency limits must be at least 1")
        self._max = max_limit if max_limit is not None else initial
        if self._max < min_limit or not (min_limit <= initial <= self._max):
            raise ValueError("need min_limit <= initial <= max_limit")
        if recover_after < 1:
            raise ValueError("recover_after must be at least 1")
        self._min = min_limit
        self._limit = initial
        self._recover_after = recover_after
        self._in_flight = 0
        self._streak = 0
        self._slowdowns = 0
        # created lazily so the limiter can be built outside a running event loop
        self._cond: asyncio.Condition | None = None

    @property
    def limit(self) -> int:
        """The current number of calls allowed in flight."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Calls holding a slot right now."""
        return self._in_flight

    @property
    def slowdowns(self) -> int:
        """How many slow-down signals were received so far (for metrics and tests)."""
        return self._slowdowns

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def acquire(self) -> None:
        """Wait for a free slot under the current limit and take it."""
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self._in_flight < self._limit)
            self._in_flight += 1

    async def release(self) -> None:
        """Give a slot back and wake waiters."""
        cond = self._condition()
        async with cond:
            self._in_flight = max(0, self._in_flight - 1)
            cond.notify_all()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            # shield so a cancelled caller cannot leak its slot
            await asyncio.shield(self.release())

    def slow_down(self) -> None:
        """The server asked us to back off: halve the limit (never below ``min_limit``)."""
        self._slowdowns += 1
        self._streak = 0
        self._limit = max(self._min, self._limit // 2)

    def succeeded(self) -> None:
        """A call succeeded; after ``recover_after`` in a row the limit grows by one (up to ``max_limit``)."""
        self._streak += 1
        if self._streak >= self._recover_after:
            self._streak = 0
            # no wake-up needed: a waiter only blocks while calls are in flight, and each release notifies
            if self._limit < self._max:
                self._limit += 1

    def __repr__(self) -> str:
        return f"AdaptiveConcurrency(limit={self._limit}, in_flight={self._in_flight}, max={self._max})"


__all__ = ["AdaptiveConcurrency"]
