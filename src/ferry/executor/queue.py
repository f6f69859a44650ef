"""The procrastinate executor: units of work as jobs in the ledger's PostgreSQL, run by ``ferry worker``.

Contract notes:
- The queue is at-least-once (a killed worker's job runs again). Every task is safe to run twice: the
  ledger's fenced leases and the probe before any resend stay the exactly-once guard.
- Collect defers the dispatch of what it stored *in the transaction that stores the page*
  (:attr:`ferry.store.Ledger.on_page_stored` with procrastinate's ``configure(connection=...)``):
  records and their dispatch jobs commit together or not at all; NOTIFY wakes the workers on commit.
- One collect per scheme at a time (``lock``), at most one waiting (``queueing_lock``); the remedy and
  event fetches of a scheme share that lock, so they never read the same windows side by side.
- Periodic tasks replace each process's timers: every worker (and ``ferry serve --workers external``)
  offers them, the database keeps one job per periodic id and time.
- A dispatch job works one batch; a full batch defers the next one, so a backlog is spread over every
  worker. The periodic sweep re-defers what is due (retries, in-doubt records, the batches of a worker
  that died), so a lost job costs a delay, never a record.
- A worker that stops beating (SIGKILL) has its jobs retried by the maintenance task.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector, SyncPsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status
from procrastinate.periodic import PeriodicDeferrer
from procrastinate.types import JSONDict
from sqlalchemy.engine import make_url

from ferry.engine.runner import Engine, next_fire
from ferry.scheme import Schedule, Scheme
from ferry.store import CollectCounts, Ledger

log = logging.getLogger("ferry.executor")

QUEUE = "ferry"
COLLECT, DISPATCH, SWEEP, REMEDY, COLLECT_IDS = (
    "ferry.collect",
    "ferry.dispatch",
    "ferry.sweep",
    "ferry.remedy",
    "ferry.collect_ids",
)
MAINTENANCE, ALERTS, USAGE = "ferry.maintenance", "ferry.alerts", "ferry.usage"
#: dispatch jobs one collected page or one sweep defers at most (each works one batch, then chains)
MAX_FANOUT = 16
#: a worker silent for this long is dead, and its jobs are retried
STALLED_AFTER_S = 30.0
#: the statuses a sweep counts as work (the dispatcher decides which are due)
BACKLOG = ("pending", "failed", "in_doubt", "finishing", "writing")

#: what other parts run periodically, by name (``alerts``, ``usage``): ``fn(ledger)``, sync or async.
#: The composition root (``ferry worker``) registers them; a task whose hook is absent does nothing.
Hook = Callable[[Ledger], Awaitable[Any] | Any]
HOOKS: dict[str, Hook] = {}


def conninfo(url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Runtime:
    """What a worker's tasks work with (passed to them as the ``ferry`` context)."""

    engine: Engine
    schemes: Mapping[str, Scheme]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stalled_after_s: float = STALLED_AFTER_S


def _runtime(context: JobContext) -> Runtime:
    rt = context.additional_context.get("ferry")
    if not isinstance(rt, Runtime):
        raise RuntimeError("a ferry task ran outside `ferry worker` (no runtime in its context)")
    return rt


def _scheme(rt: Runtime, scheme_id: str) -> Scheme | None:
    scheme = rt.schemes.get(scheme_id)
    if scheme is None:
        # a job for a scheme this worker does not have (removed, or another folder): not ours to fail
        log.warning("no scheme %r in this worker's folder: job skipped", scheme_id)
    return scheme


def _due(schedule: Schedule, timezone: str, timestamp: int | None, period_s: float) -> bool:
    """Whether a cron fires in the periodic tick ``(timestamp - period, timestamp]`` (in the scheme's
    timezone); an interval schedule, or a job deferred by hand, is always due."""
    if schedule.cron is None or timestamp is None:
        return True
    before = dt.datetime.fromtimestamp(timestamp - period_s, dt.UTC)
    return next_fire(schedule, before, timezone) <= dt.datetime.fromtimestamp(timestamp, dt.UTC)


