"""Recovery in batches: the probe of a batch's in-doubt records, and the follow-ups of its documents.

- **Probe** (a record whose earlier write may have landed): the target is asked before anything is
  sent again; a :class:`BatchProber` is asked about the whole batch in one call. Found: the record is
  written (or finishing, when its follow-ups are not all done). Not found: it is written now. The
  question could not be answered: it stays in doubt, never resent blind.
- **Finish** (a ``finishing`` record: its document exists, some follow-ups did not succeed): the
  target's :meth:`~ferry.connectors.base.FinishingTarget.finish` runs what is left, batched per
  operation, under the scheme's retry policy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from ferry.connectors.base import BatchProber, FinishingTarget, FinishItem, Target, TargetDoc, WriteItem
from ferry.connectors.errors import AccessDenied, ConnectorError, RetryLater
from ferry.engine.lookups import why
from ferry.engine.verdicts import Verdicts
from ferry.store import AsyncLedger, Claimed, Outcome

#: rebuilds the request a dead worker never stored: the record's prepared item, or None when the
#: record fails its checks or cannot be rendered (so it was never sent), or an outcome to keep it in doubt
Rebuild = Callable[[Claimed], Awaitable["WriteItem | Outcome | None"]]


class Recovery:
    """Probing and finishing for one scheme's target."""

    def __init__(self, target: Target, store: AsyncLedger, verdicts: Verdicts) -> None:
        self.target = target
        self.store = store
        self.verdicts = verdicts

    async def probe(
        self, records: Sequence[Claimed], rebuild: Rebuild, now: dt.datetime
    ) -> tuple[list[Outcome], list[Claimed]]:
        """Ask the target about earlier writes of ``records``: their outcomes when found or when the
        question failed, and the records not found (to be written now)."""
        outcomes: list[Outcome] = []
        to_write: list[Claimed] = []
        asked: list[tuple[Claimed, WriteItem]] = []
        for rec in records:
            if rec.request:
                asked.append((rec, WriteItem(rec.id, rec.source_id, rec.number, rec.request, rec.content)))
                continue
            # the worker died before it could store what it sent; rendering is deterministic, so the
            # same request is rebuilt (one that cannot be rendered was never sent)
            rebuilt = await rebuild(rec)
            if rebuilt is None:
                to_write.append(rec)
            elif isinstance(rebuilt, Outcome):
                outcomes.append(rebuilt)
            else:
                asked.append((rec, rebuilt))
        if not asked:
            return outcomes, to_write
        answers = await self._ask([item for _, item in asked])
        for (rec, item), answer in zip(asked, answers, strict=True):
            if isinstance(answer, ConnectorError):
                outcomes.append(self.verdicts.probe_failed(rec, answer, now))
            elif answer is None:
                to_write.append(rec)
            else:
                outcomes.append(
                    self.verdicts.document(
                        rec,
                        answer,
                        now,
                        reason="found in the target after an unknown outcome",
                        request=item.request,
                    )
                )
        return outcomes, to_write

    async def _ask(self, items: list[WriteItem]) -> list[TargetDoc | ConnectorError | None]:
        target = self.target
        if isinstance(target, BatchProber):
            try:
                return list(await target.probe_many(items))
            except AccessDenied:
                raise
            except ConnectorError as e:
                return [e] * len(items)
            except Exception as e:
                return [RetryLater(f"the probe failed unexpectedly: {why(e)}")] * len(items)
        return list(await asyncio.gather(*(self._ask_one(item) for item in items)))

    async def _ask_one(self, item: WriteItem) -> TargetDoc | ConnectorError | None:
        try:
            return await self.target.probe(item)
        except AccessDenied:
            raise
        except ConnectorError as e:
            return e
        except Exception as e:
            return RetryLater(f"the probe failed unexpectedly: {why(e)}")

    async def finish(self, records: Sequence[Claimed], now: dt.datetime) -> list[Outcome]:
        """Run the follow-ups still pending on the documents of ``records`` (``finishing`` claims)."""
        if not records:
            return []
        rows = await asyncio.gather(*(self.store.get_by_id(rec.id) for rec in records))
        docs: dict[int, TargetDoc] = {}
        for rec, row in zip(records, rows, strict=True):
            response: Any = row.response if row is not None else None
            pending = response.get("pending") if isinstance(response, Mapping) else None
            docs[rec.id] = TargetDoc(
                id=rec.target_id,
                number=rec.target_number,
                draft=bool(row.draft) if row is not None else False,
                response=response,
                pending=tuple(str(p) for p in pending) if isinstance(pending, list | tuple) else (),
            )
        target = self.target
        if not isinstance(target, FinishingTarget):
            # nothing can run them here: say so rather than pretend they ran
            missing = RetryLater("this target cannot run follow-ups again; finish them in the target")
            return [self.verdicts.unfinished(rec, docs[rec.id], missing, now) for rec in records]
        items = [FinishItem(rec.id, rec.source_id, rec.number, docs[rec.id], rec.request) for rec in records]
        try:
            results = list(await target.finish(items))
        except AccessDenied:
            raise
        except Exception as e:
            err = (
                e
                if isinstance(e, ConnectorError)
                else RetryLater(f"follow-ups failed unexpectedly: {why(e)}")
            )
            return [self.verdicts.unfinished(rec, docs[rec.id], err, now) for rec in records]
        by_key = {r.key: r for r in results}
        outcomes: list[Outcome] = []
        for rec in records:
            result = by_key.get(rec.id)
            if result is not None and result.doc is not None and result.error is None:
                outcomes.append(
                    self.verdicts.document(
                        rec, result.doc, now, reason="follow-ups finished", request=rec.request
                    )
                )
            else:
                err = (result.error if result is not None else None) or RetryLater(
                    "the target gave no answer for this document's follow-ups"
                )
                outcomes.append(self.verdicts.unfinished(rec, docs[rec.id], err, now))
        return outcomes


__all__ = ["Rebuild", "Recovery"]
