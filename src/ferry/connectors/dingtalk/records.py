"""DingTalk instances as Ferry records: their content, their state, when to look at a running one again.

Split from :mod:`ferry.connectors.dingtalk.source`, which re-exports every name here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ferry.connectors.base import RecordState
from ferry.connectors.dingtalk.forms import flatten_form
from ferry.connectors.dingtalk.spec import ApprovalParams

#: gaps between looks at a running instance: 5 min, 15 min, 1 h, 4 h, then every 12 h. Derived from
#: the instance's age (looks fall at ages 5 min, 20 min, 1 h 20, 5 h 20, 17 h 20, ...), so the schedule
#: needs no counter and an instance approved after a day costs five looks, not one every few minutes
WATCH_STEPS: tuple[dt.timedelta, ...] = (
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
    dt.timedelta(hours=4),
)
WATCH_LATE = dt.timedelta(hours=12)
#: never look again sooner than this
WATCH_MIN_GAP = dt.timedelta(minutes=1)

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

_FINAL_REASONS = {"TERMINATED": "approval revoked", "CANCELED": "approval cancelled"}


def parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def plain(value: Any) -> Any:
    """``value`` as plain JSON: Decimal to its exact string, date/datetime to ISO text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _raw_instance(inst: Mapping[str, Any]) -> Any:
    """The instance object DingTalk sent, without the envelope (request ids differ on every call)."""
    raw = inst.get("raw") or {}
    if inst.get("api_style") == "oapi":
        return raw.get("process_instance")
    return raw.get("result")


INSTANCE_FIELDS = (
    "process_instance_id",
    "business_id",
    "title",
    "status",
    "result",
    "originator_userid",
    "originator_dept_id",
    "originator_dept_name",
    "create_time",
    "finish_time",
    "biz_action",
)


def to_record(inst: Mapping[str, Any]) -> dict[str, Any]:
    """The Ferry record of one normalised instance (see the module docstring for its shape)."""
    form = flatten_form(inst.get("form_component_values") or [])
    record: dict[str, Any] = plain(form.by_name)
    # instance fields win over a form label of the same name: id and number come from them
    for name in INSTANCE_FIELDS:
        record[name] = inst.get(name)
    record["_by_alias"] = plain(form.by_alias)
    record["_by_id"] = plain(form.by_id)
    record["_raw"] = _raw_instance(inst)
    return record


def next_look_age(age: dt.timedelta) -> dt.timedelta:
    """The age at which a running instance of age ``age`` is looked at next (see ``WATCH_STEPS``)."""
    at = dt.timedelta(0)
    for step in WATCH_STEPS:
        at += step
        if at > age:
            return at
    late = (age - at) // WATCH_LATE + 1
    return at + late * WATCH_LATE


def watch_interval(age: dt.timedelta) -> dt.timedelta:
    """How long to wait before looking at a running instance of this age again."""
    return max(WATCH_MIN_GAP, next_look_age(age) - age)


def state_of(p: ApprovalParams, inst: Mapping[str, Any], now: dt.datetime) -> RecordState:
    """The record state one instance stands for under the scheme's params (see the source's docstring)."""
    status = str(inst.get("status") or "")
    result = str(inst.get("result") or "")
    if status in p.statuses and (status != "COMPLETED" or p.result is None or result in p.result):
        return RecordState("pending")
    if status == "COMPLETED":
        reason = "approval refused" if result == "refuse" else f"approval result is {result or 'empty'}"
        return RecordState("skipped", reason)
    if status in _FINAL_REASONS:
        return RecordState("skipped", _FINAL_REASONS[status])
    if status not in ("RUNNING", "NEW"):
        return RecordState("skipped", f"approval status {status or 'unknown'} is not taken")
    created = parse_time(inst.get("create_time")) or now
    age = max(dt.timedelta(0), now - created)
    until = created + dt.timedelta(days=p.max_age_days)
    if now >= until:
        return RecordState("skipped", f"still running after {age.days} days")
    interval = watch_interval(age)
    if p.events:
        interval = max(interval, dt.timedelta(hours=p.event_grace_hours))
    next_at = min(now + interval, until)
    return RecordState(
        "watching",
        f"approval still {status.lower()}; watched until {until.astimezone(BEIJING):%Y-%m-%d}",
        watch_next_at=next_at,
        watch_until=until,
    )


def stub(p: ApprovalParams, instance_id: str, now: dt.datetime) -> tuple[dict[str, Any], RecordState]:
    """A listed instance not fetched yet (events on): its id only, watched until its event comes."""
    until = now + dt.timedelta(days=p.max_age_days)
    next_at = min(now + dt.timedelta(hours=p.event_grace_hours), until)
    record = {"process_instance_id": instance_id, "status": None, "_stub": True}
    return record, RecordState(
        "watching", "listed; waiting for its approval event", watch_next_at=next_at, watch_until=until
    )
