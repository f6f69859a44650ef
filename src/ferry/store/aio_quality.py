"""The async twins of the quality sections of the ledger (:mod:`.facts`, :mod:`.findings`), mixed into
:class:`ferry.store.AsyncLedger`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from ferry.store.facts import FactRow
from ferry.store.findings import FindingRow, HeldRow
from ferry.store.ledger import Ledger

P = ParamSpec("P")
R = TypeVar("R")


class QualityTwins:
    """``await``-able quality methods of :class:`Ledger`."""

    ledger: Ledger

    async def _run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        raise NotImplementedError

    async def note_facts(self, scheme: str, facts: Mapping[int, Sequence[Any]]) -> None:
        """Replace the facts of each record id with the ones given (``ferry.quality.Fact``-like)."""
        return await self._run(self.ledger.note_facts, scheme, facts)

    async def matching_facts(
        self,
        scheme: str,
        kind: str,
        keys: Sequence[str],
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 1000,
    ) -> list[FactRow]:
        """Facts of ``kind`` with one of ``keys`` (``at`` within [since, until]) of records that may have"""
        return await self._run(
            self.ledger.matching_facts, scheme, kind, keys, since=since, until=until, limit=limit
        )

    async def payee_facts(self, scheme: str, payee: str, *, before: int, limit: int = 60) -> list[FactRow]:
        """The latest payment facts of ``payee`` from records older than ``before``, newest first (only"""
        return await self._run(self.ledger.payee_facts, scheme, payee, before=before, limit=limit)

    async def account_known(self, scheme: str, payee: str, account: str, *, before: int) -> bool:
        """Has a record older than ``before`` (not rejected) paid ``payee`` on ``account``?"""
        return await self._run(self.ledger.account_known, scheme, payee, account, before=before)

    async def payment_facts_after(
        self, scheme: str, after: int | None
    ) -> tuple[int, list[tuple[int, str, int | None, str | None]]]:
        """The payment facts stored since fact id ``after`` as (record id, payee, amount in cents,"""
        return await self._run(self.ledger.payment_facts_after, scheme, after)

    async def released_rules(self, record_ids: Sequence[int]) -> dict[int, set[str]]:
        """Per record, the rules whose hold of it a person released (records without any left out)."""
        return await self._run(self.ledger.released_rules, record_ids)

    async def store_findings(
        self, scheme: str, found: Mapping[int, Sequence[Mapping[str, Any]]], *, now: dt.datetime | None = None
    ) -> None:
        """Keep each record's findings (``Finding.as_dict()`` plus an optional ``payee``)."""
        return await self._run(self.ledger.store_findings, scheme, found, now=now)

    async def findings_of(self, record_id: int) -> list[FindingRow]:
        """Every finding ever made about one record, oldest first."""
        return await self._run(self.ledger.findings_of, record_id)

    async def hold_records(
        self, record_ids: Sequence[int], who: str, reason: str, *, now: dt.datetime | None = None
    ) -> int:
        """Hold records for review by hand (only ``pending``, ``failed``, ``quarantined``, ``dead`` ones"""
        return await self._run(self.ledger.hold_records, record_ids, who, reason, now=now)

    async def release_held(
        self, record_ids: Sequence[int], who: str, reason: str, *, now: dt.datetime | None = None
    ) -> int:
        """Release held records to ``pending`` (dispatched again; the released rules then only warn)."""
        return await self._run(self.ledger.release_held, record_ids, who, reason, now=now)

    async def reject_held(
        self, record_ids: Sequence[int], who: str, reason: str, *, now: dt.datetime | None = None
    ) -> int:
        """Reject held records: ``skipped``, never sent."""
        return await self._run(self.ledger.reject_held, record_ids, who, reason, now=now)

    async def held(self, scheme: str | None = None, *, limit: int = 200) -> list[HeldRow]:
        """Records waiting for review, longest waiting first."""
        return await self._run(self.ledger.held, scheme, limit=limit)

    async def findings_between(
        self, *, scheme: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[tuple[str, dt.datetime, str, str, str | None, str | None]]:
        """(scheme, at, rule, verdict, payee, resolution) of every finding made in [since, until)."""
        return await self._run(self.ledger.findings_between, scheme=scheme, since=since, until=until)

    async def payment_amounts(
        self, *, scheme: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[tuple[str, dt.datetime | None, int]]:
        """(scheme, business date, amount in cents) of the payments checked, for Benford's test."""
        return await self._run(self.ledger.payment_amounts, scheme=scheme, since=since, until=until)
