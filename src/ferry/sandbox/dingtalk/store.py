"""Approval instances the sandbox holds, and how each host renders them.

Instances are kept in one internal shape (times in epoch ms, form components as DingTalk stores them:
every ``value`` and ``ext_value`` a string) and rendered on the way out: snake_case and
``"yyyy-MM-dd HH:mm:ss"`` Beijing time for the legacy host, camelCase and ``"yyyy-MM-ddTHH:mmZ"`` for v1.0
(the ``Z`` notwithstanding, captures show Beijing wall-clock time; reference §3.3).
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from ferry.sandbox.dingtalk.config import BEIJING

STATUSES = ("NEW", "RUNNING", "TERMINATED", "COMPLETED", "CANCELED")
FINAL_STATUSES = ("TERMINATED", "COMPLETED", "CANCELED")


def legacy_time(ms: int | None) -> str | None:
    """``"2026-03-02 10:15:40"`` in Beijing time, as the legacy host writes it."""
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def v1_time(ms: int | None) -> str | None:
    """``"2026-03-02T10:15Z"``: minute precision, Beijing wall-clock despite the ``Z`` (reference §3.3)."""
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class Component:
    """One form component value, stored as DingTalk returns it (strings throughout)."""

    component_type: str
    name: str | None
    value: str | None
    id: str | None = None
    ext_value: str | None = None
    biz_alias: str | None = None


@dataclass
class Task:
    taskid: int
    userid: str
    status: str
    result: str
    activity_id: str
    create_ms: int | None
    finish_ms: int | None = None


@dataclass
class Operation:
    userid: str
    date_ms: int
    type: str
    result: str
    remark: str | None = None


@dataclass
class Instance:
    """One approval instance (审批实例)."""

    id: str
    process_code: str
    title: str
    create_ms: int
    originator_userid: str
    originator_dept_id: str
    originator_dept_name: str
    business_id: str
    form: list[Component]
    status: str = "RUNNING"
    result: str = ""
    finish_ms: int | None = None
    approver_userids: list[str] = field(default_factory=list)
    cc_userids: list[str] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    biz_action: str = "NONE"

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def summary(self) -> dict[str, Any]:
        """A short view for the admin API's listing."""
        return {
            "process_instance_id": self.id,
            "process_code": self.process_code,
            "business_id": self.business_id,
            "title": self.title,
            "status": self.status,
            "result": self.result,
            "create_time_ms": self.create_ms,
            "finish_time_ms": self.finish_ms,
            "originator_userid": self.originator_userid,
        }

    def admin_view(self) -> dict[str, Any]:
        """Everything the sandbox holds about the instance, in both renderings."""
        return {**self.summary(), "oapi": render_legacy(self), "v1": render_v1(self)}


def task_url(inst: Instance, task: Task) -> str:
    # not a full URL on the real service either (reference §3)
    return f"aflow.dingtalk.com?procInsId={inst.id}&taskId={task.taskid}&businessId={inst.business_id}"


def render_legacy(inst: Instance) -> dict[str, Any]:
    """The ``process_instance`` object of ``topapi/processinstance/get``."""
    form: list[dict[str, Any]] = []
    for c in inst.form:
        item: dict[str, Any] = {"component_type": c.component_type}
        if c.id is not None:
            item["id"] = c.id
        if c.name is not None:
            item["name"] = c.name
        if c.value is not None:
            item["value"] = c.value
        if c.ext_value is not None:
            item["ext_value"] = c.ext_value
        form.append(item)
    tasks: list[dict[str, Any]] = []
    for t in inst.tasks:
        task: dict[str, Any] = {
            "activity_id": t.activity_id,
            "task_result": t.result,
            "task_status": t.status,
            "taskid": str(t.taskid),
            "userid": t.userid,
            "url": task_url(inst, t),
        }
        # task create_time can be missing on the real service (reference §3)
        if t.create_ms is not None:
            task["create_time"] = legacy_time(t.create_ms)
        if t.finish_ms is not None:
            task["finish_time"] = legacy_time(t.finish_ms)
        tasks.append(task)
    records: list[dict[str, Any]] = []
    for op in inst.operations:
        rec: dict[str, Any] = {
            "date": legacy_time(op.date_ms),
            "operation_result": op.result,
            "operation_type": op.type,
            "userid": op.userid,
        }
        if op.remark is not None:
            rec["remark"] = op.remark
        records.append(rec)
    out: dict[str, Any] = {
        "title": inst.title,
        "create_time": legacy_time(inst.create_ms),
        "originator_userid": inst.originator_userid,
        "originator_dept_id": inst.originator_dept_id,
        "originator_dept_name": inst.originator_dept_name,
        "status": inst.status,
        "result": inst.result,
        "business_id": inst.business_id,
        "cc_userids": list(inst.cc_userids),
        "biz_action": inst.biz_action,
        "attached_process_instance_ids": [],
        "form_component_values": form,
        "operation_records": records,
        "tasks": tasks,
    }
    if inst.approver_userids:
        out["approver_userids"] = list(inst.approver_userids)
    if inst.finish_ms is not None:
        out["finish_time"] = legacy_time(inst.finish_ms)
    return out


