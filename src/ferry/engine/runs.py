"""Runs recorded in the ledger around an engine's passes: a heartbeat while each runs, the dead reaped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ferry.engine.schedule import HEARTBEAT_S, RUN_STALE_S
from ferry.engine.wiring import Wiring
from ferry.observe.tracing import span
from ferry.scheme import Scheme

log = logging.getLogger("ferry.engine")


@dataclass
class _RunRecord:
    counts: dict[str, int] = field(default_factory=dict)
    #: how the run ends when nothing was raised: ``ok``, or ``interrupted`` when it was told to stop
    status: str = "ok"


class RecordedRuns(Wiring):
    """The engine's layer that records each pass as a run in the ledger."""

    @contextlib.asynccontextmanager
    async def _recorded_run(self, scheme: Scheme, kind: str, trigger: str) -> AsyncIterator[_RunRecord]:
        """Record a run in the ledger around a pass, with a heartbeat while it runs (a run whose process
        died stops beating and is reaped as ``interrupted``), and flush the API-call log after it."""
        run_id = await self.store.start_run(scheme.id, kind, trigger, owner=self.owner)
        record = _RunRecord()
        beat = asyncio.create_task(self._heartbeat(run_id), name=f"heartbeat:{run_id}")
        try:
            with span(
                f"ferry.{kind}", {"ferry.scheme": scheme.id, "ferry.trigger": trigger, "ferry.run_id": run_id}
            ):
                yield record
        except BaseException as e:
            status = "interrupted" if isinstance(e, asyncio.CancelledError | KeyboardInterrupt) else "failed"
            await asyncio.shield(
                self.store.finish_run(run_id, status=status, error=str(e) or type(e).__name__)
            )
            raise
        finally:
            beat.cancel()
            await asyncio.shield(self.store.flush())
        await self.store.finish_run(run_id, status=record.status, counts=record.counts)

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.store.heartbeat(self.owner, run_id=run_id)
            except Exception as e:  # a missed beat is harmless; many missed ones reap the run
                log.warning("run %s: heartbeat failed: %s", run_id, e)

    async def reap(self) -> list[int]:
        """End the runs of processes that died (no heartbeat for ``RUN_STALE_S``) as ``interrupted``."""
        reaped = await self.store.reap_runs(RUN_STALE_S)
        if reaped:
            log.warning("runs %s had stopped beating: marked interrupted", reaped)
        return reaped


__all__ = ["RecordedRuns"]
