"""Value objects that go in and out of the ledger. Frozen where they describe stored rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Status = Literal[
    "pending",
    "writing",
    "written",
    "finishing",
    "failed",
    "dead",
    "skipped",
    "quarantined",
    "held",
    "in_doubt",
    "watching",
]
#: the whole status vocabulary, in life-cycle order
STATUSES: tuple[str, ...] = (
    "pending",
    "writing",
    "written",
    "finishing",
    "failed",
    "dead",
    "skipped",
    "quarantined",
    "held",
    "in_doubt",
    "watching",
)
#: statuses dispatch is done with; a record in one of these whose content changes at the source is
#: written again under ``on_change="rewrite"``. Not ``finishing`` (the target holds the document: only
#: its follow-ups are left) nor ``held`` (a person is reviewing that very content): collect never
#: changes their content; the usual rule applies to the next change seen once they have moved on.
FINAL_STATUSES: frozenset[str] = frozenset({"written", "skipped", "dead", "quarantined"})
#: statuses whose request may have reached the target: ask the target before sending again.
#: Not ``finishing``: there the target is known to hold the document (``target_id``).
PROBE_STATUSES: frozenset[str] = frozenset({"in_doubt", "writing"})
#: ``last_error_type`` of a record stored as a sanitized copy because its content could not be held
UNSTORABLE = "unstorable"
#: ``last_error_type`` of a record whose document exists but whose follow-ups (Submit, Audit) gave up:
#: a retry runs the follow-ups again (``finishing``), never a second write
FOLLOW_UP = "follow_up"
#: statuses a claim takes when due (besides ``writing`` under an expired lease); never ``held``
RETRY_STATUSES: tuple[str, ...] = ("failed", "in_doubt", "finishing")


@dataclass(slots=True)
class Collected:
    """One source record as collect hands it to the ledger."""

    source_id: str
    number: str | None
    content: dict[str, Any]
    status: Literal["pending", "watching", "skipped", "quarantined"] = "pending"
    reason: str | None = None
    partition: str = ""
    watch_next_at: dt.datetime | None = None
    watch_until: dt.datetime | None = None


@dataclass(slots=True)
class CollectCounts:
    """What one :meth:`Ledger.collect` call did with its page."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    ignored: int = 0

    def __iadd__(self, other: CollectCounts) -> CollectCounts:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.ignored += other.ignored
        return self

    def as_dict(self) -> dict[str, int]:
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "ignored": self.ignored,
        }


@dataclass(frozen=True)  # not slots: see ``claimed_row``
class Claimed:
    """A record handed to one dispatcher under a lease."""

    id: int
    scheme: str
    source_id: str
    number: str | None
    content: dict[str, Any]
    attempts: int
    previous_status: str
    target_id: str | None
    target_number: str | None
    request: dict[str, Any] | None
    #: the request may already have reached the target (in doubt, or a crashed writer's lease):
    #: ask the target before sending it again
    needs_probe: bool
    #: this claim's fence: pass it back in :attr:`Outcome.lease_token` (or to ``renew``/``release``);
    #: once another claim took the record, this token no longer matches and nothing applies
    lease_token: int = 0

    def outcome(self, status: OutcomeStatus, **fields: Any) -> Outcome:
        """An :class:`Outcome` for this record under this claim's lease token."""
        return Outcome(self.id, status, lease_token=self.lease_token, **fields)


def claimed_row(
    record_id: int,
    scheme: str,
    source_id: str,
    number: str | None,
    content: dict[str, Any],
    attempts: int,
    previous_status: str,
    target_id: str | None,
    target_number: str | None,
    request: dict[str, Any] | None,
    needs_probe: bool,
    lease_token: int,
) -> Claimed:
    """A :class:`Claimed` built for a claim's rows: a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__`` (1.5 µs a record, the most of a claim's Python); filling the instance
    dict at once costs a third of that and makes the same object."""
    claimed: Claimed = _new_object(Claimed)
    claimed.__dict__.update(
        id=record_id,
        scheme=scheme,
        source_id=source_id,
        number=number,
        content=content,
        attempts=attempts,
        previous_status=previous_status,
        target_id=target_id,
        target_number=target_number,
        request=request,
        needs_probe=needs_probe,
        lease_token=lease_token,
    )
    return claimed


_new_object = object.__new__

OutcomeStatus = Literal[
    "written",
    "finishing",
    "failed",
    "dead",
    "skipped",
    "quarantined",
    "held",
    "in_doubt",
    "pending",
    "watching",
]


@dataclass(slots=True)
class Outcome:
    """What dispatch learned about one claimed record.

    ``None`` in ``target_id``, ``target_number``, ``request``, ``response``, ``content``, ``watch_*``
    keeps the stored value; ``reason``, ``draft``, the error fields and ``next_attempt_at`` are always
    replaced (so a written outcome clears the last error). It applies only under ``lease_token``, the
    token of the claim that handed the record out (:meth:`Claimed.outcome` sets it); an outcome without
    one, or with another claim's, is not applied.
    """

    record_id: int
    status: OutcomeStatus
    reason: str | None = None
    target_id: str | None = None
    target_number: str | None = None
    draft: bool = False
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    next_attempt_at: dt.datetime | None = None
    request: dict[str, Any] | None = None
    response: Any = None
    count_attempt: bool = True
    content: dict[str, Any] | None = None
    watch_next_at: dt.datetime | None = None
    watch_until: dt.datetime | None = None
    lease_token: int | None = None


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A ``records`` row."""

    id: int
    scheme: str
    source_id: str
    partition: str
    number: str | None
    content: dict[str, Any]
    content_hash: str
    status: str
    reason: str | None
    draft: bool
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error_type: str | None
    last_error_code: str | None
    last_error_message: str | None
    target_id: str | None
    target_number: str | None
    request: dict[str, Any] | None
    response: Any
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    lease_prev_status: str | None
    lease_token: int | None
    watch_next_at: dt.datetime | None
    watch_until: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    """An ``events`` row: one transition of one record."""

    id: int
    record_id: int
    at: dt.datetime
    from_status: str | None
    to_status: str
    reason: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RunRow:
    """A ``runs`` row."""

    id: int
    scheme: str
    kind: str
    trigger: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    counts: dict[str, int] | None
    error: str | None
    owner: str | None
    heartbeat_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """Outbound calls of one (connection, api) over a period."""

    connection: str
    api: str
    calls: int
    errors: int
    avg_latency_ms: float
    p95_latency_ms: float
    metered: int


class ApiCallLike(Protocol):
    """The attributes the store reads from an API call (``ferry.observe.calls.ApiCall`` has them).

    Duck-typed so the store imports nothing of ours; an optional ``scheme`` attribute is stored too.
    """

    @property
    def connection(self) -> str: ...
    @property
    def api(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def http_status(self) -> int | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def metered(self) -> bool: ...
    @property
    def at(self) -> dt.datetime: ...
