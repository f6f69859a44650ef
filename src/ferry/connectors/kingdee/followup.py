"""Follow-up operations (Submit, Audit, ...) on documents the Kingdee target created or found.

The same code serves a fresh write, the probe (a Push whose answer was lost never got its follow-ups)
and ``finish`` (follow-ups that did not succeed earlier). Contract notes:

- A follow-up failure never turns an existing document into a failure: writing the item again would
  duplicate it. The document comes back with ``pending`` = the failed operation and every later one,
  in order, and ``message`` says why (Kingdee's words); ``finish`` runs them later.
- Each operation is one call per form for every document that needs it (``batch_size`` bounds a call),
  by id, answered per bill; a document whose operation failed skips the later ones.
- Safe to repeat: Kingdee's "already submitted/audited" answers count as done, and a status known to
  be past an operation (B/C for Submit, C for Audit) costs no call. Only Submit and Audit are sent
  again after a lost answer; another operation whose answer was lost is left for a person.
- Drafts (暂存) skip every step without ``on_draft``: a draft waits for a person, it is not pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.connectors.base import TargetDoc
from ferry.connectors.errors import ConnectorError, OutcomeUnknown, Reauthenticate, RetryLater
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.results import EntityResult, OperationResult

#: answers that mean a follow-up was already done: repeating Submit/Audit must count as success
_ALREADY_DONE_TEXT: dict[str, tuple[str, ...]] = {
    "submit": ("已经提交", "已提交", "已经审核", "已审核"),
    "audit": ("已经审核", "已审核"),
}
#: an "already" answer that says the bill is audited: every later Submit/Audit is done too
_AUDITED_TEXT = ("已经审核", "已审核")
#: document statuses in which a follow-up has nothing left to do (Z/A/B/C/D life cycle, reference §8.4)
_ALREADY_DONE_STATUS: dict[str, frozenset[str]] = {
    "submit": frozenset({"B", "C"}),
    "audit": frozenset({"C"}),
}
#: the status a bill is in after the operation succeeded
_STATUS_AFTER = {"submit": "B", "audit": "C"}

#: operations whose repeat is known to be harmless ("already submitted/audited")
REPEAT_SAFE = frozenset(_ALREADY_DONE_TEXT)


@dataclass(frozen=True, slots=True)
class FollowUpStep:
    """One operation run on created documents (the scheme's ``follow_up`` entry)."""

    operation: str
    #: the created document's form; None = the Push's ``TargetFormId`` or the Save's form
    form_id: str | None = None
    #: extra keys of the operation's ``data`` (e.g. ``{"IsVerifyProcInst": false}``)
    params: Mapping[str, Any] = field(default_factory=dict)
    #: also run on drafts (normally pointless: Kingdee refuses to submit a draft)
    on_draft: bool = False


@dataclass(slots=True)
class TrackedDoc:
    """A document that exists in Kingdee, on its way through its follow-ups."""

    key: int
    form_id: str | None
    id: str | None
    number: str | None
    draft: bool
    #: operations still to run on it, in order
    todo: list[str]
    #: what created or found it, for ``TargetDoc.response`` (``{"push": ...}``, a finished doc's response)
    base: dict[str, Any] = field(default_factory=dict)
    #: how the message introduces it: "created", "drafted", "found", or "" (a finish)
    origin: str = "created"
    #: Kingdee's or the probe's words that belong in the message (a draft's reason, "2 documents found")
    notices: list[str] = field(default_factory=list)
    status: str | None = None
    #: one record per operation tried or skipped, earlier runs first
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: why the first operation that did not succeed failed ("Audit failed: ..."); it stops the later ones
    failure: str | None = None
    #: the error of the call that failed as a whole and stopped this document
    stopped_by: ConnectorError | None = None
    #: some operation got done (or was found done) in this run
    advanced: bool = False

    @property
    def ref(self) -> str:
        return self.id or self.number or ""

    def done(self, operation: str, **note: Any) -> None:
        """``operation`` succeeded (or had nothing left to do)."""
        self.steps.append({"operation": operation, "ok": True, **note})
        self.todo.pop(0)
        self.advanced = True
        op_key = operation.casefold()
        message = str(note.get("message") or "")
        if op_key in _STATUS_AFTER:
            audited = op_key == "submit" and any(hint in message for hint in _AUDITED_TEXT)
            after = "C" if audited else _STATUS_AFTER[op_key]
            if self.status != "C":
                self.status = after
        else:
            # UnAudit, Delete or a custom operation: what the bill is now is no longer known
            self.status = None

    def fail(self, operation: str, text: str, *, error: ConnectorError | None = None) -> None:
        """``operation`` did not succeed: it and every later one stay pending."""
        self.failure = f"{operation} failed: {text}"
        record: dict[str, Any] = {"operation": operation, "ok": False, "message": text}
        if isinstance(error, OutcomeUnknown):
            # the operation may have been applied: only a repeat-safe one may be sent blind again
            record["unknown"] = True
        self.steps.append(record)
        self.stopped_by = error


class FollowUps:
    """Runs a target's follow-up steps over many documents, batched per operation and form."""

    def __init__(
        self,
        client: KingdeeClient,
        steps: Sequence[FollowUpStep],
        *,
        batch_size: int,
        attempts: int,
        retry_delay: float,
    ) -> None:
        self.client = client
        self.steps = tuple(steps)
        self.batch_size = batch_size
        #: quick tries of one call inside a write or a probe (``finish`` tries once: the engine retries)
        self.attempts = attempts
        self.retry_delay = retry_delay

    @property
    def names(self) -> list[str]:
        """The configured operations, in order: what a new document has to do."""
        return [s.operation for s in self.steps]

    def step(self, name: str) -> FollowUpStep:
        """The configured step named ``name``; a plain step when the scheme no longer names it."""
        folded = name.casefold()
        return next((s for s in self.steps if s.operation.casefold() == folded), FollowUpStep(name))

    def pending(self, doc: TrackedDoc) -> tuple[str, ...]:
        """What is left to do on ``doc``: drafts skip the steps that do not run on drafts."""
        return tuple(n for n in doc.todo if not (doc.draft and not self.step(n).on_draft))

    def _order(self, docs: Iterable[TrackedDoc]) -> list[FollowUpStep]:
        order = list(self.steps)
        known = {s.operation.casefold() for s in order}
        for doc in docs:
            for name in doc.todo:
                if name.casefold() not in known:
                    known.add(name.casefold())
                    order.append(self.step(name))
        return order

    async def run(
        self, docs: Sequence[TrackedDoc], *, attempts: int | None = None, calls: bool = True
    ) -> None:
        """Run each document's ``todo`` in the configured order: for each operation one call per form
        (per ``batch_size`` documents) for all the documents whose next operation it is.

        ``calls=False`` only settles what needs no call: drafts' skipped steps, and steps the
        document's status shows as done."""
        tries = attempts if attempts is not None else self.attempts
        order = self._order(docs)
        # one pass does it when each todo follows the configured order; more only for odd orders
        for _ in range(max(1, len(order))):
            ran = False
            for step in order:
                folded = step.operation.casefold()
                members = [d for d in docs if d.failure is None and d.todo and d.todo[0].casefold() == folded]
                if members:
                    ran = True
                    await self._run_step(step, members, tries, calls)
            if not ran:
                return

    async def _run_step(
        self, step: FollowUpStep, members: list[TrackedDoc], attempts: int, calls: bool = True
    ) -> None:
        op_key = step.operation.casefold()
        groups: dict[tuple[str, str], list[TrackedDoc]] = {}
        for d in members:
            if d.draft and not step.on_draft:
                d.steps.append({"operation": step.operation, "ok": False, "skipped": "draft"})
                d.todo.pop(0)
                continue
            if d.status is not None and d.status in _ALREADY_DONE_STATUS.get(op_key, frozenset()):
                d.done(step.operation, already=True)
                continue
            form = step.form_id or d.form_id
            if not calls:
                continue
            if not form:
                d.fail(step.operation, "no form id: set follow_up.form_id")
            elif d.id:
                groups.setdefault((form, "ids"), []).append(d)
            elif d.number:
                groups.setdefault((form, "numbers"), []).append(d)
            else:
                d.fail(step.operation, "the document has neither an id nor a number")
        chunks: list[tuple[str, str, list[TrackedDoc]]] = []
        for (form, by), docs in groups.items():
            # the same bill twice (two records, one document) goes once: the call is per bill
            refs = list(dict.fromkeys(d.ref for d in docs))
            for i in range(0, len(refs), self.batch_size):
                chunk = set(refs[i : i + self.batch_size])
                chunks.append((form, by, [d for d in docs if d.ref in chunk]))
        await asyncio.gather(*(self._call(step, form, by, docs, attempts) for form, by, docs in chunks))

    async def _call(
        self, step: FollowUpStep, form: str, by: str, members: list[TrackedDoc], attempts: int
    ) -> None:
        op_key = step.operation.casefold()
        refs = list(dict.fromkeys(d.ref for d in members))
        last: ConnectorError | None = None
        result: OperationResult | None = None
        for attempt in range(attempts):
            try:
                result = await self._operate(step, form, by, refs)
                break
            except (RetryLater, OutcomeUnknown, Reauthenticate) as err:
                last = err
                if isinstance(err, OutcomeUnknown) and op_key not in REPEAT_SAFE:
                    break
                if attempt + 1 < attempts:
                    await asyncio.sleep(max(self.retry_delay * (attempt + 1), err.retry_after or 0.0))
            except ConnectorError as err:
                last = err
                break
        if result is None:
            for d in members:
                d.fail(step.operation, last.message if last is not None else "no answer", error=last)
            return
        for d in members:
            entity = entity_for(result, refs.index(d.ref), d.id if by == "ids" else None)
            if entity is not None and entity.ok:
                d.done(step.operation)
                continue
            messages = [e.message for e in entity.errors] if entity is not None else []
            text = "; ".join(x for x in messages if x) or result.status.error_text()
            if any(hint in text for hint in _ALREADY_DONE_TEXT.get(op_key, ())):
                d.done(step.operation, already=True, message=text)
            else:
                d.fail(step.operation, text)

    async def _operate(self, step: FollowUpStep, form: str, by: str, refs: list[str]) -> OperationResult:
        ids = refs if by == "ids" else None
        numbers = refs if by == "numbers" else None
        life_cycle: dict[str, Callable[..., Awaitable[OperationResult]]] = {
            "submit": self.client.submit,
            "audit": self.client.audit,
            "unaudit": self.client.unaudit,
            "delete": self.client.delete,
        }
        method = life_cycle.get(step.operation.casefold())
        if method is not None:
            result: OperationResult = await method(
                form, numbers, ids, options=dict(step.params), raise_on_failure=False
            )
            return result
        # any other operation goes through ExcuteOperation with its operation number
        data: dict[str, Any] = {"Ids": ",".join(refs)} if ids else {"Numbers": list(refs)}
        data.update(step.params)
        return await self.client.execute_operation(form, step.operation, data, raise_on_failure=False)

    def document(self, d: TrackedDoc) -> TargetDoc:
        """The document as the engine stores it: ``pending`` and why in the message, steps in the response.

        The response carries what ``finish`` needs when only it is kept: ``form_id``, ``pending``,
        ``notices`` and the ``follow_up`` story.
        """
        pending = self.pending(d)
        parts = list(d.notices)
        what = f"{d.form_id or 'document'} {d.number or d.id or ''}".strip()
        if d.failure:
            parts.append(f"{d.origin} {what}; {d.failure}" if d.origin else f"{what}: {d.failure}")
        elif pending:
            parts.append(f"{what}: {', '.join(pending)} not run yet")
        message = " | ".join(parts) if parts else None
        response = dict(d.base)
        if d.form_id:
            response["form_id"] = d.form_id
        if self.steps or d.steps:
            response["follow_up"] = d.steps
        if d.notices:
            response["notices"] = list(d.notices)
        if pending:
            response["pending"] = list(pending)
        if message:
            # the ledger keeps the response of every written record; the message only for some
            response["message"] = message
        return TargetDoc(
            id=d.id, number=d.number, draft=d.draft, message=message, response=response, pending=pending
        )


def entity_for(result: OperationResult, index: int, doc_id: str | None) -> EntityResult | None:
    """The result for the ``index``-th input; by id when the server numbered them differently."""
    if doc_id:
        by_id = [e for e in result.entities if e.id == doc_id]
        if len(by_id) == 1:
            return by_id[0]
    return next((e for e in result.entities if e.index == index), None)


__all__ = ["REPEAT_SAFE", "FollowUpStep", "FollowUps", "TrackedDoc", "entity_for"]
