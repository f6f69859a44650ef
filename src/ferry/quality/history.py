"""The narrow history interface the checks need; the ledger implements it (:mod:`ferry.store.facts`).

A record adds *facts* to its scheme's history when it is checked: its payment (payee, amount, business
date, summary, account), its normalised reference number, the values of its ``unique`` rules. A check
then looks for other records' facts by key, in a few indexed lookups.

Contract notes (the store keeps them):
- A record's facts are stored before its history checks run, in one transaction per batch, so two
  workers checking duplicates at the same moment both see each other (both are held: never both sent).
- A fact matches when its record is older (lower ledger id), or newer and already sent or being sent by
  another worker; never a record of the same batch that is newer (that one is flagged instead), nor
  one that was rejected, quarantined or dead (it was never paid).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Fact:
    """One key a record adds to its scheme's history."""

    #: ``payment`` (key: payee and amount), ``reference`` (the normalised number), ``unique:<rule>``
    kind: str
    key: str
    #: the business date (payment) or the check time (unique)
    at: dt.datetime | None = None
    payee: str | None = None
    amount_cents: int | None = None
    account: str | None = None
    summary: str | None = None


class PastFact(Protocol):
    """A fact of another record, as the store returns it."""

    @property
    def record_id(self) -> int: ...
    @property
    def number(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def at(self) -> dt.datetime | None: ...
    @property
    def amount_cents(self) -> int | None: ...
    @property
    def account(self) -> str | None: ...
    @property
    def summary(self) -> str | None: ...


class History(Protocol):
    """What the checks ask of the ledger."""

    def note_facts(self, scheme: str, facts: Mapping[int, Sequence[Fact]]) -> None:
        """Replace the facts of each record id with the ones given (one transaction)."""

    def matching_facts(
        self,
        scheme: str,
        kind: str,
        keys: Sequence[str],
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 1000,
    ) -> Sequence[PastFact]:
        """Facts of ``kind`` with one of ``keys`` (``at`` within [since, until]) of records that may
        have been paid (not rejected, quarantined or dead), newest record first."""
        ...

    def payee_facts(self, scheme: str, payee: str, *, before: int, limit: int = 60) -> Sequence[PastFact]:
        """The latest payment facts of ``payee`` from records older than ``before``, newest first (their
        ``amount_cents``, ``account`` and ``status`` at least)."""
        ...

    def account_known(self, scheme: str, payee: str, account: str, *, before: int) -> bool:
        """Has a record older than ``before`` paid ``payee`` on ``account``?"""
        ...

    def payment_facts_after(
        self, scheme: str, after: int | None
    ) -> tuple[int, Sequence[tuple[int, str, int | None, str | None]]]:
        """The payment facts stored since fact id ``after`` as (record id, payee, amount in cents,
        account), and the highest fact id now (``after`` None: only that id)."""
        ...

    def released_rules(self, record_ids: Sequence[int]) -> dict[int, set[str]]:
        """Per record, the rules whose hold of it a person released (they only warn when made again)."""
        ...

    def store_findings(self, scheme: str, findings: Mapping[int, Sequence[Mapping[str, Any]]]) -> None:
        """Keep each record's findings (``Finding.as_dict()``) for its story and the reports."""


#: a newer record in one of these has gone (or is going) to the target
SENT = frozenset({"writing", "written", "finishing", "in_doubt", "failed"})


def counts_for(fact: PastFact, record_id: int, batch: Collection[int]) -> bool:
    """Does another record's fact count against ``record_id``? Older records always; newer ones only
    when already sent or being sent by another worker (not this batch: its newer record is the one
    flagged)."""
    if fact.record_id == record_id:
        return False
    if fact.record_id < record_id:
        return True
    return fact.status in SENT and fact.record_id not in batch


class PayeeMemory:
    """Each payee's latest payments (amount, account), kept across batches: a batch asks the ledger only
    for the facts stored since the last batch (one lookup), and for a payee's history the first time it
    is seen. Bounded: ``limit`` payments per payee, ``max_payees`` payees (least recently used go).

    A payment rejected after it was remembered still counts in its payee's statistics until the
    process restarts: an outlier is a warning, and the account check asks the ledger before it warns.
    """

    def __init__(self, limit: int = 50, max_payees: int = 5000) -> None:
        self.limit = limit
        self.max_payees = max_payees
        self._after: int | None = None
        self._payees: OrderedDict[str, _Known] = OrderedDict()

    def refresh(self, history: History, scheme: str) -> None:
        self._after, new = history.payment_facts_after(scheme, self._after)
        for record_id, payee, cents, account in new:
            known = self._payees.get(payee)
            if known is not None:
                known.add(_Remembered(record_id, cents, account), self.limit)

    def recent(
        self, history: History, scheme: str, payee: str, record_id: int, *, load_before: int
    ) -> list[_Remembered]:
        known = self._payees.get(payee)
        if known is None:
            # first sight of the payee: its history up to the end of this batch (the batch's facts are in)
            rows = history.payee_facts(scheme, payee, before=load_before, limit=self.limit + 100)
            known = _Known()
            for f in reversed(rows):  # oldest first: each is an append
                known.add(_Remembered(f.record_id, f.amount_cents, f.account))
            self._payees[payee] = known
            while len(self._payees) > self.max_payees:
                self._payees.popitem(last=False)
        else:
            self._payees.move_to_end(payee)
        return known.before(record_id, self.limit)


@dataclass(frozen=True, slots=True)
class _Remembered:
    record_id: int
    amount_cents: int | None
    account: str | None


class _Known:
    """One payee's remembered payments in record order: the latest before a record is a bisection, not
    a sort (this runs for every record checked)."""

    __slots__ = ("ids", "payments")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.payments: dict[int, _Remembered] = {}

    def add(self, payment: _Remembered, limit: int | None = None) -> None:
        """Remember a payment; with ``limit``, past twice that many only the latest ``limit`` are kept."""
        rid = payment.record_id
        if rid not in self.payments:
            if self.ids and rid < self.ids[-1]:
                bisect.insort(self.ids, rid)
            else:
                self.ids.append(rid)
        self.payments[rid] = payment
        if limit is not None and len(self.ids) > 2 * limit:
            for old in self.ids[: len(self.ids) - limit]:
                del self.payments[old]
            del self.ids[: len(self.ids) - limit]

    def before(self, record_id: int, limit: int) -> list[_Remembered]:
        """The latest ``limit`` payments of records older than ``record_id``, newest first."""
        end = bisect.bisect_left(self.ids, record_id)
        payments = self.payments
        return [payments[rid] for rid in reversed(self.ids[max(0, end - limit) : end])]


class BatchHistory:
    """The history one batch needs, fetched in a few lookups: every payment key and reference of the
    batch at once, each payee's latest payments once."""

    def __init__(
        self, history: History, scheme: str, batch: Collection[int], memory: PayeeMemory | None = None
    ) -> None:
        self.history = history
        self.scheme = scheme
        self.batch = set(batch)
        self._by_kind: dict[str, dict[str, list[PastFact]]] = {}
        self.memory = memory if memory is not None else PayeeMemory()
        self._end = max(self.batch) + 1 if self.batch else 0
        self.memory.refresh(history, scheme)

    def prefetch(
        self,
        kind: str,
        keys: Collection[str],
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> None:
        found: dict[str, list[PastFact]] = {}
        if keys:
            for fact in self.history.matching_facts(self.scheme, kind, list(keys), since=since, until=until):
                found.setdefault(fact.key, []).append(fact)
        self._by_kind[kind] = found

    def matches(
        self,
        kind: str,
        keys: Sequence[str],
        record_id: int,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[PastFact]:
        """Other records' facts of ``kind`` with one of ``keys`` that count against ``record_id``,
        newest first (from the prefetched facts; fetched now if the kind was not prefetched)."""
        table = self._by_kind.get(kind)
        if table is None:
            table = {}
            for fact in self.history.matching_facts(self.scheme, kind, list(keys), since=since, until=until):
                table.setdefault(fact.key, []).append(fact)
        out = [
            f
            for k in keys
            for f in table.get(k, ())
            if counts_for(f, record_id, self.batch)
            and (since is None or (f.at is not None and f.at >= since))
            and (until is None or (f.at is not None and f.at <= until))
        ]
        return sorted(out, key=lambda f: -f.record_id)

    def payee(self, payee: str, record_id: int) -> list[_Remembered]:
        """The payee's latest payments from records older than ``record_id``, newest first."""
        return self.memory.recent(self.history, self.scheme, payee, record_id, load_before=self._end)

    def account_known(self, payee: str, account: str, record_id: int) -> bool:
        return self.history.account_known(self.scheme, payee, account, before=record_id)


__all__ = ["SENT", "BatchHistory", "Fact", "History", "PastFact", "PayeeMemory", "counts_for"]
