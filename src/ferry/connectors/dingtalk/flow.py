"""How many detail calls the source keeps in flight (enough to keep DingTalk's limit busy at any
latency), and how their details are handed over (in chunks of what has arrived).

Little's law: calls in flight = rate x the time each one is held. The pacer sends a second's calls within
its first ``1 - margin`` (the margin keeps a slow call inside its second), so while it sends, calls leave
at ``rate / (1 - margin)``; each is held for its round trip and, in a collect, until the chunk it came in
is stored. On top come the calls that wait for their slot (the pacer claims a few at a time). A fixed
eight (the old default) kept 20/s busy at 30-80 ms but reached only ~78% of it at 50-400 ms: with a
0.5 s margin the pacer sends at ~40/s, and 40/s x 0.225 s is nine on the wire before any wait.

More in flight than needed costs nothing but memory and, if the worker is killed, the details that had
arrived and were not stored yet; fewer costs rate. So the target leans high (``HEADROOM``) and is capped
(the transport's connections, or the scheme's ``concurrency``).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: latency varies from call to call, and a slot left idle costs rate: keep half as many again
HEADROOM = 1.5
#: calls waiting for their slot, beside those on the wire (the pacer claims five slots at a time)
WAITING = 5
#: never fewer than this, whatever the measurements say
FLOOR = 4
#: the most calls in flight (the DingTalk transport's connection pool)
MAX_IN_FLIGHT = 64
#: before any round trip was seen: the old fixed default, right for a nearby DingTalk
BEFORE_SEEN = 8


@dataclass(frozen=True, slots=True)
class Pace:
    """How one API is paced now: what the calls in flight are sized by."""

    #: calls per second the limiter allows now (the limit, or less after a throttle)
    rate: float
    #: the share of each second the calls are sent in (``1 - margin`` for the calendar-second pacer)
    send_share: float = 1.0
    #: the mean recent round trip, in seconds; None until a few were seen
    rtt_s: float | None = None


def in_flight_target(pace: Pace, hold_s: float = 0.0, cap: int = MAX_IN_FLIGHT) -> int:
    """The calls to keep in flight for ``pace`` when each is held ``hold_s`` beyond its round trip."""
    cap = max(1, min(cap, MAX_IN_FLIGHT))
    if pace.rtt_s is None:
        return min(cap, BEFORE_SEEN)
    sending = pace.rate / max(pace.send_share, 0.1)
    wanted = math.ceil(sending * (pace.rtt_s + max(0.0, hold_s)) * HEADROOM) + WAITING
    return min(cap, max(FLOOR, wanted))


class InFlight:
    """A semaphore whose size is asked of ``target`` whenever a slot is wanted (it follows the pace).

    A shrinking target lets the calls in flight finish; no new one starts until they are below it."""

    def __init__(self, target: Callable[[], int]) -> None:
        self._target = target
        self.held = 0
        #: the most held at once, for tests and measurements
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if not self._waiters and self.held < self._target():
            self._take()
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # granted just as we were cancelled: hand the slot on
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.held -= 1
        self._wake()

    def _take(self) -> None:
        self.held += 1
        self.peak = max(self.peak, self.held)

    def _wake(self) -> None:
        while self._waiters and self.held < self._target():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)


async def handover(arrived: asyncio.Queue[T | Exception | None], size: int) -> AsyncGenerator[list[T]]:
    """Chunks of what has arrived (at most ``size``, never waiting to fill one) until the producer's
    closing ``None``. An error the producer put in is raised only after everything that arrived was
    handed over: a detail already fetched is stored, not fetched again by the next pass."""
    failure: Exception | None = None
    done = False
    while not done:
        chunk: list[T] = []
        item = await arrived.get()
        while True:
            if item is None:
                done = True
                break
            if isinstance(item, Exception):
                failure = failure or item
            else:
                chunk.append(item)
            if len(chunk) >= size or arrived.empty():
                break
            item = arrived.get_nowait()
        if chunk:
            yield chunk
    if failure is not None:
        raise failure


__all__ = ["MAX_IN_FLIGHT", "InFlight", "Pace", "handover", "in_flight_target"]
