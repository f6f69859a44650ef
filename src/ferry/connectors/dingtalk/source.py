"""The approval source: DingTalk approval instances of some templates as Ferry records.

How it spends the customer's calls (a standard org has 5 000 metered calls a month):

- ``pages(window)`` lists instance IDs of the window's process code (one partition per code), in
  sub-windows of at most 120 days that never start before the 365-day horizon, 20 IDs per call,
  cursor until there is none. It then fetches details **only** for IDs the ledger does not hold yet,
  or holds as ``watching`` and due for a look (``watch_next_at`` has come): an instance already
  pending, written, skipped... costs no further call. Details are fetched concurrently, bounded by
  ``concurrency`` and paced by the client's rate limiter.
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
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from ferry.connectors.base import Page, RecordState, RenderRequest, Window
from ferry.connectors.dingtalk.client import DingTalkClient
from ferry.connectors.dingtalk.forms import flatten_form
from ferry.connectors.dingtalk.spec import ApprovalParams
from ferry.connectors.errors import GiveUp, Reauthenticate, RetryLater
from ferry.ratelimit.bucket import retry_delay

log = logging.getLogger("ferry.connectors.dingtalk")

T = TypeVar("T")
Clock = Callable[[], dt.datetime]

#: DingTalk refuses list windows longer than this ...
MAX_SPAN = dt.timedelta(days=120)
#: ... and starts further back than this (OA 高级版 allows 5 years; not assumed)
HORIZON = dt.timedelta(days=365)
#: keep clear of the horizon: DingTalk checks it against its own, later, clock
HORIZON_MARGIN = dt.timedelta(minutes=5)
#: the list API stops after this many IDs per loop; a sub-window that reaches it is split in two
MAX_IDS_PER_LOOP = 10_000
#: answers that mean the instance is gone (v1.0; the legacy host wraps it as 88 + sub_code)
NOT_FOUND_CODES = ("processInstanceNotExist", "aflowProcessInstNotExist")

#: gaps between looks at a running instance: 5 min, 15 min, 1 h, 4 h, then every 12 h. Derived from
#: the instance's age (looks fall at ages 5 min, 20 min, 1 h 20, 5 h 20, 17 h 20, ...), so the schedule
#: needs no counter and an instance approved after a day costs five looks, not one every few minutes
WATCH_STEPS: tuple[dt.timedelta, ...] = (
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
    dt.timedelta(hours=4),
)
WATCH_LATE = dt.timedelta(hours=12)
#: never look again sooner than this
WATCH_MIN_GAP = dt.timedelta(minutes=1)

#: pages whose details are being fetched while the engine stores earlier ones
PAGES_IN_FLIGHT = 3

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

_FINAL_REASONS = {"TERMINATED": "approval revoked", "CANCELED": "approval cancelled"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LedgerView(Protocol):
    """What the source asks of the ledger: one record's status and next look."""

    def get(self, scheme: str, source_id: str) -> Any: ...


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def plain(value: Any) -> Any:
    """``value`` as plain JSON: Decimal to its exact string, date/datetime to ISO text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _raw_instance(inst: Mapping[str, Any]) -> Any:
    """The instance object DingTalk sent, without the envelope (request ids differ on every call)."""
    raw = inst.get("raw") or {}
    if inst.get("api_style") == "oapi":
        return raw.get("process_instance")
    return raw.get("result")


INSTANCE_FIELDS = (
    "process_instance_id",
    "business_id",
    "title",
    "status",
    "result",
    "originator_userid",
    "originator_dept_id",
    "originator_dept_name",
    "create_time",
    "finish_time",
    "biz_action",
)


def to_record(inst: Mapping[str, Any]) -> dict[str, Any]:
    """The Ferry record of one normalised instance (see the module docstring for its shape)."""
    form = flatten_form(inst.get("form_component_values") or [])
    record: dict[str, Any] = plain(form.by_name)
    # instance fields win over a form label of the same name: id and number come from them
    for name in INSTANCE_FIELDS:
        record[name] = inst.get(name)
    record["_by_alias"] = plain(form.by_alias)
    record["_by_id"] = plain(form.by_id)
    record["_raw"] = _raw_instance(inst)
    return record


def next_look_age(age: dt.timedelta) -> dt.timedelta:
    """The age at which a running instance of age ``age`` is looked at next (see ``WATCH_STEPS``)."""
    at = dt.timedelta(0)
    for step in WATCH_STEPS:
        at += step
        if at > age:
            return at
    late = (age - at) // WATCH_LATE + 1
    return at + late * WATCH_LATE


def watch_interval(age: dt.timedelta) -> dt.timedelta:
    """How long to wait before looking at a running instance of this age again."""
    return max(WATCH_MIN_GAP, next_look_age(age) - age)


class ApprovalSource:
    """A :class:`~ferry.connectors.base.RefetchingSource` of DingTalk approval instances."""

    def __init__(
        self,
        client: DingTalkClient,
        params: ApprovalParams,
        *,
        ledger: LedgerView | None = None,
        scheme_id: str = "",
        clock: Clock = utcnow,
    ) -> None:
        self.client = client
        self.params = params
        self.ledger = ledger
        self.scheme_id = scheme_id
        self.clock = clock
        self._slots = asyncio.Semaphore(params.concurrency)
        #: calls made by this source, by kind; for logs and measurements
        self.detail_calls = 0
        self.list_calls = 0

    def __repr__(self) -> str:
        return f"ApprovalSource(process_code={list(self.params.process_code)!r}, client={self.client!r})"

    @property
    def partitions(self) -> tuple[str, ...]:
        return self.params.process_code

    async def aclose(self) -> None:
        await self.client.aclose()

    # ------------------------------------------------------------------ states
    def state_of(self, inst: Mapping[str, Any], now: dt.datetime | None = None) -> RecordState:
        """The record state one instance stands for (the table in the module docstring)."""
        p = self.params
        now = now or self.clock()
        status = str(inst.get("status") or "")
        result = str(inst.get("result") or "")
        if status in p.statuses and (status != "COMPLETED" or p.result is None or result in p.result):
            return RecordState("pending")
        if status == "COMPLETED":
            reason = "approval refused" if result == "refuse" else f"approval result is {result or 'empty'}"
            return RecordState("skipped", reason)
        if status in _FINAL_REASONS:
            return RecordState("skipped", _FINAL_REASONS[status])
        if status not in ("RUNNING", "NEW"):
            return RecordState("skipped", f"approval status {status or 'unknown'} is not taken")
        created = _parse_time(inst.get("create_time")) or now
        age = max(dt.timedelta(0), now - created)
        until = created + dt.timedelta(days=p.max_age_days)
        if now >= until:
            return RecordState("skipped", f"still running after {age.days} days")
        interval = watch_interval(age)
        if p.events:
            interval = max(interval, dt.timedelta(hours=p.event_grace_hours))
        next_at = min(now + interval, until)
        return RecordState(
            "watching",
            f"approval still {status.lower()}; watched until {until.astimezone(BEIJING):%Y-%m-%d}",
            watch_next_at=next_at,
            watch_until=until,
        )

    def stub(self, instance_id: str, now: dt.datetime | None = None) -> tuple[dict[str, Any], RecordState]:
        """A listed instance not fetched yet (events on): its id only, watched until its event comes."""
        now = now or self.clock()
        until = now + dt.timedelta(days=self.params.max_age_days)
        next_at = min(now + dt.timedelta(hours=self.params.event_grace_hours), until)
        record = {"process_instance_id": instance_id, "status": None, "_stub": True}
        return record, RecordState(
            "watching", "listed; waiting for its approval event", watch_next_at=next_at, watch_until=until
        )

    # ------------------------------------------------------------------ calls
    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """One call, tried again on transient and throttling answers (the limiter already slowed down),
        and on a token that went stale again after the client's own refresh-and-retry: these are
        reads, so asking again is always safe, and the next try fetches a fresh token."""
        attempt = 1
        while True:
            try:
                return await call()
            except (RetryLater, Reauthenticate) as exc:
                if attempt >= self.params.attempts:
                    raise
                delay = retry_delay(exc.retry_after, attempt, base=self.params.retry_base_s)
                log.info("DingTalk %s: %s; retry %d in %.1fs", exc.api, exc.action, attempt, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def _detail(self, instance_id: str) -> dict[str, Any] | None:
        async with self._slots:
            try:
                self.detail_calls += 1
                return await self._retrying(lambda: self.client.get_instance(instance_id))
            except GiveUp as exc:
                if exc.code is not None and exc.code.endswith(NOT_FOUND_CODES):
                    log.warning("DingTalk instance %s no longer exists", instance_id)
                    return None
                raise

    async def _wanted(self, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """``(new, due)``: IDs unknown to the ledger, and IDs it watches whose look is due.

        Anything else (pending, written, skipped, ..., or watching and not due) costs no call.
        """
        ledger = self.ledger
        if ledger is None or not ids:
            return list(ids), []
        now = self.clock()

        def check() -> tuple[list[str], list[str]]:
            new, due = [], []
            for iid in ids:
                row = ledger.get(self.scheme_id, iid)
                if row is None:
                    new.append(iid)
                elif row.status == "watching" and (row.watch_next_at is None or row.watch_next_at <= now):
                    due.append(iid)
            return new, due

        return await asyncio.to_thread(check)

    async def _page_of(self, ids: Sequence[str], cursor: str | None = None) -> Page:
        instances = await asyncio.gather(*(self._detail(i) for i in ids))
        now = self.clock()
        records: list[dict[str, Any]] = []
        states: list[RecordState | None] = []
        for inst in instances:
            if inst is None:
                continue
            records.append(to_record(inst))
            states.append(self.state_of(inst, now))
        return Page(records, next_cursor=cursor, states=states)

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

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        """Every instance of the window's process code (all codes for partition ``""``) created in it.

        Listing, detail fetching and the engine's storing of pages overlap: the list call for the
        next IDs and the details of up to ``PAGES_IN_FLIGHT`` pages are on their way while a page is
        stored, so the detail API's rate limit, not latency, sets the pace. Pages may come out of
        list order; the engine moves the watermark only after the whole window.

        ``render`` is not used: the list API takes no scheme-defined request fields.
        """
        codes = (window.partition,) if window.partition else self.params.process_code
        out: asyncio.Queue[Page | Exception | None] = asyncio.Queue(maxsize=PAGES_IN_FLIGHT)
        fetching = asyncio.Semaphore(PAGES_IN_FLIGHT)

        async def fetch_page(ids: list[str], cursor: str) -> None:
            try:
                new, due = await self._wanted(ids)
                if self.params.events:
                    page = await self._page_of(due, cursor=cursor)
                    now = self.clock()
                    for iid in new:
                        record, state = self.stub(iid, now)
                        page.records.append(record)
                        assert page.states is not None
                        page.states.append(state)
                else:
                    page = await self._page_of([*new, *due], cursor=cursor)
                if page.records:
                    await out.put(page)
            except Exception as exc:  # handed to the consumer, which re-raises it
                await out.put(exc)
            finally:
                fetching.release()

        async def produce() -> None:
            tasks: set[asyncio.Task[None]] = set()
            try:
                for code in codes:
                    seen: set[str] = set()
                    for start, end in self.sub_windows(window.start, window.end):
                        async for ids in self._list(code, start, end, seen):
                            await fetching.acquire()
                            task = asyncio.create_task(fetch_page(ids, f"{code}@{end.isoformat()}"))
                            tasks.add(task)
                            task.add_done_callback(tasks.discard)
                await asyncio.gather(*tasks)
                await out.put(None)
            except asyncio.CancelledError:
                for task in tasks:
                    task.cancel()
                raise
            except Exception as exc:
                for task in tasks:
                    task.cancel()
                await out.put(exc)

        producer = asyncio.create_task(produce())
        try:
            while True:
                item = await out.get()
                if item is None:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def fetch(self, source_ids: Sequence[str], *, final_too: bool = False) -> Page:
        """The named instances now, except (unless ``final_too``) those the ledger already holds as
        final: no call for them."""
        unique = list(dict.fromkeys(str(i) for i in source_ids))
        wanted = unique if final_too else await self._final_filter(unique)
        return await self._page_of(wanted)

    async def _final_filter(self, ids: Sequence[str]) -> list[str]:
        ledger = self.ledger
        if ledger is None or not ids:
            return list(ids)

        def open_(row: Any) -> bool:
            return row is None or row.status == "watching"

        def check() -> list[str]:
            return [iid for iid in ids if open_(ledger.get(self.scheme_id, iid))]

        return await asyncio.to_thread(check)


__all__ = [
    "ApprovalParams",
    "ApprovalSource",
    "LedgerView",
    "next_look_age",
    "plain",
    "to_record",
    "watch_interval",
]
