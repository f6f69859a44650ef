"""Bill operations: Save, Draft, BatchSave, Submit, Audit, UnAudit, Delete, ExcuteOperation, View, Push.

Each builds its request in the connection's envelope, sends it through
:meth:`~ferry.connectors.kingdee.session.KingdeeSession._exchange` and reads the reply into a result
(:mod:`ferry.connectors.kingdee.results`): per bill where Kingdee answers per bill, raising where the call
failed as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ferry.connectors.errors import GiveUp, OutcomeUnknown, RetryLater
from ferry.connectors.kingdee.envelope import ResponseStatus, find_status, get_ci, result_of
from ferry.connectors.kingdee.errors import error_for_status
from ferry.connectors.kingdee.results import (
    OperationResult,
    PushResult,
    SaveResult,
    entity_results,
    push_outcomes,
)
from ferry.connectors.kingdee.session import WRITE_OPERATIONS, KingdeeSession

#: MsgCodes that concern the whole request rather than one bill of a batch
_WHOLE_CALL_CODES = frozenset({2, 3, 4, 5, 7, 8, 15})


class BillOperations(KingdeeSession):
    """The write and read-one-bill operations of :class:`~ferry.connectors.kingdee.client.KingdeeClient`."""

    @staticmethod
    def _status_or_unknown(payload: Any, op: str) -> ResponseStatus:
        status = find_status(payload)
        if status is None:
            write = op in WRITE_OPERATIONS
            err_type = OutcomeUnknown if write else RetryLater
            raise err_type(f"Kingdee {op}: reply without a ResponseStatus", code="no_status", api=op)
        return status

    def _operation_result(
        self, payload: Any, op: str, count: int | None, raise_on_failure: bool
    ) -> OperationResult:
        status = self._status_or_unknown(payload, op)
        if (
            not status.is_success
            and raise_on_failure
            and (not status.success_entities or (status.msg_code in _WHOLE_CALL_CODES))
        ):
            raise error_for_status(status, op)
        return OperationResult(
            status, entity_results(status, count), payload if isinstance(payload, Mapping) else {}
        )

    # ---- operations ---------------------------------------------------------------------------------
    async def save(
        self,
        form_id: str,
        model: Mapping[str, Any],
        *,
        need_update_fields: Sequence[str] | None = None,
        need_return_fields: Sequence[str] | None = None,
        is_auto_submit_and_audit: bool | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SaveResult:
        """Save one bill (create when ``FID`` is 0/absent); raises the mapped error if Kingdee refuses it.

        ``model`` is sent with its keys in the order given. ``options`` adds other documented Save keys
        (``IsDeleteEntry``, ``IsVerifyBaseDataField``, ``InterationFlags``...).
        """
        return await self._save(
            "Save", form_id, model, need_update_fields, need_return_fields, is_auto_submit_and_audit, options
        )

    async def draft(
        self,
        form_id: str,
        model: Mapping[str, Any],
        *,
        need_update_fields: Sequence[str] | None = None,
        need_return_fields: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SaveResult:
        """Save as a draft (暂存, status Z): no validation; the bill may have no number."""
        return await self._save(
            "Draft", form_id, model, need_update_fields, need_return_fields, None, options
        )

    @staticmethod
    def _save_data(
        model: Any,
        need_update_fields: Sequence[str] | None,
        need_return_fields: Sequence[str] | None,
        is_auto_submit_and_audit: bool | None,
        options: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if need_update_fields is not None:
            data["NeedUpDateFields"] = list(need_update_fields)
        if need_return_fields is not None:
            data["NeedReturnFields"] = list(need_return_fields)
        if is_auto_submit_and_audit is not None:
            data["IsAutoSubmitAndAudit"] = is_auto_submit_and_audit
        data.update(extra or {})
        data.update(options or {})
        data["Model"] = model
        return data

    async def _save(
        self,
        op: str,
        form_id: str,
        model: Mapping[str, Any],
        need_update_fields: Sequence[str] | None,
        need_return_fields: Sequence[str] | None,
        is_auto_submit_and_audit: bool | None,
        options: Mapping[str, Any] | None,
    ) -> SaveResult:
        data = self._save_data(
            model, need_update_fields, need_return_fields, is_auto_submit_and_audit, options
        )
        payload = await self._exchange(op, self._form_body(form_id, data))
        status = self._status_or_unknown(payload, op)
        if not status.is_success:
            raise error_for_status(status, op)
        result = result_of(payload)
        entity = status.success_entities[0] if status.success_entities else None
        raw_id = get_ci(result, "Id")
        raw_number = get_ci(result, "Number")
        need = get_ci(result, "NeedReturnData")
        return SaveResult(
            id=str(raw_id) if raw_id not in (None, "") else (entity.id if entity else ""),
            number=str(raw_number) if raw_number not in (None, "") else (entity.number if entity else ""),
            need_return_data=tuple(x for x in (need or []) if isinstance(x, Mapping)),
            status=status,
        )

    async def batch_save(
        self,
        form_id: str,
        models: Sequence[Mapping[str, Any]],
        *,
        batch_count: int | None = None,
        need_update_fields: Sequence[str] | None = None,
        need_return_fields: Sequence[str] | None = None,
        is_auto_submit_and_audit: bool | None = None,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = False,
    ) -> OperationResult:
        """Save several bills in one call; outcomes per ``DIndex`` (a batch succeeds and fails per bill)."""
        extra = {"BatchCount": batch_count} if batch_count else None
        data = self._save_data(
            list(models), need_update_fields, need_return_fields, is_auto_submit_and_audit, options, extra
        )
        payload = await self._exchange("BatchSave", self._form_body(form_id, data))
        return self._operation_result(payload, "BatchSave", len(models), raise_on_failure)

    async def _bill_operation(
        self,
        op: str,
        form_id: str,
        numbers: Sequence[str] | None,
        ids: Sequence[str | int] | None,
        options: Mapping[str, Any] | None,
        raise_on_failure: bool,
    ) -> OperationResult:
        if not numbers and not ids:
            raise ValueError(f"{op} needs numbers or ids")
        data: dict[str, Any] = {}
        if ids:
            # the documented form of Ids is one comma-separated string
            data["Ids"] = ",".join(str(i) for i in ids)
        if numbers:
            data["Numbers"] = list(numbers)
        data.update(options or {})
        payload = await self._exchange(op, self._form_body(form_id, data))
        count = len(ids) if ids else len(numbers or [])
        return self._operation_result(payload, op, count, raise_on_failure)

    async def submit(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Submit (提交) bills: A/D → B. Raises when nothing succeeded unless ``raise_on_failure=False``."""
        return await self._bill_operation("Submit", form_id, numbers, ids, options, raise_on_failure)

    async def audit(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Audit (审核) bills: B → C."""
        return await self._bill_operation("Audit", form_id, numbers, ids, options, raise_on_failure)

    async def unaudit(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Un-audit (反审核) bills: C → D."""
        return await self._bill_operation("UnAudit", form_id, numbers, ids, options, raise_on_failure)

    async def delete(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Delete bills (only drafts, created or un-audited ones)."""
        return await self._bill_operation("Delete", form_id, numbers, ids, options, raise_on_failure)

    async def execute_operation(
        self, form_id: str, op_number: str, data: Mapping[str, Any], *, raise_on_failure: bool = True
    ) -> OperationResult:
        """``ExcuteOperation`` (the SDK's spelling): run a named operation with ``data`` (Ids/Numbers/...)."""
        if self.envelope == "parameters":
            body: Any = {"parameters": [form_id, op_number, json.dumps(data, ensure_ascii=False)]}
        else:
            body = {"formid": form_id, "opNumber": op_number, "data": data}
        payload = await self._exchange("ExcuteOperation", body)
        return self._operation_result(payload, "ExcuteOperation", None, raise_on_failure)

    async def view(
        self, form_id: str, number: str | None = None, id: str | int | None = None
    ) -> dict[str, Any]:
        """The full bill package (``Result.Result``); GiveUp if it does not exist."""
        if not number and not id:
            raise ValueError("view needs a number or an id")
        data: dict[str, Any] = {"Number": number} if number else {"Id": str(id)}
        payload = await self._exchange("View", self._form_body(form_id, data))
        status = self._status_or_unknown(payload, "View")
        if not status.is_success:
            raise error_for_status(status, "View")
        package = get_ci(result_of(payload), "Result")
        if not isinstance(package, Mapping):
            raise GiveUp(f"Kingdee View {form_id} {number or id}: empty reply", code="empty", api="View")
        return dict(package)

    async def push(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        target_form_id: str,
        rule_id: str | None = None,
        is_enable_default_rule: bool = True,
        is_draft_when_save_fail: bool = True,
        custom_params: Mapping[str, Any] | None = None,
        entry_ids: Sequence[str | int] | None = None,
        target_bill_type_id: str | None = None,
        target_org_id: int = 0,
    ) -> PushResult:
        """Push (下推) source bills to ``target_form_id``; one :class:`PushOutcome` per source, by ``DIndex``.

        Per-bill refusals (not audited, unknown number, already pushed, target save failed) are outcomes, not
        exceptions. Whole-call failures raise: session lost after re-login, MsgCode 13/14 (SlowDown), bad
        parameters (GiveUp), and — because Push writes — OutcomeUnknown for a timeout or a dropped connection.
        """
        if not numbers and not ids and not entry_ids:
            raise ValueError("push needs numbers, ids or entry_ids")
        data: dict[str, Any] = {
            "Ids": ",".join(str(i) for i in ids) if ids else "",
            "Numbers": list(numbers or []),
            "EntryIds": ",".join(str(i) for i in entry_ids) if entry_ids else "",
            "RuleId": rule_id or "",
            "TargetBillTypeId": target_bill_type_id or "",
            "TargetOrgId": target_org_id,
            "TargetFormId": target_form_id,
            "IsEnableDefaultRule": is_enable_default_rule,
            "IsDraftWhenSaveFail": is_draft_when_save_fail,
            "CustomParams": dict(custom_params or {}),
        }
        payload = await self._exchange("Push", self._form_body(form_id, data))
        status = self._status_or_unknown(payload, "Push")
        convert = find_status(payload, "ConvertResponseStatus")
        if not status.is_success and status.msg_code in _WHOLE_CALL_CODES:
            raise error_for_status(status, "Push")
        sources = [str(i) for i in ids] if ids else [str(n) for n in (numbers or [])]
        if not sources:
            sources = [str(e.index) for e in status.success_entities] or ["0"]
        outcomes = push_outcomes(sources, status, convert)
        return PushResult(tuple(outcomes), status, convert, payload if isinstance(payload, Mapping) else {})


__all__ = ["BillOperations"]
