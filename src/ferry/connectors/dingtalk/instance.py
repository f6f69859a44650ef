"""One shape for an approval instance, whichever host it came from.

The legacy host answers snake_case with ``"yyyy-MM-dd HH:mm:ss"`` Beijing times; the v1.0 host answers
camelCase with ``"yyyy-MM-ddTHH:mmZ"``, whose ``Z`` captures show to be Beijing wall-clock time
(reference §3.3, unconfirmed: ``v1_z_is_beijing=False`` reads it as UTC instead). The normalised
instance uses the legacy field names, ISO-8601 times with their offset, and keeps the raw response
under ``raw``. Form values stay as DingTalk encoded them; :mod:`ferry.connectors.dingtalk.forms`
decodes them.

Normalising never raises: a part of the answer of the wrong type counts as absent and a time that does
not parse is None (the raw answer keeps what was sent), so one malformed instance becomes a record that
the quality rules can quarantine instead of an exception that stops its page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

FINAL_STATUSES = frozenset({"COMPLETED", "TERMINATED", "CANCELED"})


def parse_time(text: Any, *, z_is_beijing: bool = True) -> str | None:
    """ISO-8601 with offset from either host's time format; None for empty or unreadable values."""
    if not text or text == "null" or not isinstance(text, str):
        return None
    value = text.strip()[:64]
    try:
        if value.endswith("Z"):
            naive = dt.datetime.fromisoformat(value[:-1])
            if naive.tzinfo is not None:
                return None
            zone = BEIJING if z_is_beijing else dt.UTC
            return naive.replace(tzinfo=zone).isoformat()
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BEIJING)
    return parsed.isoformat()


def is_final(instance: Mapping[str, Any]) -> bool:
    """True once the instance can no longer change status (completed, revoked or cancelled)."""
    return instance.get("status") in FINAL_STATUSES


def is_approved(instance: Mapping[str, Any]) -> bool:
    """Approved ⇔ ``status == COMPLETED`` and ``result == agree`` (reference §3)."""
    return instance.get("status") == "COMPLETED" and instance.get("result") == "agree"


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _objects(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list (anything else in it, or a non-list, is dropped)."""
    return [v for v in _list(value) if isinstance(v, Mapping)]


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def from_oapi(instance_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a ``topapi/processinstance/get`` answer."""
    pi = _object(body.get("process_instance"))
    return {
        "process_instance_id": instance_id,
        "title": pi.get("title"),
        "status": pi.get("status"),
        "result": pi.get("result") or "",
        "business_id": pi.get("business_id"),
        "originator_userid": pi.get("originator_userid"),
        "originator_dept_id": pi.get("originator_dept_id"),
        "originator_dept_name": pi.get("originator_dept_name"),
        "create_time": parse_time(pi.get("create_time")),
        "finish_time": parse_time(pi.get("finish_time")),
        "approver_userids": _list(pi.get("approver_userids")),
        "cc_userids": _list(pi.get("cc_userids")),
        "biz_action": pi.get("biz_action"),
        "attached_process_instance_ids": _list(pi.get("attached_process_instance_ids")),
        "main_process_instance_id": pi.get("main_process_instance_id"),
        "form_component_values": [
            {
                "id": c.get("id"),
                "name": c.get("name"),
                "value": c.get("value"),
                "ext_value": c.get("ext_value"),
                "component_type": c.get("component_type"),
                "biz_alias": c.get("biz_alias"),
            }
            for c in _objects(pi.get("form_component_values"))
        ],
        "operation_records": [
            {
                "userid": r.get("userid"),
                "date": parse_time(r.get("date")),
                "type": r.get("operation_type"),
                "result": r.get("operation_result"),
                "remark": r.get("remark"),
            }
            for r in _objects(pi.get("operation_records"))
        ],
        "tasks": [
            {
                "task_id": str(t.get("taskid")) if t.get("taskid") is not None else None,
                "userid": t.get("userid"),
                "status": t.get("task_status"),
                "result": t.get("task_result"),
                "create_time": parse_time(t.get("create_time")),
                "finish_time": parse_time(t.get("finish_time")),
                "activity_id": t.get("activity_id"),
            }
            for t in _objects(pi.get("tasks"))
        ],
        "api_style": "oapi",
        "raw": dict(body),
    }


def from_v1(instance_id: str, body: Mapping[str, Any], *, z_is_beijing: bool = True) -> dict[str, Any]:
    """Normalise a ``GET /v1.0/workflow/processInstances`` answer."""
    r = _object(body.get("result"))

    def t(value: Any) -> str | None:
        return parse_time(value, z_is_beijing=z_is_beijing)

    return {
        "process_instance_id": instance_id,
        "title": r.get("title"),
        "status": r.get("status"),
        "result": r.get("result") or "",
        "business_id": r.get("businessId"),
        "originator_userid": r.get("originatorUserId"),
        "originator_dept_id": r.get("originatorDeptId"),
        "originator_dept_name": r.get("originatorDeptName"),
        "create_time": t(r.get("createTime")),
        "finish_time": t(r.get("finishTime")),
        "approver_userids": _list(r.get("approverUserIds")),
        "cc_userids": _list(r.get("ccUserIds")),
        "biz_action": r.get("bizAction"),
        "attached_process_instance_ids": _list(r.get("attachedProcessInstanceIds")),
        "main_process_instance_id": r.get("mainProcessInstanceId"),
        "form_component_values": [
            {
                "id": c.get("id"),
                "name": c.get("name"),
                "value": c.get("value"),
                "ext_value": c.get("extValue"),
                "component_type": c.get("componentType"),
                "biz_alias": c.get("bizAlias"),
            }
            for c in _objects(r.get("formComponentValues"))
        ],
        "operation_records": [
            {
                "userid": o.get("userId"),
                "date": t(o.get("date")),
                "type": o.get("type"),
                "result": o.get("result"),
                "remark": o.get("remark"),
            }
            for o in _objects(r.get("operationRecords"))
        ],
        "tasks": [
            {
                "task_id": str(k.get("taskId")) if k.get("taskId") is not None else None,
                "userid": k.get("userId"),
                "status": k.get("status"),
                "result": k.get("result"),
                "create_time": t(k.get("createTime")),
                "finish_time": t(k.get("finishTime")),
                "activity_id": k.get("activityId"),
            }
            for k in _objects(r.get("tasks"))
        ],
        "api_style": "v1",
        "raw": dict(body),
    }
