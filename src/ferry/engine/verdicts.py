"""What one claimed record's attempt comes to, decided in one place by the scheme's retry policy.

- A typed connector error: ``failed`` with back-off (retry, slow down), ``in_doubt`` (the write may
  have landed: the probe decides), ``dead`` (permanent, or attempts exhausted).
- A document the target holds: ``written`` once its follow-ups (Submit, Audit) are all done;
  ``finishing`` while some are still to succeed, retried under the same policy; ``dead`` with the
  document kept when they never did. A record whose document exists is never written again: retrying
  or replaying it only runs its follow-ups.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

from ferry.connectors.base import TargetDoc
from ferry.connectors.errors import ConnectorError, OutcomeUnknown
from ferry.engine.retry import next_attempt_at
from ferry.observe.redact import redact_value
from ferry.scheme import RetryPolicy
from ferry.store import FOLLOW_UP, Claimed, Outcome


class Verdicts:
    """Outcomes for the records of one scheme, by its retry policy."""

    def __init__(self, policy: RetryPolicy, *, reconcile: bool = True) -> None:
        self.policy = policy
        #: without reconciliation (the chaos test's negative control) an unknown outcome is a retry
        self.reconcile = reconcile
        #: inside :meth:`one_batch`: responses redacted so far by identity, so a target that answers a
        #: batch with one response shared by its records has it walked once, not once per record
        self._redacted: dict[int, tuple[Any, Any]] | None = None

    def failure(
        self, rec: Claimed, request: dict[str, Any] | None, err: ConnectorError, now: dt.datetime
    ) -> Outcome:
        """The outcome of a failed attempt, by the error's type."""
        attempts = rec.attempts + 1
        common: dict[str, Any] = {
            "error_type": err.action,
            "error_code": err.code,
            "error_message": str(err),
            "request": request,
        }
        if isinstance(err, OutcomeUnknown) and self.reconcile:
            # may have been applied: the next claim probes first; does not count towards giving up
            return rec.outcome(
                "in_doubt",
                reason=f"outcome unknown: {err}",
                next_attempt_at=now + dt.timedelta(seconds=err.retry_after or 5.0),
                **common,
            )
        if err.action == "give_up":
            return rec.outcome("dead", reason=f"permanent error: {err}", **common)
        if attempts >= self.policy.max_attempts:
            return rec.outcome("dead", reason=f"gave up after {attempts} attempts: {err}", **common)
        return rec.outcome(
            "failed",
            reason=f"attempt {attempts} failed: {err}",
            next_attempt_at=next_attempt_at(self.policy, attempts, now, retry_after=err.retry_after),
            **common,
        )

    def document(
        self, rec: Claimed, doc: TargetDoc, now: dt.datetime, *, reason: str, request: dict[str, Any] | None
    ) -> Outcome:
        """The target holds ``doc`` for this record: written, or finishing while follow-ups remain."""
        # whatever a target echoes back (an API key in a header dump) never reaches the ledger
        response = self._redact(doc.response)
        if not doc.pending or not doc.id:
            text = f"saved as a draft: {doc.message}" if doc.draft and doc.message else doc.message or reason
            if doc.pending:
                text = f"{text}; {', '.join(doc.pending)} not done, and the document has no id to do it by"
            # built directly, not through keyword dicts: once per record written (a third of the cost)
            return Outcome(
                rec.id,
                "written",
                reason=text,
                target_id=doc.id,
                target_number=doc.number,
                draft=doc.draft,
                request=request,
                response=response,
                lease_token=rec.lease_token,
            )
        base: dict[str, Any] = {
            "target_id": doc.id,
            "target_number": doc.number,
            "draft": doc.draft,
            "request": request,
            "response": response,
        }
        attempts = rec.attempts + 1
        what = f"{doc.number or doc.id} exists; {' then '.join(doc.pending)} still to do"
        detail = f": {doc.message}" if doc.message else ""
        errors = {"error_type": FOLLOW_UP, "error_message": doc.message or what}
        if attempts >= self.policy.max_attempts:
            return rec.outcome(
                "dead",
                reason=f"{what} after {attempts} attempts{detail}; finish it in the target by hand (a retry "
                "only runs its follow-ups again)",
                **base,
                **errors,
            )
        return rec.outcome(
            "finishing",
            reason=f"{what}{detail}",
            next_attempt_at=next_attempt_at(self.policy, attempts, now),
            **base,
            **errors,
        )

    @contextlib.contextmanager
    def one_batch(self) -> Iterator[None]:
        """The verdicts of one target answer: a response shared by several documents is redacted
        once. Only for one answer: a secret registered later must be masked in later responses."""
        self._redacted = {}
        try:
            yield
        finally:
            self._redacted = None

    def _redact(self, response: Any) -> Any:
        if response is None:
            return None
        memo = self._redacted
        if memo is None:
            return redact_value(response)
        # keyed by identity, the response kept beside its copy so the id cannot be reused meanwhile
        found = memo.get(id(response))
        if found is None:
            found = memo[id(response)] = (response, redact_value(response))
        return found[1]

    def unfinished(self, rec: Claimed, doc: TargetDoc, err: ConnectorError, now: dt.datetime) -> Outcome:
        """The follow-ups of a document that exists could not be run at all this time."""
        stuck = TargetDoc(
            id=doc.id,
            number=doc.number,
            draft=doc.draft,
            message=str(err),
            response=doc.response,
            pending=doc.pending or ("follow-ups",),
        )
        return self.document(rec, stuck, now, reason="follow-ups failed", request=rec.request)

    def probe_failed(self, rec: Claimed, err: ConnectorError, now: dt.datetime) -> Outcome:
        """The target could not be asked whether an earlier write landed: stay in doubt, never resend
        blind; ask again after the policy's back-off (it does not count towards giving up)."""
        wait = next_attempt_at(self.policy, max(1, rec.attempts), now, retry_after=err.retry_after)
        return rec.outcome(
            "in_doubt",
            reason=f"earlier write may have reached the target; the check failed: {err}",
            error_type=err.action,
            error_code=err.code,
            error_message=str(err),
            next_attempt_at=wait,
            count_attempt=False,
        )

    def unknown(self, rec: Claimed, reason: str, now: dt.datetime) -> Outcome:
        """Sent, then the batch stopped before its answer was stored: the probe settles it."""
        return rec.outcome(
            "in_doubt",
            reason=reason,
            error_type="reconcile",
            error_message=reason,
            next_attempt_at=now + dt.timedelta(seconds=5),
            count_attempt=False,
        )


__all__ = ["FOLLOW_UP", "Verdicts"]
