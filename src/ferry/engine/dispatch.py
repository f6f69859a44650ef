"""Dispatch: claim due records, check and render them, write them in batches, store each outcome.

Contract notes:
- The ledger is written before the target is called: a claimed record is ``writing`` under a lease,
  so a crash leaves evidence that a request may have gone out.
- A record whose earlier write may have reached the target (``in_doubt``, or ``writing`` under an
  expired lease) is never sent again before the target has been asked whether the document exists.
- Every outcome of a batch is stored in one transaction; a record whose lease was lost meanwhile is
  left to its new owner.
- One record's failure is that record's: checks, lookups and rendering run per record, off the event
  loop, and an error in any of them quarantines or fails that record alone.
- A connection refused as a whole (:class:`AccessDenied`) is nobody's record's fault: the pass stops,
  the batch is given back untouched (no attempt counted) and the error reaches the run.
- Whatever else goes wrong with a batch, no record stays ``writing``: a batch that had not been sent
  is given back, one that may have been sent is left ``in_doubt`` for the probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.base import BatchQuerier, Querier, Target, TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.errors import AccessDenied, ConnectorError, GiveUp, OutcomeUnknown, RetryLater
from ferry.engine.retry import next_attempt_at
from ferry.engine.transform import RenderError, Transform
from ferry.errors import StoreError
from ferry.observe.redact import redact_value
from ferry.scheme import Scheme
from ferry.store import Claimed, Ledger, Outcome

log = logging.getLogger("ferry.dispatch")

Clock = Callable[[], dt.datetime]

#: how soon an in-doubt record is probed again when the probe itself failed
PROBE_RETRY_SECONDS = 30.0


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


class Dispatcher:
    """Runs dispatch for one scheme until nothing is due (or it is told to stop)."""

    def __init__(
        self,
        scheme: Scheme,
        ledger: Ledger,
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
        self.ledger = ledger
        self.target = target
        self.transform = transform
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.on_outcome = on_outcome
        self.policy = scheme.retry
        #: enrich step name -> the connection that answers it
        self.queriers = dict(queriers or {})
        #: lookups in flight at once for connections that answer one at a time
        self._lookups = asyncio.Semaphore(8)
        #: ask the target before resending a write that may have landed; off only to prove, in the
        #: chaos test, that duplicates are caught when it is missing
        self.reconcile = reconcile
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
        (set when collect stores a page) cuts the wait short."""
        report = DispatchReport()
        while not (stop is not None and stop.is_set()):
            if max_batches is not None and report.batches >= max_batches:
                break
            claimed = await asyncio.to_thread(
                self.ledger.claim,
                self.scheme.id,
                owner=self.owner,
                limit=self.scheme.target.batch_size,
                lease_seconds=self.lease_seconds,
            )
            if not claimed:
                if follow is None or follow.done():
                    break
                await _wait_for_more(follow, wake, stop)
                continue
            report.batches += 1
            report.claimed += len(claimed)
            outcomes = await self._settle(claimed)
            # each outcome applies only under the lease token its record was claimed with
            tokens = {rec.id: rec.lease_token for rec in claimed}
            for o in outcomes:
                o.lease_token = tokens.get(o.record_id)
            lost = await asyncio.to_thread(self.ledger.finish, self.owner, outcomes)
            report.lost_leases += len(lost)
            for o in outcomes:
                if o.record_id not in lost:
                    report.add(o.status)
                    if self.on_outcome is not None:
                        self.on_outcome(o.status)
        return report

    async def _settle(self, claimed: Sequence[Claimed]) -> list[Outcome]:
        """:meth:`process` with the guarantees that no record stays ``writing``: an access refusal
        gives the batch back and stops the pass; an unexpected error or a cancellation gives back
        what was not sent and leaves what may have been sent ``in_doubt``."""
        self._sent = set()
        try:
            return await self.process(claimed)
        except (AccessDenied, StoreError):
            # the connection is refused, or the ledger cannot be read: the pass stops, the batch goes
            # back untouched (if the ledger cannot take it back, its leases expire and it is probed)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.ledger.release, self.owner, claimed)
            raise
        except BaseException as e:
            sent = [rec for rec in claimed if rec.id in self._sent]
            unsent = [rec for rec in claimed if rec.id not in self._sent]
            if unsent:
                await asyncio.shield(asyncio.to_thread(self.ledger.release, self.owner, unsent))
            if sent:
                why = "interrupted" if isinstance(e, asyncio.CancelledError | KeyboardInterrupt) else _why(e)
                settled = [self._unknown(rec, f"the batch stopped after sending ({why})") for rec in sent]
                await asyncio.shield(asyncio.to_thread(self.ledger.finish, self.owner, settled))
            if isinstance(e, Exception):
                log.exception("dispatch of %s: a batch failed unexpectedly", self.scheme.id)
                # the batch is settled; the pass goes on with the next one
                return []
            raise

    def _unknown(self, rec: Claimed, reason: str) -> Outcome:
        return Outcome(
            rec.id,
            "in_doubt",
            reason=reason,
            error_type="reconcile",
            error_message=reason,
            next_attempt_at=self.clock() + dt.timedelta(seconds=5),
            count_attempt=False,
            lease_token=rec.lease_token,
        )

    async def process(self, claimed: Sequence[Claimed]) -> list[Outcome]:
        """Decide every claimed record's outcome; calls the target at most once for the batch's writes
        (plus one probe per record whose earlier write is in doubt, and the batch's lookups)."""
        now = self.clock()
        outcomes: list[Outcome] = []
        ready: list[Claimed] = []
        for rec in claimed:
            if rec.needs_probe and self.reconcile:
                settled = await self._probe(rec, now)
                if settled is not None:
                    outcomes.append(settled)
                    continue
            ready.append(rec)
        contents: dict[int, Mapping[str, Any]] = {rec.id: rec.content for rec in ready}
        if self.scheme.enrich and ready:
            for rec_id, result in (await self._enrich(ready, now)).items():
                if isinstance(result, Outcome):
                    outcomes.append(result)
                    del contents[rec_id]
                else:
                    contents[rec_id] = result
        # checks and rendering off the event loop: a slow record must not stall other schemes
        prepared = await asyncio.to_thread(
            lambda: [(rec, self._prepare(rec, contents[rec.id])) for rec in ready if rec.id in contents]
        )
        to_write: list[tuple[Claimed, WriteItem]] = []
        for rec, item in prepared:
            if isinstance(item, Outcome):
                outcomes.append(item)
            else:
                to_write.append((rec, item))
        if to_write:
            outcomes.extend(await self._write(to_write, now))
        return outcomes

    def _prepare(self, rec: Claimed, content: Mapping[str, Any]) -> WriteItem | Outcome:
        """The record's quality rules, then its rendered request; a failure quarantines it."""
        reason = self.transform.quality(content)
        if reason is not None:
            return Outcome(rec.id, "quarantined", reason=reason, error_type="quality", count_attempt=False)
        try:
            request = self.transform.target_request(content)
        except RenderError as e:  # every rendering failure arrives as a RenderError
            return Outcome(
                rec.id,
                "quarantined",
                reason=f"cannot build the target request: {e}",
                error_type="render",
                count_attempt=False,
            )
        return WriteItem(rec.id, rec.source_id, rec.number, request, content)

    async def _enrich(
        self, records: Sequence[Claimed], now: dt.datetime
    ) -> dict[int, Mapping[str, Any] | Outcome]:
        """Each record's content with every ``enrich`` step's first row added under the step's name, or
        the outcome that ends this attempt (a lookup that cannot be built, or that failed).

        A connection that can answer many lookups in one call (:class:`BatchQuerier`) gets the whole
        batch at once; others are asked concurrently, a few at a time.
        """
        results: dict[int, Mapping[str, Any] | Outcome] = {}
        queries: dict[int, dict[str, dict[str, Any]]] = {}
        built = await asyncio.to_thread(
            lambda: {rec.id: _attempt(self.transform.enrich_queries, rec.content) for rec in records}
        )
        for rec in records:
            query = built[rec.id]
            if isinstance(query, RenderError):
                results[rec.id] = Outcome(
                    rec.id,
                    "quarantined",
                    reason=f"cannot build lookup: {query}",
                    error_type="render",
                    count_attempt=False,
                )
            else:
                queries[rec.id] = query
                results[rec.id] = dict(rec.content)
        by_id = {rec.id: rec for rec in records}
        for step in self.scheme.enrich:
            ids = [i for i in queries if isinstance(results[i], dict)]
            if not ids:
                break
            querier = self.queriers[step.name]
            params = [queries[i][step.name] for i in ids]
            answers: list[list[dict[str, Any]] | ConnectorError]
            if isinstance(querier, BatchQuerier):
                try:
                    answers = list(await querier.query_many(params))
                except AccessDenied:
                    raise
                except ConnectorError as e:
                    answers = [e] * len(ids)
                except Exception as e:
                    answers = [RetryLater(f"lookup {step.name} failed unexpectedly: {_why(e)}")] * len(ids)
            else:
                answers = list(await asyncio.gather(*(self._ask(querier, p) for p in params)))
            for rec_id, answer in zip(ids, answers, strict=True):
                if isinstance(answer, ConnectorError):
                    # nothing was sent: keep whatever request the record had (None leaves it)
                    results[rec_id] = self._failure(by_id[rec_id], None, answer, now)
                else:
                    current = results[rec_id]
                    assert isinstance(current, dict)
                    current[step.name] = answer[0] if answer else None
        return results

    async def _ask(
        self, querier: Querier, params: Mapping[str, Any]
    ) -> list[dict[str, Any]] | ConnectorError:
        async with self._lookups:
            try:
                return await querier.query(params)
            except AccessDenied:
                raise
            except ConnectorError as e:
                return e
            except Exception as e:
                return RetryLater(f"lookup failed unexpectedly: {_why(e)}")

    async def _probe(self, rec: Claimed, now: dt.datetime) -> Outcome | None:
        """Ask the target whether an earlier write of ``rec`` landed. None means: not found, write it."""
        request = rec.request
        if not request:
            # the worker died before it could store what it sent; rendering is deterministic, so
            # the same request is rebuilt (one that cannot be rendered was never sent)
            content: Mapping[str, Any] = rec.content
            if self.scheme.enrich:
                enriched = (await self._enrich([rec], now))[rec.id]
                if isinstance(enriched, Outcome):
                    if enriched.status == "quarantined":
                        return None
                    return Outcome(
                        rec.id,
                        "in_doubt",
                        reason=f"earlier write may have reached the target; cannot rebuild it yet: {enriched.reason}",
                        next_attempt_at=now + dt.timedelta(seconds=PROBE_RETRY_SECONDS),
                        count_attempt=False,
                    )
                content = enriched
            prepared = self._prepare(rec, content)
            if isinstance(prepared, Outcome):
                return None  # it fails its checks or cannot be rendered, so it was never sent
            request = prepared.request
        item = WriteItem(rec.id, rec.source_id, rec.number, request, rec.content)
        try:
            doc = await self.target.probe(item)
        except AccessDenied:
            raise
        except Exception as e:
            if not isinstance(e, ConnectorError):
                e = RetryLater(f"the probe failed unexpectedly: {_why(e)}")
            # the question could not be answered: stay in doubt, never resend blind
            return Outcome(
                rec.id,
                "in_doubt",
                reason=f"earlier write may have reached the target; the check failed: {e}",
                error_type=e.action,
                error_code=e.code,
                error_message=str(e),
                next_attempt_at=now + dt.timedelta(seconds=max(PROBE_RETRY_SECONDS, e.retry_after or 0)),
                count_attempt=False,
            )
        if doc is None:
            return None
        return self._written(
            rec.id, doc, reason="found in the target after an unknown outcome", request=rec.request
        )

    def _written(self, key: int, doc: TargetDoc, *, reason: str, request: dict[str, Any] | None) -> Outcome:
        return Outcome(
            key,
            "written",
            # the target's own words are kept: a draft's reason, or a follow-up that failed
            reason=(
                f"saved as a draft: {doc.message}" if doc.draft and doc.message else doc.message or reason
            ),
            target_id=doc.id,
            target_number=doc.number,
            draft=doc.draft,
            request=request,
            # whatever a target echoes back (an API key in a header dump) never reaches the ledger
            response=redact_value(doc.response),
        )

    async def _write(self, batch: list[tuple[Claimed, WriteItem]], now: dt.datetime) -> list[Outcome]:
        items = [item for _, item in batch]
        by_key = {rec.id: rec for rec, _ in batch}
        self._sent.update(by_key)
        try:
            results: Sequence[WriteOutcome] = await self.target.write(items)
        except AccessDenied:
            # refused before anything was applied: the batch goes back untouched
            self._sent.difference_update(by_key)
            raise
        except ConnectorError as e:
            return [self._failure(rec, item.request, e, now) for rec, item in batch]
        except Exception as e:
            # a connector bug after the request may have left: the probe settles each record
            unknown = OutcomeUnknown(f"the target failed unexpectedly: {_why(e)}")
            return [self._failure(rec, item.request, unknown, now) for rec, item in batch]
        outcomes: list[Outcome] = []
        seen: set[int] = set()
        requests = {item.key: item.request for item in items}
        for res in results:
            rec = by_key.get(res.key)
            if rec is None or res.key in seen:
                log.warning("target returned an outcome for an unknown or repeated key %s", res.key)
                continue
            seen.add(res.key)
            if res.ok and res.doc is not None:
                outcomes.append(self._written(res.key, res.doc, reason="written", request=requests[res.key]))
            else:
                err = res.error or GiveUp("the target returned neither a document nor an error")
                outcomes.append(self._failure(rec, requests[res.key], err, now))
        for rec, item in batch:
            if rec.id not in seen:
                # the target broke its contract; the write may have happened: settle it by probing
                outcomes.append(
                    self._failure(
                        rec,
                        item.request,
                        OutcomeUnknown("the target returned no outcome for this record"),
                        now,
                    )
                )
        return outcomes

    def _failure(
        self, rec: Claimed, request: dict[str, Any] | None, err: ConnectorError, now: dt.datetime
    ) -> Outcome:
        attempts = rec.attempts + 1
        common: dict[str, Any] = {
            "error_type": err.action,
            "error_code": err.code,
            "error_message": str(err),
            "request": request,
        }
        if isinstance(err, OutcomeUnknown) and self.reconcile:
            # may have been applied: the next claim probes first; does not count towards giving up
            return Outcome(
                rec.id,
                "in_doubt",
                reason=f"outcome unknown: {err}",
                next_attempt_at=now + dt.timedelta(seconds=err.retry_after or 5.0),
                **common,
            )
        if err.action == "give_up":
            return Outcome(rec.id, "dead", reason=f"permanent error: {err}", **common)
        if attempts >= self.policy.max_attempts:
            return Outcome(rec.id, "dead", reason=f"gave up after {attempts} attempts: {err}", **common)
        return Outcome(
            rec.id,
            "failed",
            reason=f"attempt {attempts} failed: {err}",
            next_attempt_at=next_attempt_at(self.policy, attempts, now, retry_after=err.retry_after),
            **common,
        )


async def _wait_for_more(
    follow: asyncio.Future[Any], wake: asyncio.Event | None, stop: asyncio.Event | None
) -> None:
    """Until the followed collect stores a page, ends, or we are told to stop (at most a second)."""
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(asyncio.shield(follow))]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        if wake is not None:
            wake.clear()


def _attempt(fn: Callable[[Mapping[str, Any]], dict[str, dict[str, Any]]], content: Mapping[str, Any]) -> Any:
    """``fn(content)``, or the RenderError it raised (so one record's failure stays its own)."""
    try:
        return fn(content)
    except RenderError as e:
        return e


def _why(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}"[:500] if text else type(e).__name__
