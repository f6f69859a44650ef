"""Listing a window's approval instance IDs: clipped to DingTalk's horizon, cut into spans it accepts."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator

from ferry.connectors.dingtalk.reads import ApprovalReads

log = logging.getLogger("ferry.connectors.dingtalk")

#: DingTalk refuses list windows longer than this ...
MAX_SPAN = dt.timedelta(days=120)
#: ... and starts further back than this (OA 高级版 allows 5 years; not assumed)
HORIZON = dt.timedelta(days=365)
#: keep clear of the horizon: DingTalk checks it against its own, later, clock
HORIZON_MARGIN = dt.timedelta(minutes=5)
#: the list API stops after this many IDs per loop; a sub-window that reaches it is split in two
MAX_IDS_PER_LOOP = 10_000


class ApprovalListing(ApprovalReads):
    """The approval source's layer that lists instance IDs, sub-window by sub-window."""

    # ------------------------------------------------------------------ windows
    def sub_windows(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """``[start, end]`` clipped to the horizon and cut into spans DingTalk accepts."""
        now = self.clock()
        start = max(start, now - HORIZON + HORIZON_MARGIN)
        end = min(end, now)
        spans = []
        while start < end:
            stop = min(end, start + MAX_SPAN)
            spans.append((start, stop))
            start = stop
        return spans

    async def _list(
        self, code: str, start: dt.datetime, end: dt.datetime, seen: set[str]
    ) -> AsyncIterator[list[str]]:
        """Pages of new IDs created in ``[start, end]``; a span that hits the 10 000-ID cap is halved."""
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        cursor: int | None = 0
        listed = 0
        while cursor is not None:
            self.list_calls += 1
            call = functools.partial(
                self.client.list_instance_ids,
                code,
                start_ms,
                end_ms,
                cursor=cursor,
                size=self.params.page_size,
            )
            ids, cursor = await self._retrying(call)
            listed += len(ids)
            fresh = [i for i in ids if i not in seen]
            seen.update(fresh)
            if fresh:
                yield fresh
        if listed >= MAX_IDS_PER_LOOP and end - start > dt.timedelta(minutes=1):
            middle = start + (end - start) / 2
            log.warning("DingTalk %s: %d IDs in one span; listing its halves", code, listed)
            for a, b in ((start, middle), (middle, end)):
                async for page in self._list(code, a, b, seen):
                    yield page


__all__ = ["HORIZON", "HORIZON_MARGIN", "MAX_IDS_PER_LOOP", "MAX_SPAN", "ApprovalListing"]
