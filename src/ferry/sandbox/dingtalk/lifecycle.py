"""How instances move: start, approve, refuse, revoke, cancel; and the seeded history.

Each transition returns the events DingTalk would push (``bpms_task_change`` and
``bpms_instance_change``), which the event delivery turns into HTTP callbacks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ferry.sandbox.dingtalk import payment
from ferry.sandbox.dingtalk.store import (
    Instance,
    InstanceStore,
    Operation,
    Task,
    new_business_id,
    new_instance_id,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class EventSpec:
    """An event to push: ``event_type`` is ``bpms_instance_change`` or ``bpms_task_change``."""

    event_type: str
    instance_id: str
    type: str
    result: str | None
    staff_id: str
    at_ms: int
    task_id: int | None = None
    remark: str | None = None


class TransitionError(ValueError):
    """The instance is not in a state that allows the requested transition."""


def _current_task(inst: Instance) -> Task | None:
    return next((t for t in inst.tasks if t.status == "RUNNING"), None)


def _open_task(store: InstanceStore, inst: Instance, userid: str, at_ms: int) -> EventSpec:
    task = Task(
        taskid=store.allocate_task_id(),
        userid=userid,
        status="RUNNING",
        result="NONE",
        activity_id=f"{len(inst.tasks) + 1:x}a{userid[-3:]}_{userid[:4]}",
        create_ms=at_ms,
    )
    inst.tasks.append(task)
    return EventSpec("bpms_task_change", inst.id, "start", None, userid, at_ms, task_id=task.taskid)


def start(
    store: InstanceStore,
    rng: random.Random,
    *,
    process_code: str,
    create_ms: int,
    seq: int,
    originator: tuple[str, str] | None = None,
    dept: tuple[int, str] | None = None,
    approvers: list[str] | None = None,
    form_overrides: dict[str, Any] | None = None,
    title: str | None = None,
) -> tuple[Instance, list[EventSpec]]:
    """Create a RUNNING instance waiting on its first approver."""
    who = originator or rng.choice(payment.people())
    where = dept or rng.choice(payment.departments())
    others = [p[0] for p in payment.people() if p[0] != who[0]]
    chain = approvers or rng.sample(others, rng.randint(1, 3))
    inst = Instance(
        id=new_instance_id(rng, create_ms),
        process_code=process_code,
        title=title or f"{who[1]}提交的付款申请",
        create_ms=create_ms,
        originator_userid=who[0],
        originator_dept_id=str(where[0]),
        originator_dept_name=where[1],
        business_id=new_business_id(rng, create_ms),
        form=payment.build_form(rng, create_ms, seq, who, where, form_overrides),
        approver_userids=list(chain),
        cc_userids=[rng.choice(others)] if rng.random() < 0.5 else [],
    )
    inst.operations.append(Operation(who[0], create_ms, "START_PROCESS_INSTANCE", "NONE"))
    store.add(inst)
    events = [EventSpec("bpms_instance_change", inst.id, "start", None, who[0], create_ms)]
    events.append(_open_task(store, inst, chain[0], create_ms + 1000))
    return inst, events


def approve(
    store: InstanceStore, inst: Instance, at_ms: int, remark: str = "", all_steps: bool = True
) -> list[EventSpec]:
    """Approve the current task (and, by default, every remaining one): ends COMPLETED/agree."""
    events: list[EventSpec] = []
    while True:
        task = _current_task(inst)
        if task is None or inst.final:
            raise TransitionError(f"instance {inst.id} is {inst.status}, not RUNNING")
        task.status, task.result, task.finish_ms = "COMPLETED", "AGREE", at_ms
        inst.operations.append(Operation(task.userid, at_ms, "EXECUTE_TASK_NORMAL", "AGREE", remark))
        events.append(
            EventSpec("bpms_task_change", inst.id, "finish", "agree", task.userid, at_ms, task.taskid, remark)
        )
        done = [t.userid for t in inst.tasks]
        remaining = [u for u in inst.approver_userids if u not in done]
        if not remaining:
            inst.status, inst.result, inst.finish_ms = "COMPLETED", "agree", at_ms
            for cc in inst.cc_userids:
                inst.operations.append(Operation(cc, at_ms, "PROCESS_CC", "NONE", ""))
            events.append(
                EventSpec("bpms_instance_change", inst.id, "finish", "agree", inst.originator_userid, at_ms)
            )
            return events
        events.append(_open_task(store, inst, remaining[0], at_ms + 1000))
        if not all_steps:
            return events
        at_ms += 1000


def refuse(inst: Instance, at_ms: int, remark: str = "") -> list[EventSpec]:
    """The current approver refuses: the instance ends COMPLETED/refuse."""
    task = _current_task(inst)
    if task is None or inst.final:
        raise TransitionError(f"instance {inst.id} is {inst.status}, not RUNNING")
    task.status, task.result, task.finish_ms = "COMPLETED", "REFUSE", at_ms
    inst.operations.append(Operation(task.userid, at_ms, "EXECUTE_TASK_NORMAL", "REFUSE", remark or "不同意"))
    inst.status, inst.result, inst.finish_ms = "COMPLETED", "refuse", at_ms
    return [
        EventSpec("bpms_task_change", inst.id, "finish", "refuse", task.userid, at_ms, task.taskid, remark),
        EventSpec("bpms_instance_change", inst.id, "finish", "refuse", inst.originator_userid, at_ms),
    ]


def revoke(inst: Instance, at_ms: int, status: str = "TERMINATED") -> list[EventSpec]:
    """The originator revokes (撤销): TERMINATED, no result (``status="CANCELED"`` for a cancelled one)."""
    task = _current_task(inst)
    if task is None or inst.final:
        raise TransitionError(f"instance {inst.id} is {inst.status}, not RUNNING")
    task.status, task.result, task.finish_ms = "CANCELED", "NONE", at_ms
    inst.operations.append(Operation(inst.originator_userid, at_ms, "TERMINATE_PROCESS_INSTANCE", "NONE", ""))
    inst.status, inst.result, inst.finish_ms = status, "", at_ms
    return [
        EventSpec("bpms_task_change", inst.id, "cancel", None, task.userid, at_ms, task.taskid),
        EventSpec("bpms_instance_change", inst.id, "terminate", None, inst.originator_userid, at_ms),
    ]


def seed(
    store: InstanceStore, *, count: int, rng: random.Random, process_code: str, anchor_ms: int, days: int
) -> None:
    """Lay out ``count`` instances created over ``days`` days before ``anchor_ms``, in every status.

    Roughly: half approved, some refused, a fifth still running, the rest revoked or cancelled; about one
    in seven approved only one to four weeks after creation (the case the list-by-create-time API hides).
    """
    span = days * DAY_MS
    creates = sorted(anchor_ms - rng.randrange(HOUR_MS, span) for _ in range(count))
    for seq, create_ms in enumerate(creates, start=1):
        # office hours make the data look like a real org's
        inst, _ = start(store, rng, process_code=process_code, create_ms=create_ms, seq=seq)
        roll = rng.random()
        if roll < 0.15:
            delay = rng.randrange(7 * DAY_MS, 28 * DAY_MS)
        else:
            delay = rng.randrange(HOUR_MS // 2, 3 * DAY_MS)
        at = create_ms + delay
        fate = rng.random()
        if at >= anchor_ms or fate < 0.2:
            # still waiting: maybe one approver of several has acted
            if len(inst.approver_userids) > 1 and rng.random() < 0.5:
                approve(store, inst, create_ms + (anchor_ms - create_ms) // 3, all_steps=False)
            continue
        if fate < 0.68:
            approve(store, inst, at, remark=rng.choice(["", "同意", "同意付款"]))
        elif fate < 0.83:
            refuse(inst, at, remark=rng.choice(["金额有误", "缺少发票", ""]))
        elif fate < 0.94:
            revoke(inst, at)
        else:
            revoke(inst, at, status="CANCELED")
