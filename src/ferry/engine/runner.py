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

from ferry.connectors.base import Check, ConnectionUse, Querier, RefetchingSource, Source, Target
from ferry.connectors.check import check_scheme
from ferry.connectors.errors import ConnectorError
from ferry.connectors.settings import ConnectionSettings
from ferry.connectors.spec import get_spec
from ferry.engine.collect import Collector, CollectReport
from ferry.engine.dispatch import Dispatcher, DispatchReport
from ferry.engine.registry import BuildContext, ConnectionLike, build_querier, build_source, build_target
from ferry.engine.transform import Transform
from ferry.errors import ConfigError, PreflightError
from ferry.scheme import Schedule, Scheme, SchemeError
from ferry.store import Ledger, facade

log = logging.getLogger("ferry.engine")


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _RunRecord:
    counts: dict[str, int] = field(default_factory=dict)
    #: how the run ends when nothing was raised: ``ok``, or ``interrupted`` when it was told to stop
    status: str = "ok"


#: how long a passing pre-flight check is trusted before it is made again
PREFLIGHT_TTL_S = 600.0
#: a running run says it is alive this often ...
HEARTBEAT_S = 20.0
#: ... and one silent for this long belongs to a process that died
RUN_STALE_S = 120.0


class PreflightFailed(PreflightError):
    """A scheme's pre-flight checks failed: nothing was sent, no metered call was made."""

    def __init__(self, scheme_id: str, failed: Sequence[Check]) -> None:
        self.checks = list(failed)
        super().__init__(
            f"scheme {scheme_id!r}: {len(failed)} check(s) failed before any work; nothing was sent",
            hint="run `ferry check SCHEME` for every check",
        )

    def lines(self) -> list[str]:
        return [self.message, *(f"{c.connection}: {c.what}: {c.detail}" for c in self.checks)]


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
    #: a window's record count, when the source knows it (adds to a progress bar's total)
    on_total: Callable[[int], None] | None = None


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
        #: the ledger's async facade: every ledger call of the engine hops to its bounded pool
        self.store = facade(ledger)
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
        #: (scheme, connection) -> (monotonic time, checks) of the last passing pre-flight
        self._checked: dict[tuple[str, str], tuple[float, list[Check]]] = {}
        #: every check of the latest :meth:`check`, passing or not (for ``ferry check``)
        self.last_checks: list[Check] = []

    def _connection(self, scheme: Scheme, side: str, name: str | None) -> ConnectionLike:
        if not name:
            raise ConfigError(f"scheme '{scheme.id}': {side}.connection is not set")
        conn = self.connections.get(name)
        if conn is None:
            from ferry.connectors.spec import suggest

            known = ", ".join(sorted(self.connections)) or "none"
            raise ConfigError(
                f"scheme '{scheme.id}': {side}.connection '{name}' is not defined"
                f"{suggest(name, self.connections)} (defined: {known})",
                hint="add it to connections.yaml (or the file named by --connections / FERRY_CONNECTIONS)",
            )
        capability = {"source": "source", "target": "target"}.get(side, "lookup")
        spec = get_spec(conn.type, connection=conn.name)
        if capability not in spec.capabilities:
            raise ConfigError(
                f"scheme '{scheme.id}': {side}.connection '{name}' is a {conn.type} connection, "
                f"which cannot be a {capability} ({spec.summary})"
            )
        return conn

    def _uses(
        self, scheme: Scheme, *, source: bool, target: bool
    ) -> dict[str, tuple[ConnectionLike, ConnectionUse]]:
        """Each connection the pass will use, with how (raises ConfigError for a missing or wrong one)."""
        found: dict[str, tuple[ConnectionLike, dict[str, Any]]] = {}

        def add(conn: ConnectionLike, **how: Any) -> None:
            _, so_far = found.setdefault(conn.name, (conn, {"lookups": []}))
            lookups = how.pop("lookups", [])
            so_far["lookups"].extend(lookups)
            so_far.update(how)

        if source:
            add(self._connection(scheme, "source", scheme.source.connection), source=scheme.source)
        if target:
            add(self._connection(scheme, "target", scheme.target.connection), target=scheme.target)
            for step in scheme.enrich:
                name = step.connection or scheme.target.connection
                add(self._connection(scheme, f"enrich.{step.name}.connection", name), lookups=[step.query])
        return {
            name: (
                conn,
                ConnectionUse(scheme.id, how.get("source"), how.get("target"), tuple(how["lookups"])),
            )
            for name, (conn, how) in found.items()
        }

    async def check(
        self, scheme: Scheme, *, source: bool = True, target: bool = True, force: bool = False
    ) -> list[Check]:
        """The pre-flight checks of a pass: every connection it uses exists and fits, its connectors
        build (settings and params are valid), each side authenticates, the DingTalk process codes and
        the Kingdee forms exist, and DingTalk quota is left. Raises :class:`PreflightFailed` before any
        work when a blocking check fails; passing results are reused for ``PREFLIGHT_TTL_S``."""
        # the same located problems `ferry validate` reports, before anything is built or called
        settings = {k: v for k, v in self.connections.items() if isinstance(v, ConnectionSettings)}
        known = settings if len(settings) == len(self.connections) else None
        problems = [p for p in check_scheme(scheme, known) if p.is_error]
        if problems:
            raise SchemeError(problems)
        uses = self._uses(scheme, source=source, target=target)
        # building validates settings and params now, before any call (and keeps the connectors)
        if source:
            self._source(scheme)
        if target:
            self._target(scheme)
            self._queriers(scheme)
        results: list[Check] = []
        for name, (conn, use) in uses.items():
            spec = get_spec(conn.type, connection=conn.name)
            run_check = getattr(spec.module(), "preflight", None)
            if "preflight" not in spec.capabilities or run_check is None:
                results.append(Check(name, "settings", True, f"{conn.type} connection"))
                continue
            key = (scheme.id, name)
            cached = self._checked.get(key)
            if cached is not None and not force and time.monotonic() - cached[0] < PREFLIGHT_TTL_S:
                results.extend(cached[1])
                continue
            checks: list[Check] = await run_check(
                conn, use, BuildContext(self.ledger, scheme.id, self.ledger)
            )
            if all(c.ok or not c.blocking for c in checks):
                self._checked[key] = (time.monotonic(), checks)
            else:
                self._checked.pop(key, None)
            results.extend(checks)
        self.last_checks = results
        failed = [c for c in results if not c.ok and c.blocking]
        if failed:
            raise PreflightFailed(scheme.id, failed)
        return results

    def transform(self, scheme: Scheme) -> Transform:
        return Transform(scheme, lookup=self.ledger)

    @contextlib.asynccontextmanager
    async def _recorded_run(self, scheme: Scheme, kind: str, trigger: str) -> AsyncIterator[_RunRecord]:
        """Record a run in the ledger around a pass, with a heartbeat while it runs (a run whose process
        died stops beating and is reaped as ``interrupted``), and flush the API-call log after it."""
        run_id = await self.store.start_run(scheme.id, kind, trigger, owner=self.owner)
        record = _RunRecord()
        beat = asyncio.create_task(self._heartbeat(run_id), name=f"heartbeat:{run_id}")
        try:
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

    def _collector(
        self, scheme: Scheme, source: Source, progress: Progress | None, stop: asyncio.Event | None = None
    ) -> Collector:
        return Collector(
            scheme,
            self.ledger,
            source,
            self.transform(scheme),
            on_page=progress.on_page if progress else None,
            stop=stop,
            on_total=progress.on_total if progress else None,
        )

    async def collect(
        self,
        scheme: Scheme,
        *,
        trigger: str = "manual",
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> CollectReport:
        """One collect pass: every window since the watermark, then the due re-checks of watched records.
        ``stop`` ends it early, after the page in hand (that window's watermark does not move)."""
        source = self._source(scheme)
        async with self._recorded_run(scheme, "collect", trigger) as run:
            collector = self._collector(scheme, source, progress, stop)
            report = await collector.run(partitions=tuple(getattr(source, "partitions", ("",))))
            rechecked = await collector.recheck()
            report.records += rechecked.records
            report.pages += rechecked.pages
            report.counts += rechecked.counts
            run.counts = report.as_dict()
            if stop is not None and stop.is_set():
                run.status = "interrupted"
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

    async def reread(self, scheme: Scheme, rows: Sequence[Any]) -> list[str]:
        """Read records again from the source and apply their fresh state: the safe replay of records
        skipped because of their state at the source. A record the source still refuses (a refused
        approval) stays skipped; one the source now wants written takes its fresh content and becomes
        pending. Returns one line per record saying what happened."""
        source = self._source(scheme)
        if not isinstance(source, RefetchingSource):
            return [f"left out {r.id}: this source cannot read single records again" for r in rows]
        page = await source.fetch([r.source_id for r in rows], final_too=True)
        transform = self.transform(scheme)
        items = await asyncio.to_thread(transform.collect_items, page.records, states=page.states)
        fresh_by_id = {item.source_id: item for item in items}
        lines: list[str] = []
        for row in rows:
            fresh = fresh_by_id.get(row.source_id)
            if fresh is None:
                lines.append(f"left out {row.id}: the source no longer has {row.source_id}")
                continue
            if fresh.status not in ("pending", "watching"):
                lines.append(f"left out {row.id}: still {fresh.status} at the source: {fresh.reason}")
                continue
            await self.store.collect(scheme.id, [fresh], on_change="rewrite")
            now = await self.store.get_by_id(row.id)
            if now is not None and now.status == "skipped":
                # same content as stored, so collect left it: the fresh state decides
                await self.store.set_status(
                    [row.id],
                    fresh.status,
                    f"replayed by hand: the source now says {fresh.status}",
                    only_from=["skipped"],
                    reset_attempts=True,
                )
            lines.append(f"replayed {row.id}: read again from the source, now {fresh.status}")
        return lines

    async def dispatch(
        self,
        scheme: Scheme,
        *,
        trigger: str = "manual",
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
        follow: asyncio.Future[Any] | None = None,
        wake: asyncio.Event | None = None,
        max_batches: int | None = None,
    ) -> DispatchReport:
        """Dispatch until nothing is due (or ``stop`` is set between batches, or ``max_batches`` were
        worked); with ``follow``, until that collect is done too (``wake`` says a page was stored)."""
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
            report = await dispatcher.run(stop=stop, follow=follow, wake=wake, max_batches=max_batches)
            run.counts = report.as_dict()
            if stop is not None and stop.is_set():
                run.status = "interrupted"
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
        preflight: bool = True,
    ) -> RunSummary:
        """The pre-flight checks, then collect (and, with ``remedy``, the omission-remedy pass) with
        dispatch side by side; each step optional. A failing check raises :class:`PreflightFailed`
        before any work."""
        started = time.perf_counter()
        summary = RunSummary(scheme.id)
        await self.reap()
        if preflight:
            await self.check(scheme, source=collect or remedy, target=dispatch)
        # collect and dispatch meet only in the ledger: a source that fails this time does not hold
        # back the records already collected, and a failing target does not stop collecting. Side by
        # side, dispatch writes what collect stores while collect reads on.
        wake = asyncio.Event()
        sources = self._collect_steps(scheme, summary, collect, remedy, trigger, progress, stop, wake)
        follow = asyncio.ensure_future(sources)
        if dispatch:
            try:
                summary.dispatch = await self.dispatch(
                    scheme, trigger=trigger, progress=progress, stop=stop, follow=follow, wake=wake
                )
            except ConnectorError as e:
                summary.errors.append(f"dispatch: {e}")
            except BaseException:
                follow.cancel()
                raise
        await follow
        summary.elapsed_s = time.perf_counter() - started
        summary.statuses = await self.store.counts(scheme.id)
        return summary

    async def _collect_steps(
        self,
        scheme: Scheme,
        summary: RunSummary,
        collect: bool,
        remedy: bool,
        trigger: str,
        progress: Progress | None,
        stop: asyncio.Event | None,
        wake: asyncio.Event,
    ) -> None:
        """The source side of :meth:`run`: collect, then the remedy; errors go to the summary."""

        def on_page(n: int) -> None:
            wake.set()
            if progress is not None and progress.on_page is not None:
                progress.on_page(n)

        pages = Progress(
            on_page=on_page,
            on_outcome=progress.on_outcome if progress else None,
            on_total=progress.on_total if progress else None,
        )
        if collect:
            try:
                summary.collect = await self.collect(scheme, trigger=trigger, progress=pages, stop=stop)
            except ConnectorError as e:
                summary.errors.append(f"collect: {e}")
        if remedy and not (stop is not None and stop.is_set()):
            try:
                summary.remedy = await self.remedy(scheme, progress=pages)
            except ConnectorError as e:
                summary.errors.append(f"remedy: {e}")

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
        next_reap = time.monotonic()
        while not stop.is_set():
            now = dt.datetime.now(dt.UTC)
            if time.monotonic() >= next_reap:
                next_reap = time.monotonic() + RUN_STALE_S / 2
                with contextlib.suppress(Exception):
                    await self.reap()
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
                        self.collect(s, trigger="schedule", stop=stop)
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
