"""Running schemes: once (``ferry run``) or on their schedules until stopped (``ferry serve``).

The :class:`Engine` builds connectors and runs passes; the pre-flight checks live in
:mod:`ferry.engine.preflight` and the schedules in :mod:`ferry.engine.schedule`. It is assembled from
layers: :mod:`ferry.engine.wiring` (what it holds, the connectors it builds and keeps) and
:mod:`ferry.engine.runs` (each pass recorded as a run, heartbeats, reaping); the passes stay here.

Collect and dispatch are separate units of work that meet only in the ledger, so either can run
alone, on its own schedule, or in another process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from ferry.connectors.base import Check, RefetchingSource, Source
from ferry.connectors.errors import ConnectorError
from ferry.engine.collect import Collector, CollectReport
from ferry.engine.dispatch import Dispatcher, DispatchReport
from ferry.engine.preflight import PREFLIGHT_TTL_S, PreflightFailed, preflight
from ferry.engine.reports import Progress, RunSummary
from ferry.engine.runs import RecordedRuns
from ferry.engine.schedule import HEARTBEAT_S, RUN_STALE_S, OnPass, next_fire, serve_schedules
from ferry.engine.transform import Transform
from ferry.engine.wiring import default_owner
from ferry.scheme import Scheme

# re-exported: these lived here before preflight.py, schedule.py and wiring.py were split out
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


class Engine(RecordedRuns):
    """Builds connectors for schemes and runs their collect and dispatch passes against one ledger."""

    async def check(
        self, scheme: Scheme, *, source: bool = True, target: bool = True, force: bool = False
    ) -> list[Check]:
        """The pre-flight checks of a pass: every connection it uses exists and fits, its connectors
        build (settings and params are valid), each side authenticates, the DingTalk process codes and
        the Kingdee forms exist, and DingTalk quota is left. Raises :class:`PreflightFailed` before any
        work when a blocking check fails; passing results are reused for ``PREFLIGHT_TTL_S``."""
        return await preflight(self, scheme, source=source, target=target, force=force)

    def transform(self, scheme: Scheme) -> Transform:
        return Transform(scheme, lookup=self.ledger)

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
