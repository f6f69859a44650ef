"""A concurrency limit shared by every worker through a store: numbered slots held as expiring leases.

Kingdee publishes no rate, only "slow down" answers (MsgCode 13/14, HTTP 5xx), so its limit is calls in
flight. Across workers each call holds one of ``limit`` numbered slots in the store; the holder renews its
leases while it holds them, so a killed process's slots come back once their lease (``ttl_s``) runs out.
The limit itself is shared too: a slow-down anywhere halves it for all, and successes raise it again.
Same interface as :class:`~ferry.ratelimit.concurrency.AdaptiveConcurrency`.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager, suppress

from ferry.ratelimit.concurrency import AdaptiveConcurrency
from ferry.ratelimit.second import store_key
from ferry.ratelimit.store import LimitStore, MemoryStore, RateLimitStoreError, Updates, shared_store


class SharedConcurrency:
    """``async with limit.slot(): ...`` around each call; ``slow_down()`` / ``succeeded()`` after it."""

    def __init__(
        self,
        key: Hashable,
        initial: int = 4,
        *,
        store: LimitStore | None = None,
        min_limit: int = 1,
        recover_after: int = 20,
        ttl_s: float = 30.0,
        poll_s: float = 0.05,
    ) -> None:
        if not 1 <= min_limit <= initial:
            raise ValueError("need 1 <= min_limit <= initial")
        self.key = store_key(key)
        self._store = store
        self._max, self._min, self._limit = initial, min_limit, initial
        self._recover_after, self._streak = recover_after, 0
        self.ttl_s, self._poll_s = ttl_s, poll_s
        # one holder name per process and limiter: a lease names who may renew or release it
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._held: set[int] = set()
        #: limit changes on their way to the store
        self._sharing = Updates()
        self._slowdowns = 0
        self._heartbeat: asyncio.Task[None] | None = None
        self._limit_checked = 0.0

    @property
    def store(self) -> LimitStore:
        if self._store is None:
            self._store = shared_store()
        return self._store

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        """Slots this process holds (the others' are in the store)."""
        return len(self._held)

    @property
    def slowdowns(self) -> int:
        return self._slowdowns

    async def acquire(self) -> int:
        """Wait for a free slot under the shared limit; its number."""
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() - self._limit_checked > 1.0:
                self._limit = await self.store.shared_limit(self.key, self._limit)
                self._limit_checked = loop.time()
            slot = await self.store.lease(self.key, self.holder, self._limit, self.ttl_s)
            if slot is not None:
                self._held.add(slot)
                if self._heartbeat is None or self._heartbeat.done():
                    self._heartbeat = loop.create_task(self._renew_while_held())
                return slot
            # full: poll with jitter, so waiting workers do not retry in lock step
            await asyncio.sleep(self._poll_s * (0.5 + random.random()))

    async def release(self, slot: int) -> None:
        self._held.discard(slot)
        await self.store.release(self.key, self.holder, slot)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        number = await self.acquire()
        try:
            yield
        finally:
            await asyncio.shield(self.release(number))

    async def _renew_while_held(self) -> None:
        while self._held:
            await asyncio.sleep(self.ttl_s / 3)
            for slot in list(self._held):
                with suppress(Exception):
                    await self.store.renew(self.key, self.holder, slot, self.ttl_s)

    async def _store_limit(self, limit: int) -> None:
        # a store that fails here fails the next lease too, where the caller sees it
        with suppress(RateLimitStoreError):
            await self.store.shared_limit(self.key, limit, limit)

    def _share_limit(self) -> None:
        self._sharing.send(self._store_limit(self._limit))

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout``) until every limit change made so far has reached the store."""
        await self._sharing.flush(timeout)

    def slow_down(self) -> None:
        """Halve the shared limit (never below ``min_limit``)."""
        self._slowdowns += 1
        self._streak = 0
        self._limit = max(self._min, self._limit // 2)
        self._share_limit()

    def succeeded(self) -> None:
        """After ``recover_after`` successes in a row, the shared limit grows by one (up to ``initial``)."""
        self._streak += 1
        if self._streak >= self._recover_after:
            self._streak = 0
            if self._limit < self._max:
                self._limit += 1
                self._share_limit()

    def __repr__(self) -> str:
        return f"SharedConcurrency(key={self.key!r}, limit={self._limit}, held={len(self._held)})"


def concurrency_limit(key: Hashable, initial: int = 4) -> AdaptiveConcurrency | SharedConcurrency:
    """The limit for one connection: in-process unless ``$FERRY_RATE_LIMITS`` names a shared store."""
    store = shared_store()
    if isinstance(store, MemoryStore):
        return AdaptiveConcurrency(initial)
    return SharedConcurrency(key, initial, store=store)


__all__ = ["SharedConcurrency", "concurrency_limit"]
