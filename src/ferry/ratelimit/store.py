"""Where rate-limit state lives: this process (``memory``), PostgreSQL or Redis.

A store keeps three things per key, so that every worker sharing it shares the limit:

- **second counters**: how many calls were granted in one calendar second (``claim``);
- **the penalty and step-down**: until when nobody may call, and the rate cut after a throttle (``slow_down``);
- **leases**: numbered concurrency slots with an expiry, so a killed holder's slot comes back (``lease``).

``open_store(url)`` picks the backend from ``FERRY_RATE_LIMITS``-style text: ``memory``,
``postgresql://...`` or ``redis://...``. Imports nothing of ours but :mod:`ferry.errors`.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from ferry.errors import ConfigError, FerryError

#: the environment variable that selects the store for every limiter in the process
ENV_VAR = "FERRY_RATE_LIMITS"


class RateLimitStoreError(FerryError):
    """The shared rate-limit store cannot be reached or used; nothing was sent."""


class RateLimitConfigError(ConfigError):
    """``FERRY_RATE_LIMITS`` (or the store URL given) is not a store Ferry knows."""


@dataclass(frozen=True, slots=True)
class KeyState:
    """The shared throttle state of one key, in wall-clock seconds (``time.time()``)."""

    #: nobody sends before this (a throttle's pause)
    penalty_until: float = 0.0
    #: the rate right after the last step-down, or None at full rate
    low_rate: float | None = None
    #: when the recovery from ``low_rate`` starts
    low_since: float = 0.0


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim got: ``granted`` slots, numbered ``first .. first + granted - 1`` within the second."""

    granted: int
    first: int
    state: KeyState


class LimitStore(Protocol):
    """The operations a limiter needs; every one is atomic across the processes sharing the store."""

    async def connect(self) -> None:
        """Reach the store now (it connects on first use otherwise): a limiter calls this before the
        first request, so an unreachable store fails before anything is sent."""
        ...

    async def claim(self, key: str, second: int, limit: int, want: int) -> Claim:
        """Take up to ``want`` of the ``limit`` slots of calendar second ``second`` for ``key``."""
        ...

    async def slow_down(self, key: str, now: float, until: float, low_rate: float) -> KeyState:
        """A throttle on ``key``: pause everyone until ``until``; cut the rate to ``low_rate`` unless a
        pause reported by another worker is still running (one throttle burst, one step-down)."""
        ...

    async def lease(self, key: str, holder: str, limit: int, ttl_s: float) -> int | None:
        """Take a free slot below ``limit`` (or one whose lease expired); its number, or None when full."""
        ...

    async def renew(self, key: str, holder: str, slot: int, ttl_s: float) -> bool:
        """Extend a held lease; False when it was lost (expired and taken)."""
        ...

    async def release(self, key: str, holder: str, slot: int) -> None:
        """Give a slot back."""
        ...

    async def shared_limit(self, key: str, default: int, change: int | None = None) -> int:
        """The shared concurrency limit of ``key`` (``default`` when unset); ``change`` stores a new one."""
        ...

    async def aclose(self) -> None: ...


class Updates:
    """Writes to the store sent in the background, so the call that made them never waits; each is kept
    referenced until done (else it may be collected first). :meth:`flush` waits for those still on their
    way: a process that ends at once would otherwise cancel them with its loop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, update: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(update)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait for the updates sent so far, at most ``timeout`` seconds: a store that does not answer
        must not hold a closing client for long."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


class MemoryStore:
    """This process only: the default, and what the shared stores are tested against."""

    def __init__(self) -> None:
        self._seconds: dict[tuple[str, int], int] = {}
        self._states: dict[str, KeyState] = {}
        self._leases: dict[tuple[str, int], tuple[str, float]] = {}
        self._limits: dict[str, int] = {}

    async def connect(self) -> None:
        return None

    async def claim(self, key: str, second: int, limit: int, want: int) -> Claim:
        used = self._seconds.get((key, second), 0)
        granted = max(0, min(want, limit - used))
        if granted:
            self._seconds[(key, second)] = used + granted
        if len(self._seconds) > 4096:
            # old seconds are never claimed again
            for k in [k for k in self._seconds if k[1] < second - 60]:
                del self._seconds[k]
        return Claim(granted, used, self._states.get(key, KeyState()))

    async def slow_down(self, key: str, now: float, until: float, low_rate: float) -> KeyState:
        old = self._states.get(key, KeyState())
        if old.penalty_until >= now:
            new = KeyState(max(old.penalty_until, until), old.low_rate, old.low_since)
        else:
            new = KeyState(until, low_rate, until)
        self._states[key] = new
        return new

    async def lease(self, key: str, holder: str, limit: int, ttl_s: float) -> int | None:
        now = time.time()
        for slot in range(limit):
            held = self._leases.get((key, slot))
            if held is None or held[1] < now:
                self._leases[(key, slot)] = (holder, now + ttl_s)
                return slot
        return None

    async def renew(self, key: str, holder: str, slot: int, ttl_s: float) -> bool:
        held = self._leases.get((key, slot))
        if held is None or held[0] != holder:
            return False
        self._leases[(key, slot)] = (holder, time.time() + ttl_s)
        return True

    async def release(self, key: str, holder: str, slot: int) -> None:
        held = self._leases.get((key, slot))
        if held is not None and held[0] == holder:
            del self._leases[(key, slot)]

    async def shared_limit(self, key: str, default: int, change: int | None = None) -> int:
        if change is not None:
            self._limits[key] = change
        return self._limits.get(key, default)

    async def aclose(self) -> None:
        return None


_CREDENTIALS = re.compile(r"(//[^/@:]*):[^/@]*@")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return _CREDENTIALS.sub(r"\1:***@", url)


def open_store(url: str | None = None) -> LimitStore:
    """The store a URL names (default: ``$FERRY_RATE_LIMITS``, else ``memory``); connects on first use.

    Raises :class:`RateLimitConfigError` for text that names no store.
    """
    text = (url if url is not None else os.environ.get(ENV_VAR, "")).strip() or "memory"
    scheme = text.split("://", 1)[0].lower() if "://" in text else text.lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from ferry.ratelimit.pg import PostgresStore

        return PostgresStore(text)
    if scheme in ("redis", "rediss", "unix"):
        from ferry.ratelimit.redis_store import RedisStore

        return RedisStore(text)
    raise RateLimitConfigError(
        f"{ENV_VAR}={redact(text)!r} names no rate-limit store",
        hint="use memory, postgresql://user@host/db or redis://host:6379/0",
    )


_shared: dict[str, LimitStore] = {}


def shared_store() -> LimitStore:
    """The process-wide store ``$FERRY_RATE_LIMITS`` selects, opened once: every limiter in the process
    uses the same connection (the memory store is then one per process, shared by all its clients)."""
    text = os.environ.get(ENV_VAR, "").strip() or "memory"
    found = _shared.get(text)
    if found is None:
        found = _shared[text] = open_store(text)
    return found


__all__ = [
    "ENV_VAR",
    "Claim",
    "KeyState",
    "LimitStore",
    "MemoryStore",
    "RateLimitConfigError",
    "RateLimitStoreError",
    "open_store",
    "redact",
    "shared_store",
]
