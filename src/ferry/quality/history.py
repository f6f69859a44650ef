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

import datetime as dt
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
        record_id: int,
        batch: Collection[int] = (),
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 20,
    ) -> Sequence[PastFact]:
        """Other records' facts of ``kind`` with one of ``keys`` (``at`` within [since, until])."""
        ...

    def payee_facts(self, scheme: str, payee: str, *, record_id: int, limit: int = 200) -> Sequence[PastFact]:
        """The latest payment facts of ``payee`` from older records, newest first."""
        ...

    def account_known(self, scheme: str, payee: str, account: str, *, record_id: int) -> bool:
        """Has an older record paid ``payee`` on ``account``?"""
        ...

    def released_rules(self, record_id: int) -> set[str]:
        """Rules whose hold of this record a person released (they only warn when made again)."""
        ...

    def store_findings(self, scheme: str, findings: Mapping[int, Sequence[Mapping[str, Any]]]) -> None:
        """Keep each record's findings (``Finding.as_dict()``) for its story and the reports."""


__all__ = ["Fact", "History", "PastFact"]
