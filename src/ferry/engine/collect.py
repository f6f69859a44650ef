"""Collect: page through the source inside time windows and store every record in the ledger.

Contract notes:
- Every record lands in the ledger (keyed by its id, ``idCheck``) before anything else happens to it.
- A watermark moves only over a window that was read to its last page; windows overlap by the
  scheme's ``lookback``, which ``idCheck`` makes harmless.
- The omission remedy (:meth:`Collector.remedy`) re-reads ``[now - days, now)`` and never moves a
  watermark: it only adds what the regular passes missed.
- Nothing holds more than one page in memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.base import Page, RefetchingSource, Source, Window
from ferry.engine.transform import Transform
from ferry.scheme import OmissionRemedy, Scheme
from ferry.store import AsyncLedger, CollectCounts, Collected, Ledger, facade

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class CollectReport:
    windows: int = 0
    pages: int = 0
    records: int = 0
    counts: CollectCounts = field(default_factory=CollectCounts)

    def as_dict(self) -> dict[str, int]:
        return {
            "windows": self.windows,
            "pages": self.pages,
            "records": self.records,
            **self.counts.as_dict(),
        }


def plan_windows(
    scheme: Scheme, watermark: dt.datetime | None, now: dt.datetime, *, partition: str = ""
) -> list[Window]:
    """The windows one collect run reads: from the watermark (less the lookback) to now, split so no
    window is longer than the source allows."""
    src = scheme.source
    start = (
        watermark - dt.timedelta(seconds=src.lookback)
        if watermark
        else now - dt.timedelta(days=src.initial_days)
    )
    return split_windows(scheme, start, now, partition=partition)


def plan_remedy_windows(scheme: Scheme, now: dt.datetime, *, partition: str = "") -> list[Window]:
    """The windows of an omission-remedy pass: ``[now - days, now)``, split like any other."""
    remedy = scheme.source.omission_remedy or OmissionRemedy()
    return split_windows(scheme, now - dt.timedelta(days=remedy.days), now, partition=partition)


def split_windows(
    scheme: Scheme, start: dt.datetime, now: dt.datetime, *, partition: str = ""
) -> list[Window]:
    """``[start, now)`` in windows no longer than the source's ``max_window_days``."""
    src = scheme.source
    if start >= now:
        return []
    step = dt.timedelta(days=src.max_window_days) if src.max_window_days else None
    windows = []
    cursor = start
    while cursor < now:
        end = min(now, cursor + step) if step else now
        windows.append(Window(cursor, end, partition))
        cursor = end
    return windows


