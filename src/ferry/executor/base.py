"""The executor interface: how units of work (collect, dispatch, the remedy, events) get run.

Two implementations: :class:`InProcessExecutor` runs them in this process on its own timers (SQLite,
``ferry run``, a single ``ferry serve``); :class:`ferry.executor.queue.QueueExecutor` defers them as
procrastinate jobs that ``ferry worker`` processes run (PostgreSQL). Either way the ledger is the
exactly-once guard, so an executor only decides *where and when* work runs, never whether it is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from ferry.engine.runner import Engine
from ferry.scheme import Scheme


class Executor(Protocol):
    """Where a scheme's units of work run."""

    async def collect(self, scheme: Scheme, *, trigger: str = "manual") -> None:
        """Collect the scheme from its watermark (the dispatch of what is stored follows)."""

    async def dispatch(self, scheme: Scheme, *, trigger: str = "manual") -> None:
        """Dispatch what is due for the scheme."""

    async def collect_ids(self, scheme: Scheme, source_ids: Sequence[str]) -> None:
        """Fetch named records now (a change event named them)."""

    async def serve(self, schemes: Sequence[Scheme], stop: asyncio.Event) -> None:
        """Keep the schemes' schedules until ``stop`` is set."""


class InProcessExecutor:
    """Today's behaviour: the engine runs the work here, at once, on this process's timers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def collect(self, scheme: Scheme, *, trigger: str = "manual") -> None:
        await self.engine.collect(scheme, trigger=trigger)

    async def dispatch(self, scheme: Scheme, *, trigger: str = "manual") -> None:
        await self.engine.dispatch(scheme, trigger=trigger)

    async def collect_ids(self, scheme: Scheme, source_ids: Sequence[str]) -> None:
        await self.engine.collect_ids(scheme, source_ids)

    async def serve(self, schemes: Sequence[Scheme], stop: asyncio.Event) -> None:
        await self.engine.serve(schemes, stop)
