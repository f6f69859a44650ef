"""Dispatch: claim due records, check and render them, write them in batches, store each outcome.

Contract notes:
- The ledger is written before the target is called: a claimed record is ``writing`` under a lease,
  so a crash leaves evidence that a request may have gone out.
- A batch's leases are renewed while it is worked on, and an outcome applies only under its own lease
  token: a live batch is never taken over, and a worker that lost its lease cannot record over the
  new owner's.
- A record whose earlier write may have reached the target (``in_doubt``, or ``writing`` under an
  expired lease) is never sent again before the target has been asked whether the document exists
  (:mod:`.recovery`; one question for the whole batch where the target can).
- A record whose document exists is never written again: its follow-ups (Submit, Audit) are retried
  under the scheme's policy while it is ``finishing`` (:mod:`.verdicts`).
- One record's failure is that record's: checks, lookups and rendering run per record, off the event
  loop, and an error in any of them quarantines or fails that record alone.
- A connection refused as a whole (:class:`AccessDenied`), or a ledger that cannot be read, is nobody's
  record's fault: the pass stops, the batch is given back untouched (no attempt counted).
- Whatever else goes wrong with a batch, no record stays ``writing``: a batch that had not been sent
  is given back, one that may have been sent is left ``in_doubt`` for the probe.
- Every outcome of a batch is stored in one transaction, with the batch's quality findings; its
  quality facts are stored by its claim's transaction, before its checks look.
- One batch ahead: the next batch is claimed (and, when its records are fresh, checked and rendered)
  once this one's checks have looked, while this one is written; nothing of it is sent before this
  one's outcomes are stored, and a pass that stops gives it back untouched. When the target answers
  faster than a claim takes, the next batch is claimed instead in the transaction that stores this
  one's outcomes (one commit for both).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.base import Querier, Target, WriteItem, WriteOutcome
from ferry.connectors.errors import AccessDenied, ConnectorError, GiveUp, OutcomeUnknown
from ferry.engine.ahead import Ahead, Claims, wait_for_more
from ferry.engine.lookups import Lookups, why
from ferry.engine.recovery import Recovery
from ferry.engine.transform import Transform
from ferry.engine.verdicts import Verdicts
from ferry.errors import StoreError
from ferry.observe.hooks import dispatched
from ferry.observe.tracing import span
from ferry.quality import Checker
from ferry.scheme import Scheme
from ferry.store import AsyncLedger, Claimed, Ledger, Outcome, facade
from ferry.store.findings import BatchFindings

log = logging.getLogger("ferry.dispatch")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DispatchReport:
    batches: int = 0
    claimed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    lost_leases: int = 0

    def add(self, status: str, n: int = 1) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + n

    def as_dict(self) -> dict[str, int]:
        return {
            "batches": self.batches,
            "claimed": self.claimed,
            "lost_leases": self.lost_leases,
            **self.by_status,
        }


class Dispatcher(Claims):
    """Runs dispatch for one scheme until nothing is due (or it is told to stop)."""

    def __init__(
        self,
        scheme: Scheme,
        ledger: Ledger | AsyncLedger,
        target: Target,
        transform: Transform,
        *,
        owner: str,
        lease_seconds: float = 300.0,
        clock: Clock = utcnow,
        on_outcome: Callable[[str], None] | None = None,
        queriers: Mapping[str, Querier] | None = None,
        reconcile: bool = True,
    ) -> None:
        self.scheme = scheme
        self.store = facade(ledger)
        self.target = target
        self.transform = transform
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.on_outcome = on_outcome
        #: ask the target before resending a write that may have landed; off only to prove, in the
        #: chaos test, that duplicates are caught when it is missing
        self.reconcile = reconcile
        self.verdicts = Verdicts(scheme.retry, reconcile=reconcile)
        self.lookups = Lookups(scheme, transform, queriers or {})
        self.recovery = Recovery(target, self.store, self.verdicts)
        #: the scheme's quality rules and anomaly checks; history from the ledger, read on the worker
        #: thread that checks the batch
        self.checker = Checker(
            scheme.id, scheme.quality, scheme.checks, tz=transform.tz, history=self.store.ledger
        )
        self._target_name = scheme.target.connector or scheme.target.connection or ""
        #: ids of the current batch handed to ``target.write`` (they may have reached the target)
        self._sent: set[int] = set()

    async def run(
        self,
        *,
        stop: asyncio.Event | None = None,
        max_batches: int | None = None,
        follow: asyncio.Future[Any] | None = None,
        wake: asyncio.Event | None = None,
    ) -> DispatchReport:
        """Dispatch until nothing is due. With ``follow`` (a collect running side by side), nothing due
        means "wait for more": the pass ends only once ``follow`` is done and nothing is due; ``wake``
        (set when collect stores a page) cuts the wait short.

        One batch ahead: once a batch is checked, the next is claimed and checked while this one is
        written and its outcomes stored (a target call hides the checks). The next is claimed only
        after this one's checks looked, so each sees the other as it would one after the other: the
        older is counted against the newer, never the newer against the older. Whatever stops the
        pass gives the batch ahead back untouched."""
        report = DispatchReport()
        ahead: asyncio.Future[Ahead] | None = None
        #: the batch claimed with the last one's outcomes (see :meth:`_claims_with_finish`)
        claimed_next: Ahead | None = None
        try:
            while not (stop is not None and stop.is_set()):
                if max_batches is not None and report.batches >= max_batches:
                    break
                if claimed_next is not None:
                    batch, claimed_next = claimed_next, None
                else:
                    batch = await ahead if ahead is not None else await self._claim()
                ahead = None
                if not batch.claimed:
                    if follow is None or follow.done():
                        break
                    await wait_for_more(follow, wake, stop)
                    continue
                report.batches += 1
                report.claimed += len(batch.claimed)
                last = max_batches is not None and report.batches >= max_batches
                full = len(batch.claimed) >= self.scheme.target.batch_size
                # a short batch while a collect runs lingers for more before the next claim (ahead)
                with_finish = full and not last and self._claims_with_finish()
                short = not full and follow is not None

                def claim_next(
                    last: bool = last, short: bool = short, with_finish: bool = with_finish
                ) -> None:
                    nonlocal ahead
                    if not last and not with_finish and not (stop is not None and stop.is_set()):
                        ahead = asyncio.ensure_future(self._claim_ahead(follow if short else None, stop))

                attrs = {"ferry.scheme": self.scheme.id, "ferry.batch.size": len(batch.claimed)}
                with span("ferry.dispatch.batch", attrs):
                    try:
                        outcomes = await self._settle(batch.claimed, claim_next, batch)
                        found = BatchFindings(self.scheme.id, batch.findings) if batch.findings else None
                        if with_finish and not (stop is not None and stop.is_set()):
                            lost, claimed_next = await self._finish_and_claim(outcomes, found)
                        else:
                            lost = await self.store.finish(self.owner, outcomes, findings=found)
                    finally:
                        await batch.keeper.stop()
                self._count(report, outcomes, lost)
        finally:
            if ahead is not None:
                await asyncio.shield(self._give_back(ahead))
            if claimed_next is not None:
                await asyncio.shield(self._give_back_batch(claimed_next))
        return report

    def _count(self, report: DispatchReport, outcomes: Sequence[Outcome], lost: Sequence[int]) -> None:
        report.lost_leases += len(lost)
        settled: dict[str, int] = {}
        for o in outcomes:
            if o.record_id not in lost:
                settled[o.status] = settled.get(o.status, 0) + 1
                if self.on_outcome is not None:
                    self.on_outcome(o.status)
        # counted once per status and batch: a metrics update per record costs more than its write
        for status, n in settled.items():
            report.add(status, n)
            dispatched(self.scheme.id, self._target_name, status, n)

    async def _settle(
        self,
        claimed: Sequence[Claimed],
        checked: Callable[[], None] | None = None,
        batch: Ahead | None = None,
    ) -> list[Outcome]:
        """:meth:`process` with the guarantees that no record stays ``writing``: an access refusal
        gives the batch back and stops the pass; an unexpected error or a cancellation gives back
        what was not sent and leaves what may have been sent ``in_doubt``."""
        self._sent = set()
        try:
            return await self.process(claimed, checked, batch)
        except (AccessDenied, StoreError):
            # the connection is refused, or the ledger cannot be read: the pass stops, the batch goes
            # back untouched (if the ledger cannot take it back, its leases expire and it is probed)
            with contextlib.suppress(Exception):
                await self.store.release(self.owner, claimed)
            raise
        except BaseException as e:
            sent = [rec for rec in claimed if rec.id in self._sent]
            unsent = [rec for rec in claimed if rec.id not in self._sent]
            if unsent:
                await asyncio.shield(self.store.release(self.owner, unsent))
            if sent:
                what = "interrupted" if isinstance(e, asyncio.CancelledError | KeyboardInterrupt) else why(e)
                now = self.clock()
                settled = [
                    self.verdicts.unknown(r, f"the batch stopped after sending ({what})", now) for r in sent
                ]
                await asyncio.shield(self.store.finish(self.owner, settled))
            if isinstance(e, Exception):
                log.exception("dispatch of %s: a batch failed unexpectedly", self.scheme.id)
                # the batch is settled; the pass goes on with the next one
                return []
            raise

    async def process(
        self,
        claimed: Sequence[Claimed],
        checked: Callable[[], None] | None = None,
        batch: Ahead | None = None,
    ) -> list[Outcome]:
        """Decide every claimed record's outcome: finish the documents that exist, probe the writes in
        doubt, then check, render and write the rest in one target call. ``checked`` is called once
        the checks have looked, before the write; ``batch``: what was made of it before (in its claim,
        or all of it while the batch before was written)."""
        now = self.clock()
        if batch is None or batch.ready is None:
            outcomes, prepared = await self._check(claimed, now, batch)
        else:
            outcomes, prepared = [], batch.ready
        to_write: list[tuple[Claimed, WriteItem]] = []
        for rec, item in prepared:
            if isinstance(item, Outcome):
                outcomes.append(item)
            else:
                to_write.append((rec, item))
        if checked is not None:
            checked()
        if to_write:
            outcomes.extend(await self._write(to_write, now))
        return outcomes

    async def _write(self, batch: list[tuple[Claimed, WriteItem]], now: dt.datetime) -> list[Outcome]:
        items = [item for _, item in batch]
        by_key = {rec.id: rec for rec, _ in batch}
        self._sent.update(by_key)
        started = time.perf_counter()
        try:
            results: Sequence[WriteOutcome] = await self.target.write(items)
        except AccessDenied:
            # refused before anything was applied: the batch goes back untouched
            self._sent.difference_update(by_key)
            raise
        except ConnectorError as e:
            return [self.verdicts.failure(rec, item.request, e, now) for rec, item in batch]
        except Exception as e:
            # a connector bug after the request may have left: the probe settles each record
            unknown = OutcomeUnknown(f"the target failed unexpectedly: {why(e)}")
            return [self.verdicts.failure(rec, item.request, unknown, now) for rec, item in batch]
        self._write_s = time.perf_counter() - started
        outcomes: list[Outcome] = []
        seen: set[int] = set()
        requests = {item.key: item.request for item in items}
        with self.verdicts.one_batch():
            for res in results:
                rec = by_key.get(res.key)
                if rec is None or res.key in seen:
                    log.warning("target returned an outcome for an unknown or repeated key %s", res.key)
                    continue
                seen.add(res.key)
                if res.ok and res.doc is not None:
                    doc, request = res.doc, requests[res.key]
                    outcomes.append(self.verdicts.document(rec, doc, now, reason="written", request=request))
                else:
                    err = res.error or GiveUp("the target returned neither a document nor an error")
                    outcomes.append(self.verdicts.failure(rec, requests[res.key], err, now))
        for rec, item in batch:
            if rec.id not in seen:
                # the target broke its contract; the write may have happened: settle it by probing
                missing = OutcomeUnknown("the target returned no outcome for this record")
                outcomes.append(self.verdicts.failure(rec, item.request, missing, now))
        return outcomes


__all__ = ["DispatchReport", "Dispatcher"]
