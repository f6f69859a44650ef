"""Dispatch's preparation of a batch (mixed into :class:`ferry.engine.dispatch.Dispatcher`): finish the
documents that exist, probe the writes in doubt, enrich, then check and render each record, off the event
loop. One record's failure in any of these is that record's outcome alone."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ferry.connectors.base import WriteItem
from ferry.connectors.errors import ConnectorError, OutcomeUnknown
from ferry.engine.lookups import Lookups
from ferry.engine.recovery import Recovery
from ferry.engine.transform import RenderError, Transform
from ferry.engine.verdicts import Verdicts
from ferry.quality import Assessment, Checker, Prepared
from ferry.scheme import Scheme
from ferry.store import Claimed, Outcome

if TYPE_CHECKING:
    from ferry.engine.ahead import Ahead


class Preparing:
    """Check and render a claimed batch: what it needs from the dispatcher, and how."""

    scheme: Scheme
    transform: Transform
    checker: Checker
    verdicts: Verdicts
    lookups: Lookups
    recovery: Recovery
    clock: Callable[[], dt.datetime]
    reconcile: bool

    async def _check(
        self, claimed: Sequence[Claimed], now: dt.datetime, batch: Ahead | None
    ) -> tuple[list[Outcome], list[tuple[Claimed, WriteItem | Outcome]]]:
        """Finish and probe what needs it; check and render the rest."""
        finishing = [rec for rec in claimed if rec.previous_status == "finishing"]
        in_doubt = [rec for rec in claimed if rec not in finishing and rec.needs_probe and self.reconcile]
        fresh = [rec for rec in claimed if rec not in finishing and rec not in in_doubt]
        outcomes = await self.recovery.finish(finishing, now)
        settled, not_found = await self.recovery.probe(in_doubt, self._rebuild, now)
        outcomes.extend(settled)
        ready = [*not_found, *fresh]
        contents: dict[int, Mapping[str, Any]] = {rec.id: rec.content for rec in ready}
        if self.scheme.enrich and ready:
            for rec_id, result in (await self.lookups.enrich(ready, self._lookup_failed)).items():
                if isinstance(result, Outcome):
                    outcomes.append(result)
                    del contents[rec_id]
                else:
                    contents[rec_id] = result
        # checks and rendering off the event loop: a slow record must not stall other schemes
        prepared = await asyncio.to_thread(
            self._prepare_all,
            [rec for rec in ready if rec.id in contents],
            contents,
            now,
            batch.prepared if batch else None,
            batch.findings if batch else None,
        )
        return outcomes, prepared

    def _lookup_failed(self, rec: Claimed, err: ConnectorError) -> Outcome:
        # nothing was sent: keep whatever request the record had (None leaves it)
        return self.verdicts.failure(rec, None, err, self.clock())

    def _prepare_all(
        self,
        ready: Sequence[Claimed],
        contents: Mapping[int, Mapping[str, Any]],
        now: dt.datetime,
        prepared: Prepared | None = None,
        found: dict[int, list[dict[str, Any]]] | None = None,
    ) -> list[tuple[Claimed, WriteItem | Outcome]]:
        """The batch's quality assessment, then each record's request. Raises StoreError when the
        ledger cannot be read: the batch goes back untouched. ``prepared``: what the checks made of
        the batch in its claim; ``found`` takes its findings (else they are stored now)."""
        assessed: dict[int, Assessment] = {}
        if self.checker.active and ready:
            ctx = self.transform.context()
            items = [(rec.id, contents[rec.id]) for rec in ready]
            keep = found.update if found is not None else None
            assessed = self.checker.assess(items, ctx, now, prepared=prepared, keep=keep)
        return [(rec, self._prepare(rec, contents[rec.id], assessed.get(rec.id))) for rec in ready]

    def _prepare(
        self, rec: Claimed, content: Mapping[str, Any], assessment: Assessment | None = None
    ) -> WriteItem | Outcome:
        """The record's quality verdict, then its rendered request: a blocking finding holds it for
        review (待复核), an invalid record is quarantined, a render failure too; warnings let it go."""
        if assessment is not None and assessment.decision != "go":
            status: Literal["held", "quarantined"] = (
                "held" if assessment.decision == "hold" else "quarantined"
            )
            reason = assessment.reason()
            # a hold's reason is also its "last error", so the record's story says why in both places
            message = reason if status == "held" else None
            return rec.outcome(
                status, reason=reason, error_type="quality", error_message=message, count_attempt=False
            )
        try:
            request = self.transform.target_request(content)
        except RenderError as e:  # every rendering failure arrives as a RenderError
            return rec.outcome(
                "quarantined",
                reason=f"cannot build the target request: {e}",
                error_type="render",
                count_attempt=False,
            )
        return WriteItem(rec.id, rec.source_id, rec.number, request, content)

    async def _rebuild(self, rec: Claimed) -> WriteItem | Outcome | None:
        """The request a worker that died before storing it would have sent (rendering is
        deterministic), for the probe to look for; None when the record was never sendable."""
        content: Mapping[str, Any] = rec.content
        if self.scheme.enrich:
            enriched = (await self.lookups.enrich([rec], self._lookup_failed))[rec.id]
            if isinstance(enriched, Outcome):
                if enriched.status == "quarantined":
                    return None
                return self.verdicts.probe_failed(
                    rec, OutcomeUnknown(f"cannot rebuild the request yet: {enriched.reason}"), self.clock()
                )
            content = enriched
        # the record's own rules only: whether it was sendable then, not what history says now; a hold
        # is a person's question, not a sign that nothing was sent, so only a quarantine counts here
        ctx, now = self.transform.context(), self.clock()

        def rebuilt() -> WriteItem | Outcome:
            rules = self.checker.rules_only(content, ctx, now)
            return self._prepare(rec, content, rules if rules.decision == "quarantine" else None)

        prepared = await asyncio.to_thread(rebuilt)
        return None if isinstance(prepared, Outcome) else prepared
