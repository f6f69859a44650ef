"""What a WebAPI call asks for: the operations by name, and the arguments from any of the three envelopes.

A body is a bare positional array, ``{"parameters": array|string}``, or the named ``{"formid", "data"}``
form; ``data`` may itself be an object or a JSON string.
"""

from __future__ import annotations

import json
from typing import Any

from ferry.sandbox.kingdee.bills import OperationError, get_ci

#: canonical spelling of every operation, looked up case-insensitively
DYNAMIC_OPS = {
    op.casefold(): op
    for op in (
        "Save",
        "BatchSave",
        "Draft",
        "View",
        "Submit",
        "Audit",
        "UnAudit",
        "Delete",
        "Push",
        "ExecuteBillQuery",
        "BillQuery",
        "ExcuteOperation",
        "ExecuteOperation",
        "CancelAssign",
        "QueryBusinessInfo",
        "SwitchOrg",
    )
}
AUTH_OPS = {
    op.casefold(): op
    for op in (
        "ValidateUser",
        "ValidateUser2",
        "LoginByAppSecret",
        "LoginByAppSecret2",
        "LoginBySign",
        "LoginBySign2",
        "LoginBySimplePassport",
        "LoginBySimplePassport2",
        "Logout",
    )
}
#: operations that change data: only these can be dropped after commit
WRITE_OPS = frozenset(
    {
        "save",
        "batchsave",
        "draft",
        "submit",
        "audit",
        "unaudit",
        "delete",
        "push",
        "excuteoperation",
        "executeoperation",
        "cancelassign",
    }
)
_DATA_ONLY_OPS = frozenset({"executebillquery", "billquery", "querybusinessinfo", "switchorg"})


def decode_body(body: bytes) -> Any:
    text = body.decode("utf-8-sig").strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise OperationError(f"请求数据包不是有效的 JSON：{exc.msg}", 8) from exc


def positional_args(payload: Any) -> list[Any] | None:
    """The positional parameters if the body is a bare array or ``{"parameters": array|string}``."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        params = get_ci(payload, "parameters")
        if isinstance(params, list):
            return params
        if isinstance(params, str):
            try:
                decoded = json.loads(params)
            except json.JSONDecodeError as exc:
                raise OperationError("parameters 不是有效的 JSON 数组", 8) from exc
            if isinstance(decoded, list):
                return decoded
            raise OperationError("parameters 必须是数组", 8)
    return None


def call_arguments(op_key: str, body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(form id, op number, data) from any of the three envelopes; ``data`` may be an object or a string."""
    payload = decode_body(body)
    positional = positional_args(payload)
    form_id: Any = ""
    op_number: Any = ""
    data: Any = None
    if positional is not None:
        if op_key in _DATA_ONLY_OPS:
            data = positional[0] if positional else None
        elif op_key in ("excuteoperation", "executeoperation"):
            form_id, op_number, data = [*positional, None, None, None][:3]
        else:
            form_id, data = [*positional, None, None][:2]
    elif isinstance(payload, dict):
        form_id = get_ci(payload, "formid") or ""
        op_number = get_ci(payload, "opNumber") or ""
        data = get_ci(payload, "data")
        if data is None and op_key in _DATA_ONLY_OPS:
            data = payload
    else:
        raise OperationError("请求数据包格式不正确", 8)
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else {}
        except json.JSONDecodeError as exc:
            raise OperationError(f"data 不是有效的 JSON：{exc.msg}", 8) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise OperationError("data 必须是 JSON 对象", 8)
    return str(form_id or ""), str(op_number or ""), data


def str_list(value: Any) -> list[str]:
    """Names from a JSON array or a comma-separated string (NeedUpDateFields, NeedReturnFields)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.strip():
        return [v.strip() for v in value.split(",") if v.strip()]
    return []
