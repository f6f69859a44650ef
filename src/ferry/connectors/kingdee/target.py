"""The Kingdee target adapter: a scheme's target side mapped onto :class:`KingdeeClient`.

The client knows the protocol; this module knows the engine's contract (:class:`ferry.connectors.base.Target`):
one :class:`WriteOutcome` per item, typed errors, and a ``probe`` that finds what a lost write created.

Two kinds of target:

- **Push** (下推): each item's request is one source bill's Push request. Items that share their parameters go
  to Kingdee as one Push with all their numbers; each item's outcome is its number's ``PushOutcome``.
- **Save / BatchSave / Draft**: each item's request is a model (or ``{"Model": ..., options}``); several items
  with the same options become one BatchSave, answered per ``DIndex``.

Follow-up operations (Submit, Audit, ...) then run on what was created. Contract notes:

- A follow-up failure never turns a created document into a failure: the document exists, and writing the
  item again would duplicate it. The item is written, and the failure is in ``TargetDoc.message``.
- Follow-ups are safe to repeat: Kingdee's "already submitted/audited" answers count as success, so a
  follow-up whose answer was lost is simply sent again.
- ``probe`` finishes the follow-ups of the document it finds (a Push whose answer was lost never got them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ferry.connectors.base import TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.errors import (
    ConnectorError,
    GiveUp,
    OutcomeUnknown,
    Reauthenticate,
    RetryLater,
)
from ferry.connectors.kingdee.client import KingdeeClient
from ferry.connectors.kingdee.envelope import ResponseStatus, as_bool, as_int, get_ci
from ferry.connectors.kingdee.errors import error_for_status
from ferry.connectors.kingdee.results import EntityResult, OperationResult, PushOutcome, PushStatus
from ferry.connectors.kingdee.spec import ProbeSettings

log = logging.getLogger("ferry.kingdee")

TargetKind = Literal["push", "save", "batchsave", "draft"]

#: the scheme's ``api`` (case-insensitive) → the kind of target
TARGET_APIS: dict[str, TargetKind] = {
    "push": "push",
    "save": "save",
    "batchsave": "batchsave",
    "draft": "draft",
}

#: where the flagship Push lands, and how its payment bill names its source (reference §6, §8)
DEFAULT_PUSH_PROBE_FORM = "AP_PAYBILL"
DEFAULT_SOURCE_NUMBER_FIELD = "FPAYBILLSRCENTRY_FSRCBILLNO"

#: answers that mean a follow-up was already done: repeating Submit/Audit must count as success
_ALREADY_DONE_TEXT: dict[str, tuple[str, ...]] = {
    "submit": ("已经提交", "已提交", "已经审核", "已审核"),
    "audit": ("已经审核", "已审核"),
}
#: document statuses in which a follow-up has nothing left to do (Z/A/B/C/D life cycle, reference §8.4)
_ALREADY_DONE_STATUS: dict[str, frozenset[str]] = {
    "submit": frozenset({"B", "C"}),
    "audit": frozenset({"C"}),
}

#: Save options that are booleans: a template may render them as "true"/"false"
_SAVE_BOOL_OPTIONS = frozenset(
    k.casefold()
    for k in (
        "IsAutoSubmitAndAudit",
        "IsVerifyBaseDataField",
        "IsDeleteEntry",
        "IsEntryBatchFill",
        "ValidateFlag",
        "NumberSearch",
        "IsAutoAdjustField",
        "IgnoreInterationFlag",
        "IsControlPrecision",
        "ValidateRepeatJson",
    )
)

#: Push request keys the adapter reads (anything else is ignored, with a debug log)
_PUSH_KEYS = frozenset(
    k.casefold()
    for k in (
        "FormId",
        "Numbers",
        "Ids",
        "TargetFormId",
        "IsEnableDefaultRule",
        "IsDraftWhenSaveFail",
        "RuleId",
        "CustomParams",
        "TargetBillTypeId",
        "TargetOrgId",
        "EntryIds",
    )
)


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
class _Made:
    """A document the write (or the probe) found to exist, on its way through the follow-ups."""

    key: int
    form_id: str | None
    id: str | None
    number: str | None
    draft: bool
    #: what the write itself said, for ``TargetDoc.response`` (``{"push": ...}`` or ``{"save": ...}``)
    base: dict[str, Any]
    #: Kingdee's own messages (a draft's reason)
    notes: list[str] = field(default_factory=list)
    status: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: the first follow-up failure ("Audit failed: ..."); later steps are skipped
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class _PushRequest:
    """One item's Push parameters, read leniently from the rendered request."""

    form_id: str
    source: str
    by_ids: bool
    target_form_id: str
    rule_id: str | None
    default_rule: bool
    draft_on_fail: bool
    custom_params: Mapping[str, Any]
    target_bill_type_id: str | None
    target_org_id: int

    def group_key(self) -> tuple[Any, ...]:
        """Items with equal keys can share one Push call."""
        return (
            self.form_id.casefold(),
            self.by_ids,
            self.target_form_id.casefold(),
            self.rule_id,
            self.default_rule,
            self.draft_on_fail,
            json.dumps(self.custom_params, sort_keys=True, ensure_ascii=False, default=str),
            self.target_bill_type_id,
            self.target_org_id,
        )