class Collector:
    """Runs one collect pass of a scheme: plan windows, read each to the end, store, move watermarks."""

    def __init__(
        self,
        scheme: Scheme,
        ledger: Ledger | AsyncLedger,
        source: Source,
        transform: Transform,
        *,
        clock: Clock = utcnow,
        on_page: Callable[[int], None] | None = None,
        stop: asyncio.Event | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> None:
        self.scheme = scheme
        #: set when the pass should end early (Ctrl-C, SIGTERM): the page in hand is stored, the
        #: window it belongs to stays unfinished, so its watermark does not move
        self.stop = stop
        self.ledger = ledger
        self.store = facade(ledger)
        self.source = source
        self.transform = transform
        self.clock = clock
        self.on_page = on_page
        #: told each window's record count once, when the source knows it (for a progress bar's total)
        self.on_total = on_total

    async def run(
        self, *, partitions: tuple[str, ...] = ("",), windows: list[Window] | None = None
    ) -> CollectReport:
        report = CollectReport()
        now = self.clock()
        for partition in partitions:
            if windows is None:
                watermark = await self.store.get_watermark(self.scheme.id, partition)
                planned = plan_windows(self.scheme, watermark, now, partition=partition)
            else:
                planned = [w for w in windows if w.partition == partition]
            for window in planned:
                if not await self._window(window, report):
                    return report
                if windows is None:
                    # the whole window was read: only now may the watermark pass it
                    await self.store.set_watermark(self.scheme.id, window.end, partition)
                report.windows += 1
        return report

    async def remedy(self, *, partitions: tuple[str, ...] = ("",)) -> CollectReport:
        """The omission remedy (漏单补救): read ``[now - days, now)`` of every partition again with the
        remedy's request fields. No watermark moves; ``idCheck`` leaves stored ids as they are, so
        only records the regular passes missed come out ``new``."""
        report = CollectReport()
        now = self.clock()
        for partition in partitions:
            for window in plan_remedy_windows(self.scheme, now, partition=partition):
                if not await self._window(window, report, remedy=True, now=now):
                    return report
                report.windows += 1
        return report

    async def _window(
        self,
        window: Window,
        report: CollectReport,
        *,
        remedy: bool = False,
        now: dt.datetime | None = None,
    ) -> bool:
        """Read one window to its end (True), or until told to stop (False: the window is unfinished)."""
        variables = self.transform.window_variables(window)

        def render(extra: Mapping[str, Any]) -> dict[str, Any]:
            return self.transform.source_request({**variables, **extra}, remedy=remedy, now=now)

        if self._stopping():
            return False
        told = False
        pages = self.source.pages(window, render)
        try:
            async for page in pages:
                if not told and page.total is not None and self.on_total is not None:
                    self.on_total(page.total)
                    told = True
                await self._store(page, window.partition, report)
                if self._stopping():
                    return False
        finally:
            # a source that works ahead (DingTalk keeps detail calls in flight) stops now, not when
            # the generator is collected: no call is spent on a window this pass will not finish
            close = getattr(pages, "aclose", None)
            if close is not None:
                await close()
        return True

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def _store(self, page: Page, partition: str, report: CollectReport) -> list[Collected]:
        on_change = self.scheme.source.on_change

        def work(ledger: Ledger) -> tuple[list[Collected], CollectCounts | None]:
            items = self.transform.collect_items(page.records, partition=partition, states=page.states)
            return items, (ledger.collect(self.scheme.id, items, on_change=on_change) if items else None)

        # off the event loop (a page of hostile values must not stall the other schemes of a serve),
        # read and stored in one hop to the ledger's threads
        items, counts = await self.store.call(work)
        if counts is not None:
            report.counts += counts
        report.pages += 1
        report.records += len(page.records)
        if self.on_page is not None:
            self.on_page(len(page.records))
        return items

    async def fetch(self, source_ids: Sequence[str], report: CollectReport | None = None) -> CollectReport:
        """Fetch named records again (a change event, or a re-check) and store what came back."""
        report = report or CollectReport()
        if not source_ids or not isinstance(self.source, RefetchingSource):
            return report
        page = await self.source.fetch(list(source_ids))
        items = await self._store(page, "", report)
        # a record that is still not final comes back unchanged, so collect leaves it alone:
        # move its next look-up here
        for item in items:
            if item.status == "watching" and item.watch_next_at is not None:
                row = await self.store.get(self.scheme.id, item.source_id)
                if row is not None and row.status == "watching":
                    await self.store.reschedule_watch(row.id, item.watch_next_at)
        return report

    async def recheck(self, *, limit: int = 100) -> CollectReport:
        """Ask the source again about ``watching`` records whose time has come."""
        report = CollectReport()
        if not isinstance(self.source, RefetchingSource):
            return report
        while not self._stopping():
            rows = await self.store.due_watch(self.scheme.id, now=self.clock(), limit=limit)
            if not rows:
                return report
            before = report.records
            await self.fetch([r.source_id for r in rows], report)
            # whatever the source did not return or did not reschedule must not be asked again in this pass
            for r in rows:
                row = await self.store.get_by_id(r.id)
                if (
                    row is not None
                    and row.status == "watching"
                    and (row.watch_next_at is None or row.watch_next_at <= self.clock())
                ):
                    await self.store.reschedule_watch(r.id, self.clock() + dt.timedelta(minutes=10))
            if len(rows) < limit or report.records == before:
                return report
        return report
