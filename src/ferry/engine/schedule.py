"""Schedules: when each scheme's collect, dispatch and omission remedy run next, and the loop that runs
them until told to stop (``ferry serve`` in-process).

Each finished pass is told to ``on_pass`` (``ferry serve`` prints one line per pass); a pass that fails is
logged and its schedule goes on: one scheme's trouble never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ferry.engine.collect import CollectReport
from ferry.engine.dispatch import DispatchReport
from ferry.scheme import Schedule, Scheme

if TYPE_CHECKING:
    from ferry.engine.runner import Engine

log = logging.getLogger("ferry.engine")

#: when a scheme names no schedule: collect every 5 minutes, dispatch every minute
DEFAULT_COLLECT_S = 300
DEFAULT_DISPATCH_S = 60
#: a running run says it is alive this often ...
HEARTBEAT_S = 20.0
#: ... and one silent for this long belongs to a process that died
RUN_STALE_S = 120.0


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


@dataclass(frozen=True)
class PassDone:
    """One finished pass, for a log line: what it did and how long it took."""

    scheme: str
    kind: str
    trigger: str
    elapsed_s: float
    report: CollectReport | DispatchReport | None = None
    #: why it failed, when it did
    error: str | None = None

    @property
    def figures(self) -> dict[str, int]:
        """collected / written / failed / quarantined (the ones a person watches)."""
        if isinstance(self.report, CollectReport):
            return {"collected": self.report.records}
        if isinstance(self.report, DispatchReport):
            by = self.report.by_status
            return {k: by.get(k, 0) for k in ("written", "failed", "quarantined")}
        return {}

    def line(self) -> str:
        figures = " ".join(f"{k}={v}" for k, v in self.figures.items())
        outcome = f"error={self.error}" if self.error else figures
        return f"pass scheme={self.scheme} kind={self.kind} trigger={self.trigger} {outcome} {self.elapsed_s:.2f}s"


OnPass = Callable[[PassDone], None]


def jobs_of(schemes: Sequence[Scheme]) -> list[tuple[Scheme, str, Schedule]]:
    """Each scheme's collect and dispatch, and its omission remedy when that has a ``crontab``."""
    jobs: list[tuple[Scheme, str, Schedule]] = []
    for s in schemes:
        jobs.append((s, "collect", s.source.schedule or Schedule(interval=DEFAULT_COLLECT_S)))
        jobs.append((s, "dispatch", s.target.schedule or Schedule(interval=DEFAULT_DISPATCH_S)))
        remedy = s.source.omission_remedy
        if remedy is not None and remedy.crontab:
            jobs.append((s, "remedy", Schedule(cron=remedy.crontab)))
    return jobs


async def _timed(
    engine: Engine, scheme: Scheme, kind: str, stop: asyncio.Event, on_pass: OnPass | None
) -> Any:
    started = time.perf_counter()
    trigger = "remedy" if kind == "remedy" else "schedule"
    try:
        if kind == "collect":
            report: CollectReport | DispatchReport = await engine.collect(scheme, trigger=trigger, stop=stop)
        elif kind == "remedy":
            report = await engine.remedy(scheme, trigger=trigger)
        else:
            report = await engine.dispatch(scheme, trigger=trigger, stop=stop)
    except Exception as e:
        if on_pass is not None:
            on_pass(PassDone(scheme.id, kind, trigger, time.perf_counter() - started, error=str(e)[:300]))
        raise
    if on_pass is not None:
        on_pass(PassDone(scheme.id, kind, trigger, time.perf_counter() - started, report))
    return report


def _stored_new(report: Any) -> bool:
    return isinstance(report, CollectReport) and report.counts.new + report.counts.changed > 0


async def serve_schedules(
    engine: Engine, schemes: Sequence[Scheme], stop: asyncio.Event, *, on_pass: OnPass | None = None
) -> None:
    """Run every scheme's passes on their schedules until ``stop`` is set. Collect and dispatch start at
    once; the remedy, a wide re-scan, waits for its first cron time. A collect that stored new records
    brings its scheme's dispatch forward to now.

    A pass that is running when ``stop`` is set finishes its current batch; claimed records of
    unfinished work are released by the dispatcher, and leases cover a hard kill.
    """
    jobs = jobs_of(schemes)
    start = dt.datetime.now(dt.UTC)
    due = {
        (s.id, kind): next_fire(sched, start, s.timezone) if kind == "remedy" else start
        for s, kind, sched in jobs
    }
    running: dict[tuple[str, str], asyncio.Task[Any]] = {}
    next_reap = time.monotonic()
    while not stop.is_set():
        now = dt.datetime.now(dt.UTC)
        if time.monotonic() >= next_reap:
            next_reap = time.monotonic() + RUN_STALE_S / 2
            with contextlib.suppress(Exception):
                await engine.reap()
        for s, kind, sched in jobs:
            key = (s.id, kind)
            task = running.get(key)
            if task is not None and not task.done():
                continue
            if task is not None and task.done():
                running.pop(key)
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s of %s failed: %s", kind, s.id, task.exception())
                elif kind != "dispatch" and _stored_new(task.result()):
                    # what a collect stored is dispatched now, not at the dispatch schedule's next tick
                    due[(s.id, "dispatch")] = now
            if now >= due[key]:
                running[key] = asyncio.create_task(
                    _timed(engine, s, kind, stop, on_pass), name=f"{kind}:{s.id}"
                )
                due[key] = next_fire(sched, now, s.timezone)
        wake = min(due.values()) if due else now + dt.timedelta(seconds=1)
        timeout = max(0.05, min(1.0, (wake - dt.datetime.now(dt.UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=timeout)
    if running:
        await asyncio.gather(*running.values(), return_exceptions=True)


__all__ = ["HEARTBEAT_S", "RUN_STALE_S", "OnPass", "PassDone", "jobs_of", "next_fire", "serve_schedules"]