def render_v1(inst: Instance) -> dict[str, Any]:
    """The ``result`` object of ``GET /v1.0/workflow/processInstances``."""
    form: list[dict[str, Any]] = []
    for c in inst.form:
        item: dict[str, Any] = {"componentType": c.component_type}
        if c.id is not None:
            item["id"] = c.id
        if c.name is not None:
            item["name"] = c.name
        if c.value is not None:
            item["value"] = c.value
        if c.ext_value is not None:
            item["extValue"] = c.ext_value
        if c.biz_alias is not None:
            item["bizAlias"] = c.biz_alias
        form.append(item)
    tasks: list[dict[str, Any]] = []
    for t in inst.tasks:
        task: dict[str, Any] = {
            "taskId": t.taskid,
            "userId": t.userid,
            "status": t.status,
            "result": t.result,
            "activityId": t.activity_id,
            "mobileUrl": task_url(inst, t),
            "pcUrl": "https://" + task_url(inst, t).replace("?", "/pc?", 1),
        }
        if t.create_ms is not None:
            task["createTime"] = v1_time(t.create_ms)
        if t.finish_ms is not None:
            task["finishTime"] = v1_time(t.finish_ms)
        tasks.append(task)
    records: list[dict[str, Any]] = []
    for op in inst.operations:
        rec: dict[str, Any] = {
            "userId": op.userid,
            "date": v1_time(op.date_ms),
            "type": op.type,
            "result": op.result,
            "showName": _show_name(op.type),
        }
        if op.remark is not None:
            rec["remark"] = op.remark
        records.append(rec)
    out: dict[str, Any] = {
        "title": inst.title,
        "createTime": v1_time(inst.create_ms),
        "originatorUserId": inst.originator_userid,
        "originatorDeptId": inst.originator_dept_id,
        "originatorDeptName": inst.originator_dept_name,
        "status": inst.status,
        "result": inst.result,
        "businessId": inst.business_id,
        "ccUserIds": list(inst.cc_userids),
        "bizAction": inst.biz_action,
        "attachedProcessInstanceIds": [],
        "formComponentValues": form,
        "operationRecords": records,
        "tasks": tasks,
    }
    if inst.approver_userids:
        out["approverUserIds"] = list(inst.approver_userids)
    if inst.finish_ms is not None:
        out["finishTime"] = v1_time(inst.finish_ms)
    return out


def _show_name(op_type: str) -> str:
    return {
        "START_PROCESS_INSTANCE": "发起审批",
        "EXECUTE_TASK_NORMAL": "审批人",
        "TERMINATE_PROCESS_INSTANCE": "撤销",
        "PROCESS_CC": "抄送人",
    }.get(op_type, "审批人")


def new_instance_id(rng: random.Random, create_ms: int) -> str:
    """36 chars: 22 URL-safe base64 chars, 4 digits, 10-digit epoch seconds (the newer real format)."""
    head = base64.urlsafe_b64encode(rng.randbytes(16)).decode()[:22]
    return f"{head}{rng.randrange(10000):04d}{create_ms // 1000:010d}"


def new_business_id(rng: random.Random, create_ms: int) -> str:
    """21 digits: ``yyyyMMddHHmm`` of the Beijing create time + 9 digits."""
    stamp = dt.datetime.fromtimestamp(create_ms / 1000, BEIJING).strftime("%Y%m%d%H%M")
    return f"{stamp}{rng.randrange(10**9):09d}"


class InstanceStore:
    """All instances, ordered by create time (the list APIs filter and page on it)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Instance] = {}
        self.next_task_id = 74296840000

    def add(self, inst: Instance) -> Instance:
        self._by_id[inst.id] = inst
        return inst

    def get(self, instance_id: str) -> Instance | None:
        return self._by_id.get(instance_id)

    def all(self) -> list[Instance]:
        return sorted(self._by_id.values(), key=lambda i: (i.create_ms, i.id))

    def __len__(self) -> int:
        return len(self._by_id)

    def query(
        self,
        process_code: str,
        start_ms: int,
        end_ms: int,
        userids: list[str] | None = None,
        statuses: list[str] | None = None,
    ) -> list[str]:
        """IDs of instances of the template created in ``[start_ms, end_ms]``, oldest first."""
        return [
            i.id
            for i in self.all()
            if i.process_code == process_code
            and start_ms <= i.create_ms <= end_ms
            and (not userids or i.originator_userid in userids)
            and (not statuses or i.status in statuses)
        ]

    def allocate_task_id(self) -> int:
        self.next_task_id += 1
        return self.next_task_id