def cron_for(schedule: Schedule) -> tuple[str, float]:
    """The procrastinate cron for a schedule and the period it ticks at. An interval is rounded down to
    one that divides the minute, hour or day (``7s`` ticks every 6 s); a cron ticks every minute and
    the task checks it in the scheme's timezone."""
    if schedule.interval is None:
        return "* * * * *", 60.0
    s = max(1, int(schedule.interval))

    def fit(n: int, whole: int) -> int:
        return max(d for d in range(1, whole + 1) if whole % d == 0 and d <= n)

    if s < 60:
        step = fit(s, 60)
        return f"* * * * * */{step}", float(step)
    if s < 3600:
        step = fit(s // 60, 60)
        return f"*/{step} * * * *", step * 60.0
    step = fit(min(s // 3600, 24), 24)
    return f"0 */{step} * * *", step * 3600.0


_WAITING = (
    "SELECT count(*) AS n FROM procrastinate_jobs"
    " WHERE task_name = %(task)s AND status = 'todo' AND args->>'scheme' = %(scheme)s"
)


def _dispatch_args(scheme: str, jobs: int) -> list[JSONDict]:
    return [{"scheme": scheme} for _ in range(jobs)]


def build_app(url: str) -> App:
    """A procrastinate App on the ledger's database with Ferry's tasks (no schedules yet)."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(url)))
    _register_tasks(app)
    return app


def _register_tasks(app: App) -> None:
    @app.task(name=COLLECT, queue=QUEUE, pass_context=True)
    async def collect(
        context: JobContext, scheme: str, timestamp: int | None = None, period: float = 0
    ) -> None:
        rt = _runtime(context)
        s = _scheme(rt, scheme)
        if s is None or not _due(s.source.schedule or Schedule(interval=300), s.timezone, timestamp, period):
            return
        await rt.engine.collect(s, trigger="schedule" if timestamp else "manual", stop=rt.stop)

    @app.task(name=REMEDY, queue=QUEUE, pass_context=True)
    async def remedy(
        context: JobContext, scheme: str, timestamp: int | None = None, period: float = 0
    ) -> None:
        rt = _runtime(context)
        s = _scheme(rt, scheme)
        crontab = s.source.omission_remedy.crontab if s and s.source.omission_remedy else None
        if s is None or (crontab and not _due(Schedule(cron=crontab), s.timezone, timestamp, period)):
            return
        await rt.engine.remedy(s, trigger="remedy")

    @app.task(name=COLLECT_IDS, queue=QUEUE, pass_context=True)
    async def collect_ids(context: JobContext, scheme: str, source_ids: list[str]) -> None:
        rt = _runtime(context)
        s = _scheme(rt, scheme)
        if s is not None:
            await rt.engine.collect_ids(s, source_ids)

    @app.task(name=DISPATCH, queue=QUEUE, pass_context=True)
    async def dispatch(context: JobContext, scheme: str) -> None:
        rt = _runtime(context)
        s = _scheme(rt, scheme)
        if s is None or rt.stop.is_set():
            return
        report = await rt.engine.dispatch(s, trigger="queue", stop=rt.stop, max_batches=1)
        if report.claimed >= s.target.batch_size and not rt.stop.is_set():
            # a full batch: more may wait; the next job goes to whichever worker is free
            await app.configure_task(DISPATCH, queue=QUEUE).defer_async(scheme=scheme)

    @app.task(name=SWEEP, queue=QUEUE, pass_context=True)
    async def sweep(
        context: JobContext, scheme: str, timestamp: int | None = None, period: float = 0
    ) -> None:
        """Defer dispatch jobs for the scheme's backlog: retries come due, in-doubt records wait for
        their probe (which runs in the batch that claims them), a dead worker's leases run out."""
        rt = _runtime(context)
        s = _scheme(rt, scheme)
        if s is None or not _due(s.target.schedule or Schedule(interval=60), s.timezone, timestamp, period):
            return
        counts = await rt.engine.store.counts(s.id)
        backlog = sum(counts.get(status, 0) for status in BACKLOG)
        # jobs still waiting count: sweeps must not pile up empty jobs behind a slow target
        waiting = await context.app.connector.execute_query_one_async(
            query=_WAITING, task=DISPATCH, scheme=s.id
        )
        jobs = min(MAX_FANOUT, math.ceil(backlog / s.target.batch_size)) - int(waiting["n"])
        if jobs > 0:
            await app.configure_task(DISPATCH, queue=QUEUE).batch_defer_async(*_dispatch_args(s.id, jobs))

    @app.task(name=MAINTENANCE, queue=QUEUE, pass_context=True)
    async def maintenance(context: JobContext, timestamp: int | None = None) -> None:
        """Retry the jobs of workers that stopped beating, and end the ledger runs of dead processes."""
        rt = _runtime(context)
        manager = context.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=rt.stalled_after_s):
            try:
                await manager.retry_job(job)
                log.warning("job %s (%s) of a worker that stopped beating: retried", job.id, job.task_name)
            except UniqueViolation:
                # a job with its queueing lock waits already and does the same work: end this one
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                log.warning(
                    "job %s (%s) of a dead worker: superseded by a waiting one", job.id, job.task_name
                )
        await rt.engine.reap()

    async def run_hook(context: JobContext, name: str) -> None:
        hook = HOOKS.get(name)
        if hook is None:
            return
        result = hook(_runtime(context).engine.ledger)
        if asyncio.iscoroutine(result):
            await result

    @app.task(name=ALERTS, queue=QUEUE, pass_context=True)
    async def alerts(context: JobContext, timestamp: int | None = None) -> None:
        await run_hook(context, "alerts")

    @app.task(name=USAGE, queue=QUEUE, pass_context=True)
    async def usage(context: JobContext, timestamp: int | None = None) -> None:
        await run_hook(context, "usage")


def register_schedules(app: App, schemes: Iterable[Scheme]) -> None:
    """Register every scheme's timers, and the cluster's own, as periodic tasks. Every process that
    offers them must register the same ones: the database deduplicates by (task, periodic id, time)."""
    registry = app.periodic_registry

    def add(task: str, periodic_id: str, cron: str, lock: str | None = None, **kwargs: Any) -> None:
        options: dict[str, Any] = {"task_kwargs": kwargs, "queueing_lock": f"periodic:{periodic_id}"}
        if lock is not None:
            options["lock"] = lock
        registry.register_task(
            task=app.tasks[task],
            cron=cron,
            periodic_id=periodic_id,
            configure_kwargs=options,  # type: ignore[arg-type]
        )

    for s in schemes:
        cron, period = cron_for(s.source.schedule or Schedule(interval=300))
        add(COLLECT, f"collect:{s.id}", cron, lock=f"collect:{s.id}", scheme=s.id, period=period)
        cron, period = cron_for(s.target.schedule or Schedule(interval=60))
        add(SWEEP, f"sweep:{s.id}", cron, scheme=s.id, period=period)
        remedy = s.source.omission_remedy
        if remedy is not None and remedy.crontab:
            add(REMEDY, f"remedy:{s.id}", "* * * * *", lock=f"collect:{s.id}", scheme=s.id, period=60.0)
    add(MAINTENANCE, "maintenance", "* * * * * */5")
    add(ALERTS, "alerts", "* * * * *")
    add(USAGE, "usage", "*/5 * * * *")


def enqueue_dispatch_on_collect(url: str, ledger: Ledger, schemes: Mapping[str, Scheme]) -> None:
    """Make the ledger defer the dispatch of each stored page inside the page's own transaction."""
    # the page is stored on a sync driver connection (in the ledger's thread): defer through a sync
    # connector, never opened, that only runs the INSERT on the connection it is handed
    sync_app = App(connector=SyncPsycopgConnector(conninfo=conninfo(url)))

    def on_page_stored(scheme: str, counts: CollectCounts, connection: Any) -> None:
        found = schemes.get(scheme)
        stored = counts.new + counts.changed
        if found is None or stored <= 0:
            return
        # the source hands over a few records at a time: jobs already waiting will claim these too, so
        # only what they cannot cover is deferred (else every chunk would become a batch of its own);
        # a waiting job picked before this commits leaves them to the next job or the periodic sweep
        with connection.cursor() as cursor:
            cursor.execute(_WAITING, {"task": DISPATCH, "scheme": scheme})
            row = cursor.fetchone()
        waiting = int(row[0]) if row else 0
        jobs = min(MAX_FANOUT, math.ceil(stored / found.target.batch_size)) - waiting
        if jobs > 0:
            sync_app.configure_task(DISPATCH, queue=QUEUE, connection=connection).batch_defer(
                *_dispatch_args(scheme, jobs)
            )

    ledger.on_page_stored = on_page_stored


_SCHEMA_LOCK = 0x0F_E5_5E_01  # an advisory lock id: workers starting together apply the schema once


async def apply_schema(app: App, url: str) -> None:
    """Apply procrastinate's schema if it is not there yet; idempotent and safe to race."""
    async with await psycopg.AsyncConnection.connect(conninfo(url), autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
            if found is None or found[0] is None:
                await conn.execute(app.schema_manager.get_schema())  # type: ignore[arg-type]
                log.info("applied the procrastinate schema")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


class QueueExecutor:
    """The :class:`~ferry.executor.base.Executor` that defers work to the workers."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def collect(self, scheme: Scheme, *, trigger: str = "manual") -> None:
        # one waiting already reads everything this one would
        with contextlib.suppress(AlreadyEnqueued):
            await self.app.configure_task(
                COLLECT, queue=QUEUE, lock=f"collect:{scheme.id}", queueing_lock=f"collect:{scheme.id}"
            ).defer_async(scheme=scheme.id)

    async def dispatch(self, scheme: Scheme, *, trigger: str = "manual") -> None:
        await self.app.configure_task(SWEEP, queue=QUEUE).defer_async(scheme=scheme.id)

    async def collect_ids(self, scheme: Scheme, source_ids: Iterable[str]) -> None:
        await self.app.configure_task(COLLECT_IDS, queue=QUEUE, lock=f"collect:{scheme.id}").defer_async(
            scheme=scheme.id, source_ids=list(source_ids)
        )

    async def serve(self, schemes: Iterable[Scheme], stop: asyncio.Event) -> None:
        await defer_schedules(self.app, list(schemes), stop)


async def defer_schedules(app: App, schemes: list[Scheme], stop: asyncio.Event) -> None:
    """Offer the schemes' periodic jobs until ``stop`` is set (what ``ferry serve --workers external``
    runs); the workers offer the same, and the database keeps one of each. ``app`` must be open."""
    register_schedules(app, schemes)
    deferrer = PeriodicDeferrer(registry=app.periodic_registry)
    task = asyncio.create_task(deferrer.worker(), name="ferry:periodic")
    try:
        await stop.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
