"""What the DingTalk approval source holds, and its reads of single instances.

:class:`ApprovalReads` is the first layer of :class:`~ferry.connectors.dingtalk.source.ApprovalSource`: its
client, params, ledger view and clock; one call retried on transient answers; how many detail calls to keep
in flight; and which IDs the ledger says are worth a call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from ferry.connectors.dingtalk.client import DingTalkClient
from ferry.connectors.dingtalk.flow import MAX_IN_FLIGHT, in_flight_target
from ferry.connectors.dingtalk.spec import ApprovalParams
from ferry.connectors.errors import GiveUp, Reauthenticate, RetryLater
from ferry.ratelimit.bucket import retry_delay

log = logging.getLogger("ferry.connectors.dingtalk")

T = TypeVar("T")
Clock = Callable[[], dt.datetime]

#: answers that mean the instance is gone (v1.0; the legacy host wraps it as 88 + sub_code)
NOT_FOUND_CODES = ("processInstanceNotExist", "aflowProcessInstNotExist")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LedgerView(Protocol):
    """What the source asks of the ledger: one record's status and next look."""

    def get(self, scheme: str, source_id: str) -> Any: ...


class ApprovalReads:
    """The approval source's state and its reads of single instances, paced and retried."""

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
        #: how long a fetched detail waits until its chunk is stored (a running average), which keeps
        #: its slot taken as much as the round trip does
        self._hold_s = 0.0
        #: calls made by this source, by kind; for logs and measurements
        self.detail_calls = 0
        self.list_calls = 0
        #: the most detail calls in flight at once in the last pass, for measurements
        self.peak_in_flight = 0

    def __repr__(self) -> str:
        return f"ApprovalSource(process_code={list(self.params.process_code)!r}, client={self.client!r})"

    @property
    def partitions(self) -> tuple[str, ...]:
        return self.params.process_code

    async def aclose(self) -> None:
        await self.client.aclose()

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

    def in_flight(self) -> int:
        """Detail calls to keep in flight now (Little's law over the client's pace, see ``flow``)."""
        cap = self.params.concurrency or MAX_IN_FLIGHT
        return in_flight_target(self.client.detail_pace(), self._hold_s, cap)

    async def _detail(self, instance_id: str) -> dict[str, Any] | None:
        """One instance, or None if it is gone; the caller holds a slot of an :class:`InFlight`."""
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

    async def _final_filter(self, ids: Sequence[str]) -> list[str]:
        ledger = self.ledger
        if ledger is None or not ids:
            return list(ids)

        def open_(row: Any) -> bool:
            return row is None or row.status == "watching"

        def check() -> list[str]:
            return [iid for iid in ids if open_(ledger.get(self.scheme_id, iid))]

        return await asyncio.to_thread(check)


__all__ = ["NOT_FOUND_CODES", "ApprovalReads", "Clock", "LedgerView", "utcnow"]
