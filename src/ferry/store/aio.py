"""An async facade over the ledger: :class:`AsyncLedger` owns the hop to worker threads.

Every public method of :class:`ferry.store.Ledger` has an ``async`` twin here with the same signature.
Calls run on a bounded set of threads of the facade's own (``max_workers``, default 4; see
:mod:`.threads`), so a busy ledger never starves the event loop's default executor (DNS lookups, file
reads) and never runs more database work at once than that. ``record`` stays synchronous: it only
appends to the API-call buffer and never touches the database.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar

from ferry.store.aio_quality import QualityTwins
from ferry.store.findings import BatchFindings
from ferry.store.leases import FactsHook, LeaseRef
from ferry.store.ledger import Ledger
from ferry.store.models import (
    ApiCallLike,
    ApiUsage,
    Claimed,
    CollectCounts,
    Collected,
    EventRow,
    Outcome,
    RecordRow,
    RunRow,
)
from ferry.store.rollup import ROLLUP_MARGIN, CallRow, HourUsage
from ferry.store.threads import Threads

P = ParamSpec("P")
R = TypeVar("R")


class AsyncLedger(QualityTwins):
    """``await``-able :class:`Ledger` methods, each run on the facade's own bounded threads."""

    def __init__(self, ledger: Ledger, *, max_workers: int = 4) -> None:
        self.ledger = ledger
        self._threads = Threads(max_workers, "ferry-ledger")

    async def _run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._threads.call(functools.partial(fn, *args, **kwargs))

    async def call(self, fn: Callable[[Ledger], R], /) -> R:
        """``fn(ledger)`` on the facade's pool: several ledger calls, and the work between them, in one
        hop (dispatch claims a batch and checks it there)."""
        return await self._run(fn, self.ledger)

    def record(self, call: ApiCallLike) -> None:
        """Log one outbound API call (buffered; never blocks on the database)."""
        self.ledger.record(call)

    @property
    def dropped_calls(self) -> int:
        """API calls lost because the database could not be written while the buffer was full."""
        return self.ledger.dropped_calls

    async def close(self) -> None:
        """Close the ledger (on the pool), then stop the pool."""
        try:
            await self._run(self.ledger.close)
        finally:
            self._threads.shutdown()

    async def __aenter__(self) -> AsyncLedger:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def api_usage(
        self, *, since: dt.datetime | None = None, connection: str | None = None
    ) -> list[ApiUsage]:
        """Calls, errors, average and p95 latency and metered calls per (connection, api)."""
        return await self._run(self.ledger.api_usage, since=since, connection=connection)

    async def claim(
        self,
        scheme: str,
        *,
        owner: str,
        limit: int,
        lease_seconds: float,
        now: dt.datetime | None = None,
        facts: FactsHook | None = None,
    ) -> list[Claimed]:
        """Lease up to ``limit`` due records to ``owner`` (status ``writing``), lowest ids first."""
        return await self._run(
            self.ledger.claim,
            scheme,
            owner=owner,
            limit=limit,
            lease_seconds=lease_seconds,
            now=now,
            facts=facts,
        )

    async def collect(
        self,
        scheme: str,
        items: Sequence[Collected],
        *,
        on_change: Literal["ignore", "rewrite"] = "ignore",
        now: dt.datetime | None = None,
    ) -> CollectCounts:
        """Store one page of source records with ``idCheck`` semantics; one transaction."""
        return await self._run(self.ledger.collect, scheme, items, on_change=on_change, now=now)

    async def counts(self, scheme: str | None = None) -> dict[str, int]:
        """Number of records per status (statuses with no record are absent)."""
        return await self._run(self.ledger.counts, scheme)

    async def due_watch(
        self, scheme: str, *, now: dt.datetime | None = None, limit: int = 100
    ) -> list[RecordRow]:
        """``watching`` records whose ``watch_next_at`` has come (or is unset), earliest first."""
        return await self._run(self.ledger.due_watch, scheme, now=now, limit=limit)

    async def find(self, scheme_id: str, field: str, where: Mapping[str, Any]) -> Any:
        """``_findCollection``: ``field`` (dotted path ok) of the first record of ``scheme_id`` whose"""
        return await self._run(self.ledger.find, scheme_id, field, where)

    async def finish(
        self,
        owner: str,
        outcomes: Sequence[Outcome],
        *,
        now: dt.datetime | None = None,
        findings: BatchFindings | None = None,
    ) -> list[int]:
        """Store a batch's outcomes in one transaction; returns the ids NOT applied (lease lost)."""
        return await self._run(self.ledger.finish, owner, outcomes, now=now, findings=findings)

    async def finish_and_claim(
        self,
        owner: str,
        outcomes: Sequence[Outcome],
        scheme: str,
        *,
        limit: int,
        lease_seconds: float,
        now: dt.datetime | None = None,
        findings: BatchFindings | None = None,
        facts: FactsHook | None = None,
    ) -> tuple[list[int], list[Claimed]]:
        """Finish a batch and claim the next in one transaction: (ids NOT applied, records claimed)."""
        return await self._run(
            self.ledger.finish_and_claim,
            owner,
            outcomes,
            scheme,
            limit=limit,
            lease_seconds=lease_seconds,
            now=now,
            findings=findings,
            facts=facts,
        )

    async def finish_run(
        self, run_id: int, *, status: str, counts: Mapping[str, int] | None = None, error: str | None = None
    ) -> None:
        """Record the end of a run: ``ok``, ``failed`` or ``interrupted``, with its counts."""
        return await self._run(self.ledger.finish_run, run_id, status=status, counts=counts, error=error)

    async def flush(self) -> None:
        """Write buffered API calls now."""
        return await self._run(self.ledger.flush)

    async def get(self, scheme: str, source_id: str) -> RecordRow | None:
        """The record of ``source_id`` in ``scheme``, or None."""
        return await self._run(self.ledger.get, scheme, source_id)

    async def get_by_id(self, record_id: int) -> RecordRow | None:
        """The record with ledger id ``record_id``, or None."""
        return await self._run(self.ledger.get_by_id, record_id)

    async def get_watermark(self, scheme: str, partition: str = "") -> dt.datetime | None:
        """End of the last fully successful window of ``scheme``/``partition``, or None."""
        return await self._run(self.ledger.get_watermark, scheme, partition)

    async def heartbeat(
        self, owner: str, *, run_id: int | None = None, now: dt.datetime | None = None
    ) -> int:
        """Say ``owner``'s running runs (or only ``run_id``) are alive; returns how many were touched."""
        return await self._run(self.ledger.heartbeat, owner, run_id=run_id, now=now)

    async def history(self, record_id: int) -> list[EventRow]:
        """Every transition of one record, oldest first."""
        return await self._run(self.ledger.history, record_id)

    async def list_records(
        self,
        *,
        scheme: str | None = None,
        status: str | Sequence[str] | None = None,
        number: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RecordRow]:
        """Records matching the filters, newest (highest id) first; ``since``/``until`` bound when they"""
        return await self._run(
            self.ledger.list_records,
            scheme=scheme,
            status=status,
            number=number,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )

    async def list_runs(self, scheme: str | None = None, limit: int = 20) -> list[RunRow]:
        """The latest runs, newest first."""
        return await self._run(self.ledger.list_runs, scheme, limit)

    async def metered_this_month(
        self, connection: str, *, now: dt.datetime | None = None, tz: str = "Asia/Shanghai"
    ) -> int:
        """Metered calls of ``connection`` since the first of this month in ``tz`` (the quota's clock)."""
        return await self._run(self.ledger.metered_this_month, connection, now=now, tz=tz)

    async def migrate(self) -> None:
        """Create or upgrade the tables (Alembic, idempotent)."""
        return await self._run(self.ledger.migrate)

    async def prune_api_calls(
        self, *, older_than: dt.datetime | None = None, now: dt.datetime | None = None
    ) -> int:
        """Roll up, then delete raw calls older than ``older_than`` (default: the retention period), never"""
        return await self._run(self.ledger.prune_api_calls, older_than=older_than, now=now)

    # ---- the lasting API usage (:mod:`.rollup`) and monitoring readings (:mod:`.gauges`)
    async def rollup_api_calls(
        self, *, now: dt.datetime | None = None, margin: dt.timedelta = ROLLUP_MARGIN
    ) -> int:
        """Roll up every whole hour that ended at least ``margin`` before ``now``; returns the rows written."""
        return await self._run(self.ledger.rollup_api_calls, now=now, margin=margin)

    async def rolled_until(self) -> dt.datetime | None:
        """The end of the last rolled-up hour (None before the first roll-up)."""
        return await self._run(self.ledger.rolled_until)

    async def usage_by_hour(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        connection: str | None = None,
    ) -> list[HourUsage]:
        """Usage per (connection, api, hour) in ``[since, until)`` (hours overlapping it), rolled or raw."""
        return await self._run(self.ledger.usage_by_hour, since=since, until=until, connection=connection)

    async def call_totals(self) -> list[tuple[str, str, int, int]]:
        """(connection, api, calls, metered) over all time: rolled hours plus the calls after them."""
        return await self._run(self.ledger.call_totals)

    async def recent_calls(
        self,
        connection: str,
        api: str,
        *,
        since: dt.datetime | None = None,
        limit: int = 50,
        errors_only: bool = False,
    ) -> list[CallRow]:
        """The newest logged calls of one API (raw rows; older ones are pruned)."""
        return await self._run(
            self.ledger.recent_calls, connection, api, since=since, limit=limit, errors_only=errors_only
        )

    async def records_active_between(
        self, scheme: str | None, start: dt.datetime, end: dt.datetime, *, limit: int = 20
    ) -> list[tuple[int, str, str]]:
        """(id, source_id, status) of the records (of ``scheme``, or any) with an event in ``[start, end]``."""
        return await self._run(self.ledger.records_active_between, scheme, start, end, limit=limit)

    async def counts_by_scheme(self) -> dict[tuple[str, str], int]:
        """Records per (scheme, status)."""
        return await self._run(self.ledger.counts_by_scheme)

    async def last_success_by_scheme(self) -> dict[tuple[str, str], dt.datetime]:
        """When the last ``ok`` run of each (scheme, kind) ended."""
        return await self._run(self.ledger.last_success_by_scheme)

    async def reap_runs(self, stale_after_s: float, *, now: dt.datetime | None = None) -> list[int]:
        """Mark ``running`` runs whose heartbeat is older than ``stale_after_s`` seconds ``interrupted``,"""
        return await self._run(self.ledger.reap_runs, stale_after_s, now=now)

    async def release(
        self, owner: str, leases: Iterable[LeaseRef], *, now: dt.datetime | None = None
    ) -> list[int]:
        """Give back claimed records that were not sent; returns the ids NOT released (lease lost)."""
        return await self._run(self.ledger.release, owner, leases, now=now)

    async def release_all(self, owner: str, *, now: dt.datetime | None = None) -> int:
        """Give back every record ``owner`` holds (at shutdown); returns how many."""
        return await self._run(self.ledger.release_all, owner, now=now)

    async def renew(
        self, owner: str, leases: Iterable[LeaseRef], lease_seconds: float, *, now: dt.datetime | None = None
    ) -> list[int]:
        """Extend a batch's leases to now + ``lease_seconds`` in one statement; returns the ids NOT"""
        return await self._run(self.ledger.renew, owner, leases, lease_seconds, now=now)

    async def reschedule_watch(self, record_id: int, next_at: dt.datetime) -> None:
        """Set when a ``watching`` record is looked at again."""
        return await self._run(self.ledger.reschedule_watch, record_id, next_at)

    async def search(
        self,
        text: str,
        *,
        scheme: str | None = None,
        statuses: Sequence[str] | None = None,
        since: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RecordRow]:
        """Records whose source id, number, target id or target number is ``text`` or starts with it,"""
        return await self._run(
            self.ledger.search,
            text,
            scheme=scheme,
            statuses=statuses,
            since=since,
            limit=limit,
            offset=offset,
        )

    async def set_status(
        self,
        record_ids: Sequence[int],
        status: str,
        reason: str,
        *,
        only_from: Sequence[str] | None = None,
        reset_attempts: bool = False,
        now: dt.datetime | None = None,
        by: str | None = None,
    ) -> int:
        """Move records to ``status`` by hand (``records retry|skip|replay``); returns how many moved."""
        return await self._run(
            self.ledger.set_status,
            record_ids,
            status,
            reason,
            only_from=only_from,
            reset_attempts=reset_attempts,
            now=now,
            by=by,
        )

    async def set_watermark(
        self,
        scheme: str,
        value: dt.datetime,
        partition: str = "",
        run_id: int | None = None,
        *,
        force: bool = False,
    ) -> None:
        """Move the watermark to ``value``; it never moves backwards unless ``force``."""
        return await self._run(self.ledger.set_watermark, scheme, value, partition, run_id, force=force)

    async def start_run(
        self, scheme: str, kind: str, trigger: str, *, owner: str, now: dt.datetime | None = None
    ) -> int:
        """Record the start of a collect/dispatch/reconcile/watch run by ``owner``; returns its id."""
        return await self._run(self.ledger.start_run, scheme, kind, trigger, owner=owner, now=now)


def facade(ledger: Ledger | AsyncLedger) -> AsyncLedger:
    """The one :class:`AsyncLedger` of ``ledger`` (made on first use and kept on it), so every part of
    a process shares one bounded pool per ledger; an AsyncLedger is returned as it is. Closing the
    ledger stays its owner's job."""
    if isinstance(ledger, AsyncLedger):
        return ledger
    found = getattr(ledger, "_async_facade", None)
    if not isinstance(found, AsyncLedger):
        # an in-memory SQLite database is one shared connection: one thread at a time
        url = ledger.engine.url
        memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        found = AsyncLedger(ledger, max_workers=1 if memory else 4)
        ledger._async_facade = found  # type: ignore[attr-defined]
    return found
