"""A ``ferry worker`` process: runs the queue's jobs until SIGTERM, then finishes what it holds.

Stopping: ``stop`` is set (a collect ends after the page in hand, a dispatch after its batch) and the
procrastinate worker is cancelled, which stops it fetching and waits for the running jobs. A second
signal cuts that short: the dispatcher gives back what it had not sent and leaves in doubt what it had,
and the leases and the probe cover a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from ferry.engine.registry import ConnectionLike
from ferry.engine.runner import Engine
from ferry.executor.queue import (
    STALLED_AFTER_S,
    Runtime,
    apply_schema,
    build_app,
    enqueue_dispatch_on_collect,
    register_schedules,
)
from ferry.scheme import Scheme
from ferry.store import Ledger

log = logging.getLogger("ferry.executor")


async def run_worker(
    ledger: Ledger,
    connections: Mapping[str, ConnectionLike],
    schemes: Sequence[Scheme],
    *,
    url: str,
    stop: asyncio.Event,
    concurrency: int = 4,
    lease_seconds: float = 300.0,
    stalled_after_s: float = STALLED_AFTER_S,
    owner: str | None = None,
) -> None:
    """Run jobs for ``schemes`` until ``stop`` is set; the ledger must be migrated and on PostgreSQL."""
    by_id = {s.id: s for s in schemes}
    app = build_app(url)
    register_schedules(app, schemes)
    engine = Engine(ledger, connections, owner=owner, lease_seconds=lease_seconds)
    enqueue_dispatch_on_collect(url, ledger, by_id)
    runtime = Runtime(engine, by_id, stop, stalled_after_s)
    async with app.open_async(), engine:
        await apply_schema(app, url)
        worker = asyncio.create_task(
            app.run_worker_async(
                name=engine.owner,
                concurrency=concurrency,
                install_signal_handlers=False,
                additional_context={"ferry": runtime},
                # a killed worker is found after stalled_after_s; beat three times per window
                update_heartbeat_interval=stalled_after_s / 3,
                stalled_worker_timeout=stalled_after_s,
                delete_jobs="successful",
                fetch_job_polling_interval=2.0,
            ),
            name="ferry:worker",
        )
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not worker.done():
            # procrastinate's graceful stop: no new jobs, wait for the running ones
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    ledger.on_page_stored = None
