"""Lookups (联查) for a batch: each record's ``enrich`` queries, asked in as few calls as the connection
allows, their first rows added to the record's content under the step's name.

A lookup that cannot be built quarantines its record (nothing was sent); one that failed is that
record's failure, retried under the scheme's policy; an :class:`AccessDenied` stops the pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ferry.connectors.base import BatchQuerier, Querier
from ferry.connectors.errors import AccessDenied, ConnectorError, RetryLater
from ferry.engine.transform import RenderError, Transform
from ferry.scheme import Scheme
from ferry.store import Claimed, Outcome

#: what a record's lookups end in: its enriched content, or the outcome that ends this attempt
Enriched = Mapping[str, Any] | Outcome
#: turns a failed lookup into the record's outcome (the dispatcher's retry policy)
Failure = Callable[[Claimed, ConnectorError], Outcome]


class Lookups:
    """The ``enrich`` steps of one scheme over the connections that answer them."""

    def __init__(self, scheme: Scheme, transform: Transform, queriers: Mapping[str, Querier]) -> None:
        self.scheme = scheme
        self.transform = transform
        self.queriers = dict(queriers)
        #: lookups in flight at once for connections that answer one at a time
        self._slots = asyncio.Semaphore(8)

    async def enrich(self, records: Sequence[Claimed], failure: Failure) -> dict[int, Enriched]:
        """Each record's content with every step's first row added (None when nothing matched), or
        the outcome that ends this attempt. A :class:`BatchQuerier` gets the whole batch at once."""
        results: dict[int, Enriched] = {}
        queries: dict[int, dict[str, dict[str, Any]]] = {}
        built = await asyncio.to_thread(
            lambda: {rec.id: _attempt(self.transform.enrich_queries, rec.content) for rec in records}
        )
        for rec in records:
            query = built[rec.id]
            if isinstance(query, RenderError):
                results[rec.id] = rec.outcome(
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
            answers = await self._answers(
                self.queriers[step.name], [queries[i][step.name] for i in ids], step.name
            )
            for rec_id, answer in zip(ids, answers, strict=True):
                if isinstance(answer, ConnectorError):
                    results[rec_id] = failure(by_id[rec_id], answer)
                else:
                    current = results[rec_id]
                    assert isinstance(current, dict)
                    current[step.name] = answer[0] if answer else None
        return results

    async def _answers(
        self, querier: Querier, params: list[dict[str, Any]], step: str
    ) -> list[list[dict[str, Any]] | ConnectorError]:
        if isinstance(querier, BatchQuerier):
            try:
                return list(await querier.query_many(params))
            except AccessDenied:
                raise
            except ConnectorError as e:
                return [e] * len(params)
            except Exception as e:
                return [RetryLater(f"lookup {step} failed unexpectedly: {why(e)}")] * len(params)
        return list(await asyncio.gather(*(self._ask(querier, p) for p in params)))

    async def _ask(
        self, querier: Querier, params: Mapping[str, Any]
    ) -> list[dict[str, Any]] | ConnectorError:
        async with self._slots:
            try:
                return await querier.query(params)
            except AccessDenied:
                raise
            except ConnectorError as e:
                return e
            except Exception as e:
                return RetryLater(f"lookup failed unexpectedly: {why(e)}")


def _attempt(fn: Callable[[Mapping[str, Any]], dict[str, dict[str, Any]]], content: Mapping[str, Any]) -> Any:
    """``fn(content)``, or the RenderError it raised (so one record's failure stays its own)."""
    try:
        return fn(content)
    except RenderError as e:
        return e


def why(e: BaseException) -> str:
    """An unexpected error as a reason: its type, then its text."""
    text = str(e)
    return f"{type(e).__name__}: {text}"[:500] if text else type(e).__name__


__all__ = ["Enriched", "Lookups", "why"]
