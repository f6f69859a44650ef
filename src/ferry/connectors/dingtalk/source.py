"""The approval source: DingTalk approval instances of some templates as Ferry records.

How it spends the customer's calls (a standard org has 5 000 metered calls a month):

- ``pages(window)`` lists instance IDs of the window's process code (one partition per code), in
  sub-windows of at most 120 days that never start before the 365-day horizon, 20 IDs per call,
  cursor until there is none. It then fetches details **only** for IDs the ledger does not hold yet,
  or holds as ``watching`` and due for a look (``watch_next_at`` has come): an instance already
  pending, written, skipped... costs no further call. Details are fetched concurrently and paced by
  the client's rate limiter; as many are kept in flight as the limit and the observed latency need
  (:mod:`ferry.connectors.dingtalk.flow`), at most ``concurrency``. They are handed over in chunks of
  whatever has arrived, stored as they come: a worker killed mid-window loses only the details in
  flight, not pages of them.
- ``fetch(ids)`` (re-checks of ``watching`` records, change events) fetches the named instances, again
  leaving out those the ledger already holds as final.
- With ``events: true`` (HTTP push or Stream delivers ``bpms_instance_change``), a newly listed ID is
  stored as a ``watching`` stub (``{"process_instance_id", "status": null, "_stub": true}``) without a
  detail call: its finish event fetches it. Stubs and running instances are looked at again only after
  ``event_grace_hours`` (24 h), the safety net for a lost event. That brings a steady day close to one
  detail call per finished instance.

State rules (scheme params ``statuses``, ``result``, ``max_age_days``):

| instance | record state |
|---|---|
| status in ``statuses`` (COMPLETED: and result = ``result``) | ``pending`` |
| COMPLETED + refuse | ``skipped``: "approval refused" |
| TERMINATED / CANCELED | ``skipped``: "approval revoked" / "approval cancelled" |
| RUNNING or NEW, younger than ``max_age_days`` | ``watching``, looks 5 min, 15 min, 1 h, 4 h, then 12 h apart (by age), until create + max age |
| RUNNING or NEW, older | ``skipped``: "still running after N days" |

A record holds the decoded form fields by label at the top level, the instance fields, the form by
bizAlias (``_by_alias``) and by component id (``_by_id``), and the instance as DingTalk sent it
(``_raw``, without the answer envelope whose request id changes on every call). Everything is plain
JSON: money and numbers are decimal strings ("12800.50"), dates ISO strings.

:class:`ApprovalSource` is assembled from layers: :mod:`.reads` (what it holds, retried single reads, which
IDs the ledger says are worth a call) and :mod:`.listing` (sub-windows and ID listing), whose names are
re-exported here; records and their states are made in :mod:`.records`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.connectors.base import Page, RecordState, RenderRequest, Window
from ferry.connectors.dingtalk.flow import InFlight, handover
from ferry.connectors.dingtalk.listing import (
    HORIZON,
    HORIZON_MARGIN,
    MAX_IDS_PER_LOOP,
    MAX_SPAN,
    ApprovalListing,
)
from ferry.connectors.dingtalk.reads import NOT_FOUND_CODES, Clock, LedgerView, utcnow
from ferry.connectors.dingtalk.records import (
    INSTANCE_FIELDS,
    WATCH_LATE,
    WATCH_MIN_GAP,
    WATCH_STEPS,
    next_look_age,
    plain,
    state_of,
    stub,
    to_record,
    watch_interval,
)
from ferry.connectors.dingtalk.spec import ApprovalParams

#: listed pages of IDs kept ready ahead of the detail calls, so a slow list call never idles them
PAGES_IN_FLIGHT = 3
#: a running average of how long a fetched detail waits to be stored takes this much of each new sample
HOLD_WEIGHT = 0.1


@dataclass(slots=True)
class _Arrival:
    """A record ready to be handed over: fetched (or a stub), holding a slot until it is stored."""

    record: dict[str, Any]
    state: RecordState
    cursor: str
    arrived: float


class ApprovalSource(ApprovalListing):
    """A :class:`~ferry.connectors.base.RefetchingSource` of DingTalk approval instances."""

    # ------------------------------------------------------------------ states
    def state_of(self, inst: Mapping[str, Any], now: dt.datetime | None = None) -> RecordState:
        """The record state one instance stands for (the table in the module docstring)."""
        return state_of(self.params, inst, now or self.clock())

    def stub(self, instance_id: str, now: dt.datetime | None = None) -> tuple[dict[str, Any], RecordState]:
        """A listed instance not fetched yet (events on): its id only, watched until its event comes."""
        return stub(self.params, instance_id, now or self.clock())

    # ------------------------------------------------------------------ pages
    async def _page_of(self, ids: Sequence[str], cursor: str | None = None) -> Page:
        flight = InFlight(self.in_flight)

        async def one(iid: str) -> dict[str, Any] | None:
            await flight.acquire()
            try:
                return await self._detail(iid)
            finally:
                flight.release()

        instances = await asyncio.gather(*(one(i) for i in ids))
        now = self.clock()
        records: list[dict[str, Any]] = []
        states: list[RecordState | None] = []
        for inst in instances:
            if inst is None:
                continue
            records.append(to_record(inst))
            states.append(self.state_of(inst, now))
        return Page(records, next_cursor=cursor, states=states)

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        """Every instance of the window's process code (all codes for partition ``""``) created in it.

        Listing, detail calls and the engine's storing overlap: the list calls run up to
        ``PAGES_IN_FLIGHT`` pages of IDs ahead, and detail calls are kept in flight (:meth:`in_flight`)
        so the detail API's rate limit, not latency, sets the pace. Each page handed over is a chunk of
        the details that have arrived (at most ``page_size``), so they are stored as they come; a
        detail's slot is given back only once its chunk is stored, which bounds what a killed worker
        loses to the calls in flight. Records come out of list order; the generator ends only after
        every listed ID was handed over and stored, and the engine moves the watermark only then.

        ``render`` is not used: the list API takes no scheme-defined request fields.
        """
        codes = (window.partition,) if window.partition else self.params.process_code
        flight = InFlight(self.in_flight)
        listed: asyncio.Queue[tuple[list[str], list[str], str] | Exception | None] = asyncio.Queue(
            maxsize=PAGES_IN_FLIGHT
        )
        # each entry holds a slot of ``flight`` until its chunk is stored: the queue never outgrows it;
        # errors go in too, and one ``None`` closes it
        arrived: asyncio.Queue[_Arrival | Exception | None] = asyncio.Queue()
        failed = asyncio.Event()

        async def list_ids() -> None:
            try:
                for code in codes:
                    seen: set[str] = set()
                    for start, end in self.sub_windows(window.start, window.end):
                        async for ids in self._list(code, start, end, seen):
                            new, due = await self._wanted(ids)
                            await listed.put((new, due, f"{code}@{end.isoformat()}"))
                await listed.put(None)
            except Exception as exc:  # handed on, and re-raised by the consumer
                await listed.put(exc)

        async def fetch_one(iid: str, cursor: str) -> None:
            try:
                inst = await self._detail(iid)
            except Exception as exc:
                flight.release()
                failed.set()
                arrived.put_nowait(exc)
                return
            if inst is None:
                flight.release()
                return
            arrived.put_nowait(_Arrival(to_record(inst), self.state_of(inst), cursor, time.monotonic()))

        async def produce() -> None:
            tasks: set[asyncio.Task[None]] = set()
            lister = asyncio.create_task(list_ids())
            try:
                try:
                    while not failed.is_set() and (item := await listed.get()) is not None:
                        if isinstance(item, Exception):
                            raise item
                        new, due, cursor = item
                        if self.params.events:
                            now = self.clock()
                            for iid in new:
                                await flight.acquire()
                                record, state = self.stub(iid, now)
                                arrived.put_nowait(_Arrival(record, state, cursor, time.monotonic()))
                            new = []
                        for iid in [*new, *due]:
                            await flight.acquire()
                            if failed.is_set():  # the window will not be finished: no new call for it
                                flight.release()
                                break
                            task = asyncio.create_task(fetch_one(iid, cursor))
                            tasks.add(task)
                            task.add_done_callback(tasks.discard)
                except Exception as exc:
                    arrived.put_nowait(exc)
                # the calls in flight are spent already: what they bring is still stored
                await asyncio.gather(*tasks)
                arrived.put_nowait(None)
            finally:
                for task in (*tasks, lister):
                    task.cancel()

        producer = asyncio.create_task(produce())
        try:
            async with contextlib.aclosing(handover(arrived, self.params.page_size)) as chunks:
                async for chunk in chunks:
                    try:
                        yield Page(
                            [a.record for a in chunk],
                            next_cursor=chunk[-1].cursor,
                            states=[a.state for a in chunk],
                        )
                    finally:
                        self._stored(chunk, flight)
        finally:
            self.peak_in_flight = flight.peak
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    def _stored(self, chunk: Sequence[_Arrival], flight: InFlight) -> None:
        """A chunk is stored (or the pass ends): its slots go to the next calls."""
        now = time.monotonic()
        for a in chunk:
            self._hold_s += HOLD_WEIGHT * (now - a.arrived - self._hold_s)
            flight.release()

    async def fetch(self, source_ids: Sequence[str], *, final_too: bool = False) -> Page:
        """The named instances now, except (unless ``final_too``) those the ledger already holds as
        final: no call for them."""
        unique = list(dict.fromkeys(str(i) for i in source_ids))
        wanted = unique if final_too else await self._final_filter(unique)
        return await self._page_of(wanted)


__all__ = [
    "HORIZON",
    "HORIZON_MARGIN",
    "INSTANCE_FIELDS",
    "MAX_IDS_PER_LOOP",
    "MAX_SPAN",
    "NOT_FOUND_CODES",
    "WATCH_LATE",
    "WATCH_MIN_GAP",
    "WATCH_STEPS",
    "ApprovalParams",
    "ApprovalSource",
    "Clock",
    "LedgerView",
    "next_look_age",
    "plain",
    "to_record",
    "utcnow",
    "watch_interval",
]
