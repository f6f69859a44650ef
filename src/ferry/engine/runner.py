"""Running schemes: once (``ferry run``) or on their schedules until stopped (``ferry serve``).

Collect and dispatch are separate units of work that meet only in the ledger, so either can run
alone, on its own schedule, or in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ferry.connectors.base import Querier, Source, Target
from ferry.connectors.errors import ConnectorError
from ferry.engine.collect import Collector, CollectReport
from ferry.engine.dispatch import Dispatcher, DispatchReport
from ferry.engine.registry import BuildContext, ConnectionLike, build_querier, build_source, build_target
from ferry.engine.transform import Transform
from ferry.errors import ConfigError
from ferry.scheme import Schedule, Scheme
from ferry.store import Ledger

log = logging.getLogger("ferry.engine")


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _RunRecord:
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class RunSummary:
    scheme: str
    collect: CollectReport | None = None
    remedy: CollectReport | None = None
    dispatch: DispatchReport | None = None
    elapsed_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    #: why a step failed (its run is recorded as failed); the other steps still ran
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "errors": self.errors,
            "collect": self.collect.as_dict() if self.collect else None,
            "remedy": self.remedy.as_dict() if self.remedy else None,
            "dispatch": self.dispatch.as_dict() if self.dispatch else None,
            "elapsed_s": round(self.elapsed_s, 3),
            "statuses": self.statuses,
        }


@dataclass
class Progress:
    """Callbacks for a progress display; all optional."""

    on_page: Callable[[int], None] | None = None
    on_outcome: Callable[[str], None] | None = None


class Engine:
    """Builds connectors for schemes and runs their collect and dispatch passes against one ledger."""

    def __init__(
        self,
        ledger: Ledger,
        connections: Mapping[str, ConnectionLike],
        *,
        owner: str | None = None,
        lease_seconds: float = 300.0,
        reconcile: bool | None = None,
    ) -> None:
        self.ledger = ledger
        if reconcile is None:
            # for the chaos test's negative control only: never set this in production
            reconcile = os.environ.get("FERRY_UNSAFE_NO_RECONCILE") != "1"
        if not reconcile:
            log.warning("reconciliation is OFF: writes with an unknown outcome are resent blindly")
        self.reconcile = reconcile
        self.connections = connections
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self._open: dict[tuple[str, ...], Any] = {}

    def _connection(self, scheme: Scheme, side: str, name: str | None) -> ConnectionLike:
        if not name:
            raise ConfigError(f"scheme '{scheme.id}': {side}.connection is not set")
        conn = self.connections.get(name)
        if conn is None:
            known = ", ".join(sorted(self.connections)) or "none"
            raise ConfigError(
                f"scheme '{scheme.id}': {side}.connection '{name}' is not defined (defined: {known})"
            )
        return conn

    def transform(self, scheme: Scheme) -> Transform:
        return Transform(scheme, lookup=self.ledger)

    @contextlib.asynccontextmanager
    async def _recorded_run(self, scheme: Scheme, kind: str, trigger: str) -> AsyncIterator[_RunRecord]:
        """Record a run in the ledger around a pass and flush the API-call log after it."""
        run_id = await asyncio.to_thread(self.ledger.start_run, scheme.id, kind, trigger, owner=self.owner)
        record = _RunRecord()
        try:
            yield record
        except BaseException as e:
            status = "interrupted" if isinstance(e, asyncio.CancelledError | KeyboardInterrupt) else "failed"
            await asyncio.to_thread(
                self.ledger.finish_run, run_id, status=status, error=str(e) or type(e).__name__
            )
            raise
        finally:
            await asyncio.to_thread(self.ledger.flush)
        await asyncio.to_thread(self.ledger.finish_run, run_id, status="ok", counts=record.counts)

    # Connectors live as long as the engine, per event loop (their HTTP clients belong to one): a
    # Kingdee session, a DingTalk token and a rate limiter's state carry over from one pass to the next.

    def _cached(self, key: tuple[str, str], build: Callable[[], Any]) -> Any:
        loop_key = (*key, str(id(asyncio.get_running_loop())))
        found = self._open.get(loop_key)
        if found is None:
            found = self._open[loop_key] = build()
        return found

    def _source(self, scheme: Scheme) -> Source:
        conn = self._connection(scheme, "source", scheme.source.connection)
        source: Source = self._cached(
            ("source", scheme.id),
            lambda: build_source(conn, scheme.source, BuildContext(self.ledger, scheme.id, self.ledger)),
        )
        return source

    def _target(self, scheme: Scheme) -> Target:
        conn = self._connection(scheme, "target", scheme.target.connection)
        target: Target = self._cached(
            ("target", scheme.id),
            lambda: build_target(conn, scheme.target, BuildContext(self.ledger, scheme.id, self.ledger)),
        )
        return target

    async def aclose(self) -> None:
        """Close the connectors this event loop opened (the others belong to loops that are gone)."""
        loop_id = str(id(asyncio.get_running_loop()))
        for key in [k for k in self._open if k[-1] == loop_id]:
            await self._open.pop(key).aclose()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _collector(self, scheme: Scheme, source: Source, progress: Progress | None) -> Collector:
        return Collector(
            scheme,
            self.ledger,
            source,
            self.transform(scheme),
            on_page=progress.on_page if progress else None,
        )

    async def collect(
        self, scheme: Scheme, *, trigger: str = "manual", progress: Progress | None = None
    ) -> CollectReport:
        """One collect pass: every window since the watermark, then the due re-checks of watched records."""
        source = self._source(scheme)
        async with self._recorded_run(scheme, "collect", trigger) as run:
            collector = self._collector(scheme, source, progress)
            report = await collector.run(partitions=tuple(getattr(source, "partitions", ("",))))
            rechecked = await collector.recheck()
            report.records += rechecked.records
            report.pages += rechecked.pages
            report.counts += rechecked.counts
            run.counts = report.as_dict()
        return report

    async def remedy(
        self, scheme: Scheme, *, trigger: str = "remedy", progress: Progress | None = None
    ) -> CollectReport:
        """The omission remedy (漏单补救): re-read ``[now - omission_remedy.days, now)`` with the remedy's
        request fields, recorded as a ``collect`` run; no watermark moves. A scheme without an
        ``omission_remedy`` block gets the defaults (two days, the source's own request)."""
        source = self._source(scheme)
        async with self._recorded_run(scheme, "collect", trigger) as run:
            collector = self._collector(scheme, source, progress)
            report = await collector.remedy(partitions=tuple(getattr(source, "partitions", ("",))))
            run.counts = report.as_dict()
        return report

    async def collect_ids(
        self, scheme: Scheme, source_ids: Sequence[str], *, trigger: str = "event"
    ) -> CollectReport:
        """Fetch named records now (a change event named them) and store them; polling stays the safety net."""
        source = self._source(scheme)
        async with self._recorded_run(scheme, "collect", trigger) as run:
            report = await Collector(scheme, self.ledger, source, self.transform(scheme)).fetch(source_ids)
            run.counts = report.as_dict()
        return report

    async def dispatch(
        self,
        scheme: Scheme,
        *,
        trigger: str = "manual",
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> DispatchReport:
        """Dispatch until nothing is due (or ``stop`` is set between batches)."""
        target = self._target(scheme)
        queriers = self._queriers(scheme)
        async with self._recorded_run(scheme, "dispatch", trigger) as run:
            dispatcher = Dispatcher(
                scheme,
                self.ledger,
                target,
                self.transform(scheme),
                owner=self.owner,
                lease_seconds=self.lease_seconds,
                on_outcome=progress.on_outcome if progress else None,
                queriers=queriers,
                reconcile=self.reconcile,
            )
            report = await dispatcher.run(stop=stop)
            run.counts = report.as_dict()
        return report

    def _queriers(self, scheme: Scheme) -> dict[str, Querier]:
        """One lookup connection per ``enrich`` step (steps on the same connection share it)."""
        built: dict[str, Querier] = {}
        out: dict[str, Querier] = {}
        for step in scheme.enrich:
            conn = self._connection(
                scheme, f"enrich.{step.name}.connection", step.connection or scheme.target.connection
            )
            if conn.name not in built:
                built[conn.name] = self._cached(
                    ("querier", conn.name),
                    lambda conn=conn: build_querier(conn, BuildContext(self.ledger, scheme.id, self.ledger)),  # type: ignore[misc]
                )
            out[step.name] = built[conn.name]
        return out

    async def run(
        self,
        scheme: Scheme,
        *,
        collect: bool = True,
        dispatch: bool = True,
        remedy: bool = False,
        trigger: str = "manual",
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> RunSummary:
        """Collect, then (``remedy``) the omission-remedy pass, then dispatch; each step optional."""
        started = time.perf_counter()
        summary = RunSummary(scheme.id)
        # collect and dispatch meet only in the ledger: a source that fails this time does not hold
        # back the records already collected, and a failing target does not stop collecting
        if collect:
            try:
                summary.collect = await self.collect(scheme, trigger=trigger, progress=progress)
            except ConnectorError as e:
                summary.errors.append(f"collect: {e}")
        if remedy:
            try:
                summary.remedy = await self.remedy(scheme, progress=progress)
            except ConnectorError as e:
                summary.errors.append(f"remedy: {e}")
        if dispatch:
            try:
                summary.dispatch = await self.dispatch(scheme, trigger=trigger, progress=progress, stop=stop)
            except ConnectorError as e:
                summary.errors.append(f"dispatch: {e}")
        summary.elapsed_s = time.perf_counter() - started
        summary.statuses = await asyncio.to_thread(self.ledger.counts, scheme.id)
        return summary

    async def serve(self, schemes: Sequence[Scheme], stop: asyncio.Event) -> None:
        """Run every scheme's collect and dispatch (and omission remedy, when it has a ``crontab``) on
        their schedules until ``stop`` is set. Collect and dispatch start at once; the remedy, a wide
        re-scan, waits for its first cron time.

        A pass that is running when ``stop`` is set finishes its current batch; claimed records of
        unfinished work are released by the dispatcher, and leases cover a hard kill.
        """
        jobs: list[tuple[Scheme, str, Schedule]] = []
        for s in schemes:
            jobs.append((s, "collect", s.source.schedule or Schedule(interval=300)))
            jobs.append((s, "dispatch", s.target.schedule or Schedule(interval=60)))
            remedy = s.source.omission_remedy
            if remedy is not None and remedy.crontab:
                jobs.append((s, "remedy", Schedule(cron=remedy.crontab)))
        start = dt.datetime.now(dt.UTC)
        due = {
            (s.id, kind): next_fire(sched, start, s.timezone) if kind == "remedy" else start
            for s, kind, sched in jobs
        }
        running: dict[tuple[str, str], asyncio.Task[Any]] = {}
        while not stop.is_set():
            now = dt.datetime.now(dt.UTC)
            for s, kind, sched in jobs:
                key = (s.id, kind)
                task = running.get(key)
                if task is not None and not task.done():
                    continue
                if task is not None and task.done():
                    running.pop(key)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("%s of %s failed: %s", kind, s.id, task.exception())
                if now >= due[key]:
                    coro = (
                        self.collect(s, trigger="schedule")
                        if kind == "collect"
                        else self.remedy(s, trigger="remedy")
                        if kind == "remedy"
                        else self.dispatch(s, trigger="schedule", stop=stop)
                    )
                    running[key] = asyncio.create_task(coro, name=f"{kind}:{s.id}")
                    due[key] = next_fire(sched, now, s.timezone)
            wake = min(due.values())
            timeout = max(0.05, min(1.0, (wake - dt.datetime.now(dt.UTC)).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=timeout)
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)


def next_fire(schedule: Schedule, after: dt.datetime, timezone: str = "UTC") -> dt.datetime:
    """When ``schedule`` fires next after ``after`` (aware); a cron is read as wall-clock time in
    ``timezone`` (the scheme's), so ``0 2 * * *`` means 02:00 where the business is. Returned in UTC."""
    if schedule.interval is not None:
        return after + dt.timedelta(seconds=schedule.interval)
    from croniter import croniter

    assert schedule.cron is not None  # a Schedule has exactly one of cron and interval
    local = after.astimezone(ZoneInfo(timezone))
    nxt: dt.datetime = croniter(schedule.cron, local).get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)
