"""Steering records by hand: retry, skip and replay, with the safe-replay rules, for ``ferry records`` and
the console alike (one set of rules, whoever asks).

Safe replay, because a replayed record can become a payment:
- in-doubt records are never replayed (the probe settles them), nor records under a live lease
  (:meth:`Ledger.set_status` never touches those);
- a record skipped because of its state at the source (a refused, revoked or cancelled approval) is not
  replayed from the ledger: it is read again from the source and acted on in its fresh state
  (:meth:`Engine.reread`; a refused approval stays skipped), or left out when no engine can read it.

Every move is an event with its reason and, when given, who asked (``detail.by``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ferry.store import Ledger, RecordRow

Action = Literal["retry", "skip", "replay"]

#: statuses a retry sends back to ``pending`` (attempts reset)
RETRYABLE: tuple[str, ...] = ("failed", "dead", "quarantined")
#: statuses a skip takes
SKIPPABLE: tuple[str, ...] = ("pending", "failed", "dead", "quarantined", "in_doubt")
#: statuses a replay may send back to ``pending``
REPLAYABLE: tuple[str, ...] = ("dead", "quarantined", "skipped", "failed")
#: what a replay takes when no status is named
REPLAY_DEFAULT: tuple[str, ...] = ("dead", "quarantined")
RETRY_REASON = "retry requested by hand"
SKIP_REASON = "skipped by hand"
REPLAY_REASON = "replayed by hand"
NOT_REPLAYABLE = {
    "in_doubt": "in doubt: settled by the probe automatically (found -> written, not found -> resent)",
    "writing": "being written under a lease",
    "written": "already written",
    "pending": "already pending",
    "watching": "still watched at the source",
    "finishing": "its document exists; its follow-ups are retried automatically",
    "held": "held for review: release or reject it (`ferry records release|reject`)",
}


def skipped_by_the_scheme(row: RecordRow) -> bool:
    """True when a skipped record was skipped by this scheme's own condition or by a person, so it
    may be replayed from the ledger. Anything else skipped is taken as the source's own verdict
    (a refused approval): when unsure, re-read it rather than risk a payment for it."""
    reason = row.reason or ""
    return row.last_error_type in ("filtered", "manual") or reason.startswith("filtered:")


@dataclass
class ReplayPlan:
    """What a replay of some records will do, before it does anything."""

    from_ledger: list[RecordRow] = field(default_factory=list)
    #: skipped at the source: read again from the source (needs an engine and the scheme)
    from_source: list[RecordRow] = field(default_factory=list)
    #: (record id, why it is left out)
    left_out: list[tuple[int, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.from_ledger) + len(self.from_source)


def plan_replay(
    rows: Sequence[RecordRow], statuses: Sequence[str] = REPLAYABLE, *, can_reread: bool = True
) -> ReplayPlan:
    """Sort ``rows`` into replayed from the ledger, re-read from the source, and left out (with why)."""
    plan = ReplayPlan()
    for row in rows:
        if row.status not in statuses:
            plan.left_out.append(
                (row.id, NOT_REPLAYABLE.get(row.status, f"status {row.status} not asked for"))
            )
        elif row.status != "skipped" or skipped_by_the_scheme(row):
            plan.from_ledger.append(row)
        elif can_reread:
            plan.from_source.append(row)
        else:
            plan.left_out.append(
                (row.id, f"skipped because of its state at the source ({row.reason}); it must be read again")
            )
    return plan


def touched(rows: Sequence[RecordRow], action: Action) -> list[RecordRow]:
    """The rows an action would move (the others are in a status it leaves alone)."""
    allowed = {"retry": RETRYABLE, "skip": SKIPPABLE, "replay": REPLAYABLE}[action]
    return [r for r in rows if r.status in allowed]


def retry(ledger: Ledger, ids: Sequence[int], *, by: str | None = None) -> int:
    """Failed, dead or quarantined records back to ``pending`` with attempts reset; how many moved."""
    return ledger.set_status(ids, "pending", RETRY_REASON, only_from=RETRYABLE, reset_attempts=True, by=by)


def skip(ledger: Ledger, ids: Sequence[int], reason: str = SKIP_REASON, *, by: str | None = None) -> int:
    """Records set aside (``skipped``) so dispatch leaves them alone; how many moved."""
    return ledger.set_status(ids, "skipped", reason, only_from=SKIPPABLE, by=by)


def replay_from_ledger(
    ledger: Ledger, rows: Sequence[RecordRow], statuses: Sequence[str] = REPLAYABLE, *, by: str | None = None
) -> set[int]:
    """Move ``rows`` back to pending (attempts reset); the ids that really moved (a claim may have
    taken one meanwhile)."""
    if not rows:
        return set()
    n = ledger.set_status(
        [r.id for r in rows], "pending", REPLAY_REASON, only_from=statuses, reset_attempts=True, by=by
    )
    if n == len(rows):
        return {r.id for r in rows}
    moved = set()
    for r in rows:
        now = ledger.get_by_id(r.id)
        if now is not None and now.status == "pending" and now.reason == REPLAY_REASON:
            moved.add(r.id)
    return moved


__all__ = [
    "NOT_REPLAYABLE",
    "REPLAYABLE",
    "REPLAY_DEFAULT",
    "REPLAY_REASON",
    "RETRYABLE",
    "RETRY_REASON",
    "SKIPPABLE",
    "SKIP_REASON",
    "Action",
    "ReplayPlan",
    "plan_replay",
    "replay_from_ledger",
    "retry",
    "skip",
    "skipped_by_the_scheme",
    "touched",
]
