"""Running schemes: once (``ferry run``) or on their schedules until stopped (``ferry serve``).

The :class:`Engine` builds connectors and runs passes; the pre-flight checks live in
:mod:`ferry.engine.preflight` and the schedules in :mod:`ferry.engine.schedule`.

Collect and dispatch are separate units of work that meet only in the ledger, so either can run
alone, on its own schedule, or in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.base import Check, Querier, RefetchingSource, Source, Target
from ferry.connectors.errors import ConnectorError
from ferry.engine.collect import Collector, CollectReport
from ferry.engine.dispatch import Dispatcher, DispatchReport
from ferry.engine.preflight import PREFLIGHT_TTL_S, PreflightFailed, preflight, resolve_connection
from ferry.engine.registry import BuildContext, ConnectionLike, build_querier, build_source, build_target
from ferry.engine.reports import Progress, RunSummary
from ferry.engine.schedule import HEARTBEAT_S, RUN_STALE_S, OnPass, next_fire, serve_schedules
from ferry.engine.transform import Transform
from ferry.observe.tracing import span
from ferry.scheme import Scheme
from ferry.store import Ledger, facade

log = logging.getLogger("ferry.engine")

# re-exported: these lived here before preflight.py and schedule.py were split out
__all__ = [
    "HEARTBEAT_S",
    "PREFLIGHT_TTL_S",
    "RUN_STALE_S",
    "Engine",
    "PreflightFailed",
    "Progress",
    "RunSummary",
    "default_owner",
    "next_fire",
]


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _RunRecord:
    counts: dict[str, int] = field(default_factory=dict)
    #: how the run ends when nothing was raised: ``ok``, or ``interrupted`` when it was told to stop
    status: str = "ok"


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
        self.checked: dict[tuple[str, str], tuple[float, list[Check]]] = {}
        #: every check of the latest :meth:`check`, passing or not (for ``ferry check``)
        self.last_checks: list[Check] = []

    def _connection(self, scheme: Scheme, side: str, name: str | None) -> ConnectionLike:
        return resolve_connection(self.connections, scheme, side, name)

    async def check(
        self, scheme: Scheme, *, source: bool = True, target: bool = True, force: bool = False
    ) -> list[Check]:
        """The pre-flight checks of a pass: every connection it uses exists and fits, its connectors
        build (settings and params are valid), each side authenticates, the DingTalk process codes and
        the Kingdee forms exist, and DingTalk quota is left. Raises :class:`PreflightFailed` before any
        work when a blocking check fails; passing results are reused for ``PREFLIGHT_TTL_S``."""
        return await preflight(self, scheme, source=source, target=target, force=force)

    def build(self, scheme: Scheme, *, source: bool = True, target: bool = True) -> None:
        """Build (and keep) the connectors a pass uses: their settings and params are checked now."""
        if source:
            self._source(scheme)
        if target:
            self._target(scheme)
            self._queriers(scheme)

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

    async def reread(self, scheme: Scheme, rows: Sequence[Any], *, by: str | None = None) -> list[str]:
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
                    by=by,
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

    async def serve(
        self, schemes: Sequence[Scheme], stop: asyncio.Event, *, on_pass: OnPass | None = None
    ) -> None:
        """Run every scheme's passes on their schedules until ``stop`` is set
        (:func:`ferry.engine.schedule.serve_schedules`)."""
        await serve_schedules(self, schemes, stop, on_pass=on_pass)
