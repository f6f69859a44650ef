"""Dispatch's claims: a batch on its way through dispatch with its leases kept from the claim on, what
the checks made of it in the claim, and the batch claimed (and checked) ahead while the one before is
written."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ferry.connectors.base import WriteItem
from ferry.engine.lookups import why
from ferry.engine.prepare import Preparing
from ferry.quality import Fact, Prepared
from ferry.store import AsyncLedger, Claimed, Ledger, Outcome
from ferry.store.findings import BatchFindings
from ferry.store.leases import FactsHook

log = logging.getLogger("ferry.dispatch")


#: after a short batch while a collect runs beside the dispatcher, wait this long (or until the collect
#: ends) for more records: about ten details at DingTalk's 20/s, so batches stay near full
LINGER_S = 0.5


class Renews(Protocol):
    async def renew(self, owner: str, leases: Sequence[Claimed], lease_seconds: float) -> list[int]: ...


class Keeper:
    """Renews a batch's leases every third of their length until :meth:`stop`, so a slow target never
    lets another worker take over a live batch (nor the batch claimed ahead while it waits).

    A timer, not a task, waits for the first renewal: most batches are done long before it, and a
    timer costs nothing to cancel, where a task is made and cancelled per batch (a turn of the loop)."""

    def __init__(self, store: Renews, owner: str, lease_seconds: float, claimed: Sequence[Claimed]) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.claimed = claimed
        self._task: asyncio.Task[None] | None = None
        self._timer = (
            asyncio.get_running_loop().call_later(lease_seconds / 3, self._start) if claimed else None
        )

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.create_task(self._keep(), name="leases")

    async def _keep(self) -> None:
        while True:
            try:
                lost = await self.store.renew(self.owner, self.claimed, self.lease_seconds)
            except Exception as e:  # the next renewal may succeed; the lease still runs meanwhile
                log.warning("could not renew the leases of %d records: %s", len(self.claimed), why(e))
            else:
                if lost:
                    log.warning("%d records of a batch in hand were taken over: %s", len(lost), lost)
            await asyncio.sleep(self.lease_seconds / 3)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass
class Ahead:
    """A claimed batch: ``prepared`` by the checks in its claim (its facts stored there); ``ready`` when
    it was checked and rendered while the batch before it was written; its ``findings`` are stored
    with its outcomes (one transaction, none of their own)."""

    claimed: list[Claimed]
    keeper: Keeper
    prepared: Prepared | None = None
    ready: list[tuple[Claimed, WriteItem | Outcome]] | None = None
    #: its quality findings, stored with its outcomes
    findings: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class Claims(Preparing):
    """Dispatch's claims (mixed into :class:`ferry.engine.dispatch.Dispatcher`): a batch with its facts
    stored by the claim and its leases kept, the batch ahead checked early, given back when unused."""

    store: AsyncLedger
    owner: str
    lease_seconds: float

    #: wall time of the last batch claimed (and checked) ahead, and of the last target write: a batch
    #: ahead hides behind a write only when the write takes longer (see :meth:`_claims_with_finish`)
    _claim_s: float | None = None
    _write_s: float | None = None

    def _claims_with_finish(self) -> bool:
        """Claim the next batch in the transaction that stores this one's outcomes, rather than ahead
        while this one is written. Ahead pays when the target is slow: the next batch is claimed and
        checked while the target answers. With a target that answers faster than a claim takes, the
        claim ahead only waits for the ledger beside the finish (on SQLite the two take turns on the
        write lock), and one transaction for both is cheaper: one commit, one hop to the ledger.

        Never on PostgreSQL: there the claim ahead runs beside the finish on a connection of its own, so
        the server works on both at once, and the next batch is checked while it stores this one's
        outcomes (``bench/bench_engine.py`` at 20k: 4,600-6,200 against 3,900-4,300 dispatched a second
        with a target that answers at once)."""
        if self.store.ledger.writes_side_by_side:
            return False
        return self._write_s is not None and self._claim_s is not None and self._write_s < self._claim_s

    async def _claim_ahead(self, follow: asyncio.Future[Any] | None, stop: asyncio.Event | None) -> Ahead:
        """The batch ahead. After a short batch while a collect runs beside us (``follow``), first wait
        up to :data:`LINGER_S` for more: the collect stores records a few at a time as details arrive,
        and a round of target calls on every few would multiply Kingdee's calls."""
        if follow is not None and not follow.done():
            await wait_for_more(follow, None, stop, timeout=LINGER_S)
        started = time.perf_counter()
        batch = await self._claim(check=True)
        if batch.claimed:
            self._claim_s = time.perf_counter() - started
        return batch

    def _facts_hook(self, prepared: list[Prepared]) -> FactsHook | None:
        """What a claim stores of its batch for the checks' history (in the claim's transaction);
        ``prepared`` takes what the checks made of the batch."""
        if not self.checker.uses_history or self.scheme.enrich:
            # enriched content is only known later: such a batch's facts are stored when it is checked
            return None

        def facts(claimed: Sequence[Claimed]) -> Mapping[int, Sequence[Fact]]:
            """Runs in the claim's transaction: each record's own rules and values, no history, so
            other workers see the batch's facts the moment its records are ``writing``."""
            checked = [(rec.id, rec.content) for rec in claimed if self._fresh(rec)]
            try:
                prepared.append(self.checker.prepare(checked, self.transform.context(), self.clock()))
            except Exception:  # never a reason to lose the claim: the checks prepare the batch again
                log.exception("dispatch of %s: the checks could not prepare a batch", self.scheme.id)
                return {}
            return prepared[0].facts

        return facts

    def _claimed(self, claimed: list[Claimed], prepared: list[Prepared]) -> Ahead:
        """A claimed batch, its leases kept from now on."""
        return Ahead(
            claimed,
            Keeper(self.store, self.owner, self.lease_seconds, claimed),
            prepared[0] if prepared else None,
        )

    async def _claim(self, *, check: bool = False) -> Ahead:
        """Claim a batch, its quality facts stored by the claim and its leases kept from now on. With
        ``check``, a batch of fresh records is checked and rendered right away (the batch ahead)."""
        prepared: list[Prepared] = []
        claimed = await self.store.claim(
            self.scheme.id,
            owner=self.owner,
            limit=self.scheme.target.batch_size,
            lease_seconds=self.lease_seconds,
            facts=self._facts_hook(prepared),
        )
        batch = self._claimed(claimed, prepared)
        if check and self._checks_early(claimed):
            batch.ready = await asyncio.to_thread(self._check_early, claimed, batch.prepared, batch.findings)
        return batch

    def _checks_early(self, claimed: Sequence[Claimed]) -> bool:
        """A batch checked and rendered before its turn: fresh records whose content is known (no
        enrich lookups to wait for)."""
        return bool(claimed) and not self.scheme.enrich and all(self._fresh(r) for r in claimed)

    def _check_early(
        self,
        claimed: Sequence[Claimed],
        prepared: Prepared | None,
        found: dict[int, list[dict[str, Any]]],
    ) -> list[tuple[Claimed, WriteItem | Outcome]] | None:
        """The batch checked and rendered now (``found`` takes its findings), or None when it cannot be
        yet: it is checked again in its turn, where a failure is handled."""
        contents = {rec.id: rec.content for rec in claimed}
        try:
            return self._prepare_all(claimed, contents, self.clock(), prepared, found)
        except Exception as e:
            log.info("dispatch of %s: a batch ahead could not be checked yet: %s", self.scheme.id, why(e))
            return None

    async def _finish_and_claim(
        self, outcomes: Sequence[Outcome], findings: BatchFindings | None
    ) -> tuple[list[int], Ahead]:
        """Store a batch's outcomes and claim the next in one transaction, then check and render the
        next (when its records are fresh) on the same hop to the ledger's pool: (ids not applied, the
        next batch)."""
        prepared: list[Prepared] = []
        found: dict[int, list[dict[str, Any]]] = {}
        facts = self._facts_hook(prepared)

        def work(
            ledger: Ledger,
        ) -> tuple[list[int], list[Claimed], list[tuple[Claimed, WriteItem | Outcome]] | None]:
            lost, claimed = ledger.finish_and_claim(
                self.owner,
                outcomes,
                self.scheme.id,
                limit=self.scheme.target.batch_size,
                lease_seconds=self.lease_seconds,
                findings=findings,
                facts=facts,
            )
            early = self._checks_early(claimed)
            ready = self._check_early(claimed, prepared[0] if prepared else None, found) if early else None
            return lost, claimed, ready

        lost, claimed, ready = await self.store.call(work)
        batch = self._claimed(claimed, prepared)
        batch.findings, batch.ready = found, ready
        return lost, batch

    async def _give_back_batch(self, batch: Ahead) -> None:
        """A claimed batch nothing of which was sent goes back untouched."""
        await batch.keeper.stop()
        if batch.claimed:
            with contextlib.suppress(Exception):  # else its leases expire and it is probed
                await self.store.release(self.owner, batch.claimed)

    def _fresh(self, rec: Claimed) -> bool:
        """Checked and rendered, not finished or probed first."""
        return rec.previous_status != "finishing" and not (rec.needs_probe and self.reconcile)

    async def _give_back(self, ahead: asyncio.Future[Ahead]) -> None:
        """The batch ahead of a pass that stops goes back untouched (nothing of it was sent)."""
        try:
            batch = await ahead
        except BaseException:  # its claim failed or was cancelled: nothing to give back
            return
        await self._give_back_batch(batch)


async def wait_for_more(
    follow: asyncio.Future[Any],
    wake: asyncio.Event | None,
    stop: asyncio.Event | None,
    timeout: float = 1.0,
) -> None:
    """Until the followed collect stores a page, ends, or we are told to stop (at most ``timeout``)."""
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(asyncio.shield(follow))]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        if wake is not None:
            wake.clear()


__all__ = ["LINGER_S", "Ahead", "Claims", "Keeper", "wait_for_more"]
