"""Collect: page through the source inside time windows and store every record in the ledger.

Contract notes:
- Every record lands in the ledger (keyed by its id, ``idCheck``) before anything else happens to it.
- A watermark moves only over a window that was read to its last page; windows overlap by the
  scheme's ``lookback``, which ``idCheck`` makes harmless.
- Nothing holds more than one page in memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.base import Source, Window
from ferry.engine.transform import Transform
from ferry.scheme import Scheme
from ferry.store import CollectCounts, Ledger

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
        ledger: Ledger,
        source: Source,
        transform: Transform,
        *,
        clock: Clock = utcnow,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        self.scheme = scheme
        self.ledger = ledger
        self.source = source
        self.transform = transform
        self.clock = clock
        self.on_page = on_page

    async def run(
        self, *, partitions: tuple[str, ...] = ("",), windows: list[Window] | None = None
    ) -> CollectReport:
        report = CollectReport()
        now = self.clock()
        for partition in partitions:
            if windows is None:
                watermark = await asyncio.to_thread(self.ledger.get_watermark, self.scheme.id, partition)
                planned = plan_windows(self.scheme, watermark, now, partition=partition)
            else:
                planned = [w for w in windows if w.partition == partition]
            for window in planned:
                await self._window(window, report)
                if windows is None:
                    # the whole window was read: only now may the watermark pass it
                    await asyncio.to_thread(self.ledger.set_watermark, self.scheme.id, window.end, partition)
                report.windows += 1
        return report

    async def _window(self, window: Window, report: CollectReport) -> None:
        variables = self.transform.window_variables(window)

        def render(extra: Mapping[str, Any]) -> dict[str, Any]:
            return self.transform.source_request({**variables, **extra})

        async for page in self.source.pages(window, render):
            items = self.transform.collect_items(page.records, partition=window.partition)
            if items:
                counts = await asyncio.to_thread(
                    self.ledger.collect, self.scheme.id, items, on_change=self.scheme.source.on_change
                )
                report.counts += counts
            report.pages += 1
            report.records += len(page.records)
            if self.on_page is not None:
                self.on_page(len(page.records))
