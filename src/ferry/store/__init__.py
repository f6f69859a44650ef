"""The ledger: records, watermarks, runs, API calls and events (SQLAlchemy Core; SQLite or PostgreSQL).

Imports nothing of ours but the shared kernel ``ferry.errors``: API calls are taken by duck typing
(:class:`ApiCallLike`).

Record statuses:

- ``pending``: collected, waiting to be dispatched.
- ``writing``: claimed by a dispatcher under a lease; the request may be on its way.
- ``written``: the target holds the document (``target_id``/``target_number``).
- ``finishing``: the target holds the document but its follow-ups (Kingdee Submit, Audit) have not all
  succeeded; due again at ``next_attempt_at``, claimed as ``finishing``: only the follow-ups are left,
  the document is never written again.
- ``failed``: a retryable error; due again at ``next_attempt_at``.
- ``dead``: a permanent error or attempts exhausted; replayed only by hand.
- ``skipped``: filtered out on purpose (``reason`` says why).
- ``quarantined``: failed a quality rule, or holds a value no backend can store (``reason``); fixable
  and re-queueable (a sanitized ``unstorable`` copy is never sent).
- ``held``: a data-quality check stopped it before any target call (待复核); never claimed, only a
  person moves it on (to ``pending`` or ``skipped``).
- ``in_doubt``: the request may have reached the target but no answer came back; ask the target
  (probe) before sending again.
- ``watching``: not final at the source yet (a RUNNING approval); re-checked at ``watch_next_at``.

Layout: :mod:`.db` (engines), :mod:`.schema` (tables), :mod:`.migrate` (Alembic, in code),
:mod:`.models` (value objects), :mod:`.calls` (buffered API-call log), :mod:`.ledger` (the Ledger
facade) over its sections: :mod:`.core` (shared state), :mod:`.intake` (collect), :mod:`.leases`
(claim, renew, release), :mod:`.outcomes` (finish), :mod:`.watching`, :mod:`.watermarks`, :mod:`.runs`, :mod:`.usage`
(API calls), :mod:`.lookups` (find), :mod:`.steering` (reads and manual moves), :mod:`.search`;
:mod:`.codec` (values in and out of the columns) and :mod:`.aio` (:class:`AsyncLedger`, the async facade).
"""

from ferry.store.aio import AsyncLedger, facade
from ferry.store.calls import CallLog
from ferry.store.codec import content_hash
from ferry.store.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, make_engine
from ferry.store.ledger import Ledger
from ferry.store.migrate import current_revision, schema_diff, upgrade
from ferry.store.models import (
    FINAL_STATUSES,
    FOLLOW_UP,
    PROBE_STATUSES,
    STATUSES,
    ApiCallLike,
    ApiUsage,
    Claimed,
    CollectCounts,
    Collected,
    EventRow,
    Outcome,
    RecordRow,
    RunRow,
    Status,
)
from ferry.store.rollup import LATENCY_BUCKETS_MS, CallRow, HourUsage
from ferry.store.schema import metadata

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "FINAL_STATUSES",
    "FOLLOW_UP",
    "LATENCY_BUCKETS_MS",
    "PROBE_STATUSES",
    "STATUSES",
    "ApiCallLike",
    "ApiUsage",
    "AsyncLedger",
    "CallLog",
    "CallRow",
    "Claimed",
    "CollectCounts",
    "Collected",
    "EventRow",
    "HourUsage",
    "Ledger",
    "Outcome",
    "RecordRow",
    "RunRow",
    "Status",
    "content_hash",
    "current_revision",
    "facade",
    "make_engine",
    "metadata",
    "schema_diff",
    "upgrade",
]
