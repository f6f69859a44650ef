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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Wire:
    """One host's key for each normalised key, per part of the answer (a key not listed is spelt the same).

    Both normalisers read through such a table, so the normalised shape is written once."""

    api_style: str
    envelope: str
    instance: Mapping[str, str]
    component: Mapping[str, str]
    record: Mapping[str, str]
    task: Mapping[str, str]


# the normalised instance uses the legacy names, so only the nested records' prefixes differ
_OAPI = _Wire(
    api_style="oapi",
    envelope="process_instance",
    instance={},
    component={},
    record={"type": "operation_type", "result": "operation_result"},
    task={"task_id": "taskid", "status": "task_status", "result": "task_result"},
)

_V1 = _Wire(
    api_style="v1",
    envelope="result",
    instance={
        "business_id": "businessId",
        "originator_userid": "originatorUserId",
        "originator_dept_id": "originatorDeptId",
        "originator_dept_name": "originatorDeptName",
        "create_time": "createTime",
        "finish_time": "finishTime",
        "approver_userids": "approverUserIds",
        "cc_userids": "ccUserIds",
        "biz_action": "bizAction",
        "attached_process_instance_ids": "attachedProcessInstanceIds",
        "main_process_instance_id": "mainProcessInstanceId",
        "form_component_values": "formComponentValues",
        "operation_records": "operationRecords",
    },
    component={"ext_value": "extValue", "component_type": "componentType", "biz_alias": "bizAlias"},
    record={"userid": "userId"},
    task={
        "task_id": "taskId",
        "userid": "userId",
        "create_time": "createTime",
        "finish_time": "finishTime",
        "activity_id": "activityId",
    },
)

_Get = Callable[[str], Any]
_Time = Callable[[Any], str | None]


def _reader(obj: Mapping[str, Any], keys: Mapping[str, str]) -> _Get:
    """Read ``obj`` by normalised key, through the host's spelling of it."""
    return lambda name: obj.get(keys.get(name, name))


def from_oapi(instance_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a ``topapi/processinstance/get`` answer."""
    return _normalise(instance_id, body, _OAPI, parse_time)


def from_v1(instance_id: str, body: Mapping[str, Any], *, z_is_beijing: bool = True) -> dict[str, Any]:
    """Normalise a ``GET /v1.0/workflow/processInstances`` answer."""
    return _normalise(instance_id, body, _V1, lambda value: parse_time(value, z_is_beijing=z_is_beijing))


def _normalise(instance_id: str, body: Mapping[str, Any], wire: _Wire, time: _Time) -> dict[str, Any]:
    get = _reader(_object(body.get(wire.envelope)), wire.instance)
    return {
        "process_instance_id": instance_id,
        "title": get("title"),
        "status": get("status"),
        "result": get("result") or "",
        "business_id": get("business_id"),
        "originator_userid": get("originator_userid"),
        "originator_dept_id": get("originator_dept_id"),
        "originator_dept_name": get("originator_dept_name"),
        "create_time": time(get("create_time")),
        "finish_time": time(get("finish_time")),
        "approver_userids": _list(get("approver_userids")),
        "cc_userids": _list(get("cc_userids")),
        "biz_action": get("biz_action"),
        "attached_process_instance_ids": _list(get("attached_process_instance_ids")),
        "main_process_instance_id": get("main_process_instance_id"),
        "form_component_values": [
            _component(_reader(c, wire.component)) for c in _objects(get("form_component_values"))
        ],
        "operation_records": [
            _record(_reader(r, wire.record), time) for r in _objects(get("operation_records"))
        ],
        "tasks": [_task(_reader(t, wire.task), time) for t in _objects(get("tasks"))],
        "api_style": wire.api_style,
        "raw": dict(body),
    }


def _component(get: _Get) -> dict[str, Any]:
    # values as DingTalk encoded them: forms.py decodes them
    return {k: get(k) for k in ("id", "name", "value", "ext_value", "component_type", "biz_alias")}


def _record(get: _Get, time: _Time) -> dict[str, Any]:
    return {
        "userid": get("userid"),
        "date": time(get("date")),
        "type": get("type"),
        "result": get("result"),
        "remark": get("remark"),
    }


def _task(get: _Get, time: _Time) -> dict[str, Any]:
    task_id = get("task_id")
    return {
        "task_id": str(task_id) if task_id is not None else None,
        "userid": get("userid"),
        "status": get("status"),
        "result": get("result"),
        "create_time": time(get("create_time")),
        "finish_time": time(get("finish_time")),
        "activity_id": get("activity_id"),
    }
