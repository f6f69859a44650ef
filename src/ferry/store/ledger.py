"""The ledger: the durable queue between collect and dispatch, and the books around it.

Contract notes (the engine relies on them):
- A record is in the ledger before anything is sent for it: collect writes it, dispatch claims it.
- One id, one row: ``(scheme, source_id)`` is unique, so a record collected twice (overlapping windows,
  two processes) is taken once (``idCheck``).
- A record is dispatched by one owner at a time: a claim sets ``writing`` with a lease and a fresh
  lease token.
- An outcome applies only under its own lease token: ``finish``, ``renew`` and ``release`` change a
  record only while it is ``writing`` under the owner and token of the claim that handed it out, and
  return what they did not apply; a worker that lost its lease cannot overwrite the one that took over.
- A lease that expired while ``writing`` means a worker died mid-write: the next claim says
  ``needs_probe`` because the target may already hold the document.
- Each public method is one short transaction; on SQLite every write transaction takes the write lock
  at BEGIN (``BEGIN IMMEDIATE``), on PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``.

:class:`Ledger` is a facade: each section lives in its own module (:mod:`.intake` collect,
:mod:`.leases` claim/renew/release, :mod:`.outcomes` finish, :mod:`.watching`, :mod:`.watermarks`, :mod:`.runs`,
:mod:`.usage` API calls and :mod:`.rollup` their lasting hourly usage, :mod:`.lookups` find, :mod:`.steering` reads and manual moves, :mod:`.search`,
:mod:`.facts` the quality checks' history, :mod:`.findings` findings and review),
all over the
shared state of :class:`ferry.store.core.LedgerCore`.

The API is synchronous; :class:`ferry.store.AsyncLedger` is the same API for the event loop, on a thread
pool of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ferry.store.core import utc
from ferry.store.facts import Facts
from ferry.store.findings import BatchFindings, Review
from ferry.store.gauges import Gauges
from ferry.store.intake import Intake
from ferry.store.leases import FactsHook, Leases
from ferry.store.lookups import Lookups
from ferry.store.models import Claimed, Outcome
from ferry.store.outcomes import Outcomes, checked_outcomes
from ferry.store.rollup import ApiRollup
from ferry.store.runs import Runs
from ferry.store.search import Search
from ferry.store.steering import Steering
from ferry.store.watching import Watching
from ferry.store.watermarks import Watermarks


class Ledger(
    Intake,
    Leases,
    Outcomes,
    Watching,
    Watermarks,
    Runs,
    ApiRollup,
    Lookups,
    Steering,
    Search,
    Gauges,
    Facts,
    Review,
):
    """Records, watermarks, runs, events and the API-call log in one database.

    Pass ``url`` (default ``$FERRY_DATABASE_URL`` or ``sqlite:///ferry.db``) or an ``engine`` made by
    :func:`ferry.store.make_engine` (the SQLite tuning lives there). Call :meth:`migrate` once at start.
    """

    def finish_and_claim(
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
        """:meth:`finish` a batch and :meth:`claim` the next in one transaction: (the ids NOT applied,
        the records claimed). Both keep their own guarantees; together they pay one commit, and on
        SQLite one turn of the write lock, where dispatch of a quick target paid two."""
        by_id = checked_outcomes(outcomes)
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        now = utc(now)
        with self._cursor() as cur:
            lost = self._finish_in(cur, owner, by_id, now, findings) if by_id else []
            claimed = (
                self._claim_in(cur, scheme, owner, limit, lease_seconds, now, facts) if limit > 0 else []
            )
        return lost, claimed

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