@dataclass(frozen=True, slots=True)
class _SaveRequest:
    """One item's Save parameters: the form, the model (key order kept) and the other Save options."""

    form_id: str
    model: Mapping[str, Any]
    options: Mapping[str, Any]

    def group_key(self) -> tuple[str, str]:
        return (
            self.form_id.casefold(),
            json.dumps(self.options, sort_keys=True, ensure_ascii=False, default=str),
        )


class KingdeeTarget:
    """The engine's :class:`~ferry.connectors.base.Target` for Kingdee: Push or Save, then follow-ups.

    Build it with :func:`ferry.connectors.kingdee.factory.build_target` from a scheme; the constructor takes
    plain values so tests and other callers can build one directly.
    """

    def __init__(
        self,
        client: KingdeeClient,
        *,
        api: str,
        batch_size: int = 1,
        follow_ups: Sequence[FollowUpStep] = (),
        probe: ProbeSettings | None = None,
        form_id: str | None = None,
        follow_up_attempts: int = 3,
        follow_up_retry_delay: float = 0.5,
    ) -> None:
        kind = TARGET_APIS.get(api.strip().casefold())
        if kind is None:
            raise ValueError(f"Kingdee target api must be one of Push, Save, BatchSave, Draft; got {api!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if follow_up_attempts < 1:
            raise ValueError("follow_up_attempts must be at least 1")
        self.client = client
        self.kind: TargetKind = kind
        self.batch_size = batch_size
        self.follow_ups = tuple(follow_ups)
        self.probe_settings = probe or ProbeSettings()
        #: the Save form when the request does not name one (``target.params.form_id``)
        self.form_id = form_id
        self.follow_up_attempts = follow_up_attempts
        self.follow_up_retry_delay = follow_up_retry_delay

    def __repr__(self) -> str:
        steps = ",".join(s.operation for s in self.follow_ups) or "-"
        return f"KingdeeTarget({self.kind}, batch_size={self.batch_size}, follow_up={steps}, client={self.client!r})"

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    # ---- write --------------------------------------------------------------------------------------
    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        """Write a batch; one outcome per item. Raises a typed error only when the batch was one failed call."""
        if self.kind == "push":
            outcomes, made = await self._write_push(items)
        else:
            outcomes, made = await self._write_save(items)
        if made:
            await self._run_follow_ups(made)
            for m in made:
                outcomes[m.key] = WriteOutcome(m.key, doc=self._doc(m))
        return [outcomes[item.key] for item in items if item.key in outcomes]

    async def _write_push(self, items: Sequence[WriteItem]) -> tuple[dict[int, WriteOutcome], list[_Made]]:
        outcomes: dict[int, WriteOutcome] = {}
        calls: list[list[tuple[WriteItem, _PushRequest]]] = []
        open_calls: dict[tuple[Any, ...], list[list[tuple[WriteItem, _PushRequest]]]] = {}
        for item in items:
            try:
                req = _push_request(item.request)
            except GiveUp as err:
                outcomes[item.key] = WriteOutcome(item.key, error=err)
                continue
            chunks = open_calls.setdefault(req.group_key(), [])
            # the same source twice in one call would be refused as "already pushed": give it its own call
            chunk = next(
                (c for c in chunks if len(c) < self.batch_size and all(r.source != req.source for _, r in c)),
                None,
            )
            if chunk is None:
                chunk = []
                chunks.append(chunk)
                calls.append(chunk)
            chunk.append((item, req))
        results = await asyncio.gather(*(self._push_call(chunk) for chunk in calls))
        made: list[_Made] = []
        for chunk, result in zip(calls, results, strict=True):
            if isinstance(result, ConnectorError):
                if len(calls) == 1 and not outcomes:
                    # the batch was this one call: the engine treats every item alike
                    raise result
                for item, _ in chunk:
                    outcomes[item.key] = WriteOutcome(item.key, error=result)
                continue
            for (item, req), outcome in zip(chunk, result, strict=True):
                if outcome.status is PushStatus.CREATED or outcome.status is PushStatus.DRAFT:
                    made.append(_made_from_push(item.key, req, outcome))
                else:
                    outcomes[item.key] = WriteOutcome(item.key, error=_push_error(req, outcome))
        return outcomes, made

    async def _push_call(
        self, chunk: list[tuple[WriteItem, _PushRequest]]
    ) -> list[PushOutcome] | ConnectorError:
        first = chunk[0][1]
        sources = [req.source for _, req in chunk]
        try:
            result = await self.client.push(
                first.form_id,
                None if first.by_ids else sources,
                sources if first.by_ids else None,
                target_form_id=first.target_form_id,
                rule_id=first.rule_id,
                is_enable_default_rule=first.default_rule,
                is_draft_when_save_fail=first.draft_on_fail,
                custom_params=first.custom_params,
                target_bill_type_id=first.target_bill_type_id,
                target_org_id=first.target_org_id,
            )
        except ConnectorError as err:
            return err
        outcomes = list(result.outcomes)
        if len(outcomes) != len(chunk):
            # cannot happen with the client's DIndex mapping; if it does, nobody knows what was created
            missing = OutcomeUnknown("Kingdee Push: the reply does not match the request", api="Push")
            outcomes = [
                outcomes[i] if i < len(outcomes) else PushOutcome(i, s, PushStatus.UNKNOWN, error=missing)
                for i, s in enumerate(sources)
            ]
        return outcomes

    async def _write_save(self, items: Sequence[WriteItem]) -> tuple[dict[int, WriteOutcome], list[_Made]]:
        outcomes: dict[int, WriteOutcome] = {}
        groups: dict[tuple[str, str], list[tuple[WriteItem, _SaveRequest]]] = {}
        for item in items:
            try:
                req = _save_request(item.request, self.form_id)
            except GiveUp as err:
                outcomes[item.key] = WriteOutcome(item.key, error=err)
                continue
            groups.setdefault(req.group_key(), []).append((item, req))
        calls: list[list[tuple[WriteItem, _SaveRequest]]] = []
        for members in groups.values():
            if self.kind == "draft" or (self.kind == "save" and self.batch_size == 1):
                # Draft has no batch form in the WebAPI; Save with batch_size 1 stays a plain Save
                calls.extend([m] for m in members)
            else:
                calls.extend(
                    members[i : i + self.batch_size] for i in range(0, len(members), self.batch_size)
                )
        results = await asyncio.gather(*(self._save_call(chunk) for chunk in calls))
        made: list[_Made] = []
        for chunk, result in zip(calls, results, strict=True):
            if isinstance(result, ConnectorError):
                if len(calls) == 1 and not outcomes:
                    raise result
                for item, _ in chunk:
                    outcomes[item.key] = WriteOutcome(item.key, error=result)
                continue
            for (item, _), res in zip(chunk, result, strict=True):
                if isinstance(res, _Made):
                    made.append(res)
                else:
                    outcomes[item.key] = WriteOutcome(item.key, error=res)
        return outcomes, made

    async def _save_call(
        self, chunk: list[tuple[WriteItem, _SaveRequest]]
    ) -> list[_Made | ConnectorError] | ConnectorError:
        first = chunk[0][1]
        op = {"draft": "Draft", "save": "Save", "batchsave": "BatchSave"}[self.kind]
        try:
            if self.kind == "batchsave" or len(chunk) > 1:
                op = "BatchSave"
                batch = await self.client.batch_save(
                    first.form_id, [req.model for _, req in chunk], options=first.options
                )
                return _batch_save_results(chunk, batch)
            item, req = chunk[0]
            saver = self.client.draft if self.kind == "draft" else self.client.save
            saved = await saver(req.form_id, req.model, options=req.options)
        except ConnectorError as err:
            if len(chunk) == 1 and not isinstance(err, (RetryLater, Reauthenticate, OutcomeUnknown)):
                # a one-bill Save's refusal is that bill's own answer (validation, duplicate number...)
                return [err]
            return err
        return [
            _Made(
                item.key,
                req.form_id,
                saved.id or None,
                saved.number or None,
                draft=self.kind == "draft",
                base={"save": {"operation": op, "id": saved.id, "number": saved.number}},
                notes=["saved with Draft (暂存)"] if self.kind == "draft" else [],
            )
        ]

    # ---- follow-ups ---------------------------------------------------------------------------------
    async def _run_follow_ups(self, made: Sequence[_Made]) -> None:
        """Run each follow-up step over the documents still in good standing, batched per form."""
        for step in self.follow_ups:
            op_key = step.operation.casefold()
            groups: dict[tuple[str, str], list[_Made]] = {}
            for m in made:
                if m.failure is not None:
                    m.steps.append(
                        {"operation": step.operation, "ok": False, "skipped": "an earlier step failed"}
                    )
                    continue
                if m.draft and not step.on_draft:
                    m.steps.append({"operation": step.operation, "ok": False, "skipped": "draft"})
                    continue
                if m.status is not None and m.status in _ALREADY_DONE_STATUS.get(op_key, frozenset()):
                    m.steps.append({"operation": step.operation, "ok": True, "already": True})
                    continue
                form = step.form_id or m.form_id
                if not form:
                    _fail(m, step.operation, "no form id: set follow_up.form_id")
                    continue
                if m.id:
                    groups.setdefault((form, "ids"), []).append(m)
                elif m.number:
                    groups.setdefault((form, "numbers"), []).append(m)
                else:
                    _fail(m, step.operation, "the document has neither an id nor a number")
            chunks = [
                (form, by, members[i : i + self.batch_size])
                for (form, by), members in groups.items()
                for i in range(0, len(members), self.batch_size)
            ]
            await asyncio.gather(*(self._follow_up_call(step, form, by, ms) for form, by, ms in chunks))

    async def _follow_up_call(self, step: FollowUpStep, form: str, by: str, members: list[_Made]) -> None:
        op_key = step.operation.casefold()
        refs = [(m.id if by == "ids" else m.number) or "" for m in members]
        last: ConnectorError | None = None
        result: OperationResult | None = None
        for attempt in range(self.follow_up_attempts):
            try:
                result = await self._operate(step, form, by, refs)
                break
            except (RetryLater, OutcomeUnknown, Reauthenticate) as err:
                last = err
                if isinstance(err, OutcomeUnknown) and op_key not in _ALREADY_DONE_TEXT:
                    # only Submit and Audit are known to answer "already done" when repeated
                    break
                if attempt + 1 < self.follow_up_attempts:
                    await asyncio.sleep(
                        max(self.follow_up_retry_delay * (attempt + 1), err.retry_after or 0.0)
                    )
            except ConnectorError as err:
                last = err
                break
        if result is None:
            text = last.message if last is not None else "no answer"
            for m in members:
                _fail(m, step.operation, text)
            return
        for index, m in enumerate(members):
            entity = _entity_for(result, index, m.id if by == "ids" else None)
            if entity is not None and entity.ok:
                m.steps.append({"operation": step.operation, "ok": True})
                continue
            messages = [e.message for e in entity.errors] if entity is not None else []
            text = "; ".join(x for x in messages if x) or result.status.error_text()
            if any(hint in text for hint in _ALREADY_DONE_TEXT.get(op_key, ())):
                m.steps.append({"operation": step.operation, "ok": True, "already": True, "message": text})
            else:
                _fail(m, step.operation, text)

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

    def _doc(self, m: _Made, extra: str | None = None) -> TargetDoc:
        """The document as the engine stores it: follow-up failures in the message, steps in the response."""
        parts: list[str] = []
        if extra:
            parts.append(extra)
        if m.draft:
            parts.append("; ".join(m.notes) or "kept as a draft")
        if m.failure:
            what = f"{m.form_id or 'document'} {m.number or m.id or ''}".strip()
            parts.append(f"{'drafted' if m.draft else 'created'} {what}; {m.failure}")
        message = " | ".join(parts) if parts else None
        response = dict(m.base)
        if self.follow_ups:
            response["follow_up"] = m.steps
        if message:
            # the ledger keeps the response of every written record; the message only for drafts
            response["message"] = message
        return TargetDoc(id=m.id, number=m.number, draft=m.draft, message=message, response=response)

    # ---- probe --------------------------------------------------------------------------------------
    async def probe(self, item: WriteItem) -> TargetDoc | None:
        """Find the document an earlier write of ``item`` created (by its source number), or None.

        GiveUp when the stored request does not say what to look for. More than one document found: the first
        is returned with "N documents found" in its message, for a person to settle.
        """
        p = self.probe_settings
        value, field_key, form = self._probe_query(item)
        found = await self.client.find_target_by_source(
            value,
            target_form_id=form,
            source_field=field_key,
            id_field=p.id_field,
            number_field=p.number_field,
            status_field=p.status_field,
            extra_filter=p.extra_filter,
        )
        if not found:
            return None
        doc = found[0]
        extra = None
        if len(found) > 1:
            numbers = ", ".join(d.number or f"id {d.id}" for d in found)
            extra = f"{len(found)} documents found for source {value} ({numbers}): a person must check"
            log.warning("Kingdee probe: %s in %s", extra, form)
        made = _Made(
            item.key,
            form,
            doc.id or None,
            doc.number or None,
            draft=doc.is_draft,
            base={"probe": {"form_id": form, "id": doc.id, "number": doc.number, "status": doc.status}},
            notes=["found as a draft (暂存) by the probe"] if doc.is_draft else [],
            status=doc.status or None,
        )
        if p.follow_up and self.follow_ups:
            await self._run_follow_ups([made])
        return self._doc(made, extra)

    def _probe_query(self, item: WriteItem) -> tuple[str, str, str]:
        """(value to look for, field to compare it with, form to query) for ``item``."""
        p = self.probe_settings
        request = item.request or {}
        if self.kind == "push":
            try:
                req = _push_request(request)
            except GiveUp as err:
                raise GiveUp(
                    f"Kingdee probe: cannot tell which source bill to look for ({err.message})", api="probe"
                ) from None
            field_key = (
                p.source_id_field if req.by_ids else (p.source_number_field or DEFAULT_SOURCE_NUMBER_FIELD)
            )
            return req.source, field_key, p.form_id or req.target_form_id or DEFAULT_PUSH_PROBE_FORM
        if not p.number_from:
            raise GiveUp(
                "Kingdee probe: set target.probe.number_from (the request key that identifies the record)",
                api="probe",
            )
        model = get_ci(request, "Model")
        value = get_ci(request, p.number_from)
        if value in (None, "") and isinstance(model, Mapping):
            value = get_ci(model, p.number_from)
        if value in (None, "") or isinstance(value, (Mapping, list)):
            raise GiveUp(f"Kingdee probe: the request has no value at {p.number_from!r}", api="probe")
        form = p.form_id or _text(get_ci(request, "FormId")) or self.form_id
        if not form:
            raise GiveUp("Kingdee probe: no form id (set target.probe.form_id)", api="probe")
        return str(value), p.source_number_field or p.number_from, form


# ---- request reading ------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(request: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = get_ci(request, key)
    if raw is None or raw == "":
        return default
    value = as_bool(raw)
    if value is None:
        raise GiveUp(f"{key} must be true or false, got {raw!r}", code="bad_request", api="Push")
    return value


def _single(value: Any, what: str) -> str:
    """The one source reference of an item: a string, or a list holding exactly one non-empty value."""
    values = value if isinstance(value, (list, tuple)) else [value]
    texts = [t for t in (_text(v) for v in values if not isinstance(v, (Mapping, list))) if t]
    if len(texts) > 1:
        raise GiveUp(
            f"one record must push one source bill; the request has {len(texts)} {what}: {', '.join(texts)}",
            code="bad_request",
            api="Push",
        )
    return texts[0] if texts else ""


def _push_request(request: Mapping[str, Any]) -> _PushRequest:
    """Read one item's Push request (keys case-insensitive, booleans from strings); GiveUp if unusable."""
    unknown = [k for k in request if str(k).casefold() not in _PUSH_KEYS]
    if unknown:
        log.debug("Kingdee Push: ignoring request keys %s", unknown)
    form_id = _text(get_ci(request, "FormId"))
    if not form_id:
        raise GiveUp(
            "the Push request has no FormId (the source form, e.g. CN_PAYAPPLY)",
            code="bad_request",
            api="Push",
        )
    if _text(get_ci(request, "EntryIds")):
        raise GiveUp(
            "EntryIds is not supported by the Push target: push whole bills", code="bad_request", api="Push"
        )
    number = _single(get_ci(request, "Numbers"), "numbers")
    by_ids = False
    source = number
    if not number:
        ids = get_ci(request, "Ids")
        if isinstance(ids, str):
            ids = ids.split(",")
        source = _single(ids, "ids")
        by_ids = bool(source)
    if not source:
        raise GiveUp("no source bill number in the request (Numbers is empty)", code="no_number", api="Push")
    rule_id = _text(get_ci(request, "RuleId")) or None
    target_form_id = _text(get_ci(request, "TargetFormId"))
    if not target_form_id and not rule_id:
        raise GiveUp("the Push request needs a TargetFormId or a RuleId", code="bad_request", api="Push")
    custom = get_ci(request, "CustomParams")
    if custom in (None, ""):
        custom = {}
    if not isinstance(custom, Mapping):
        raise GiveUp("CustomParams must be an object", code="bad_request", api="Push")
    org = get_ci(request, "TargetOrgId")
    org_id = as_int(org) if org not in (None, "") else 0
    if org_id is None:
        raise GiveUp(f"TargetOrgId must be a number, got {org!r}", code="bad_request", api="Push")
    return _PushRequest(
        form_id=form_id,
        source=source,
        by_ids=by_ids,
        target_form_id=target_form_id,
        rule_id=rule_id,
        # Kingdee's own defaults: the default rule when no RuleId is named; no draft unless asked for
        default_rule=_flag(request, "IsEnableDefaultRule", rule_id is None),
        draft_on_fail=_flag(request, "IsDraftWhenSaveFail", False),
        custom_params=dict(custom),
        target_bill_type_id=_text(get_ci(request, "TargetBillTypeId")) or None,
        target_org_id=org_id,
    )


def _save_request(request: Mapping[str, Any], default_form: str | None) -> _SaveRequest:
    """Read one item's Save request: ``{"FormId", "Model", options...}`` or the bare model."""
    model = get_ci(request, "Model")
    if isinstance(model, Mapping):
        form = _text(get_ci(request, "FormId")) or (default_form or "")
        options: dict[str, Any] = {}
        for key, value in request.items():
            folded = str(key).casefold()
            if folded in ("model", "formid"):
                continue
            if folded in _SAVE_BOOL_OPTIONS and isinstance(value, str):
                flag = as_bool(value)
                if flag is None:
                    raise GiveUp(
                        f"{key} must be true or false, got {value!r}", code="bad_request", api="Save"
                    )
                value = flag
            options[key] = value
        body: Mapping[str, Any] = model
    else:
        # the request is the model itself, sent as written (key order matters to Kingdee)
        form, body, options = default_form or "", request, {}
    if not form:
        raise GiveUp(
            "no FormId: put it in the request (with a Model) or in target.params.form_id",
            code="bad_request",
            api="Save",
        )
    return _SaveRequest(form, body, options)


# ---- answer reading -------------------------------------------------------------------------------------
def _made_from_push(key: int, req: _PushRequest, outcome: PushOutcome) -> _Made:
    draft = outcome.status is PushStatus.DRAFT
    push: dict[str, Any] = {
        "status": outcome.status.value,
        "source": outcome.source,
        "id": outcome.target_id,
        "number": outcome.target_number,
    }
    if outcome.messages:
        push["messages"] = list(outcome.messages)
    return _Made(
        key,
        req.target_form_id or None,
        outcome.target_id or None,
        outcome.target_number or None,
        draft=draft,
        base={"push": push},
        notes=list(outcome.messages) if draft else [],
    )


def _push_error(req: _PushRequest, outcome: PushOutcome) -> ConnectorError:
    if outcome.error is not None:
        return outcome.error
    text = "; ".join(outcome.messages) or "nothing was created"
    if outcome.status is PushStatus.UNKNOWN:
        return OutcomeUnknown(f"Kingdee Push {req.source}: {text}", api="Push")
    return GiveUp(f"Kingdee Push {req.source}: {text}", api="Push")


def _batch_save_results(
    chunk: list[tuple[WriteItem, _SaveRequest]], batch: OperationResult
) -> list[_Made | ConnectorError]:
    out: list[_Made | ConnectorError] = []
    for index, (item, req) in enumerate(chunk):
        entity = _entity_for(batch, index, None)
        if entity is not None and entity.ok and (entity.id or entity.number):
            out.append(
                _Made(
                    item.key,
                    req.form_id,
                    entity.id,
                    entity.number,
                    draft=False,
                    base={
                        "save": {
                            "operation": "BatchSave",
                            "index": index,
                            "id": entity.id,
                            "number": entity.number,
                        }
                    },
                )
            )
            continue
        errors = entity.errors if entity is not None and entity.errors else batch.status.errors
        if not errors and batch.status.is_success:
            # success without an entity for this model: it may or may not exist
            out.append(
                OutcomeUnknown(
                    f"Kingdee BatchSave: the reply says nothing about model {index}", api="BatchSave"
                )
            )
            continue
        status = ResponseStatus(False, batch.status.msg_code, batch.status.error_code, errors)
        out.append(error_for_status(status, "BatchSave"))
    return out


def _entity_for(result: OperationResult, index: int, doc_id: str | None) -> EntityResult | None:
    """The result for the ``index``-th input; by id when the server numbered them differently."""
    if doc_id:
        by_id = [e for e in result.entities if e.id == doc_id]
        if len(by_id) == 1:
            return by_id[0]
    return next((e for e in result.entities if e.index == index), None)


def _fail(m: _Made, operation: str, text: str) -> None:
    m.failure = f"{operation} failed: {text}"
    m.steps.append({"operation": operation, "ok": False, "message": text})


__all__ = [
    "DEFAULT_SOURCE_NUMBER_FIELD",
    "TARGET_APIS",
    "FollowUpStep",
    "KingdeeTarget",
    "ProbeSettings",
]
