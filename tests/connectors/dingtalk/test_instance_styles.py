"""The two DingTalk styles of one instance normalise alike: ``from_oapi`` of the legacy answer and
``from_v1`` of the v1.0 answer, both rendered by the sandbox from the same seeded instances, agree on
every field but what the hosts really differ in (v1.0 gives times to the minute and has bizAlias).
This holds each style's table of wire keys to the other: a key misspelt in one reads as None there."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ferry.connectors.dingtalk.instance import from_oapi, from_v1
from ferry.sandbox.dingtalk import lifecycle
from ferry.sandbox.dingtalk.store import InstanceStore, render_legacy, render_v1

TIMES = {"create_time", "finish_time", "date"}


def _comparable(value: Any, key: str = "") -> Any:
    """``value`` with times cut to the minute and bizAlias left out (the legacy form has none)."""
    if isinstance(value, dict):
        return {k: _comparable(v, k) for k, v in value.items() if k not in ("biz_alias", "api_style", "raw")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if key in TIMES and isinstance(value, str):
        return value[:16] + value[19:]  # 2025-12-02T08:27:10+08:00 -> 2025-12-02T08:27+08:00
    return value


def _held(n: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tuple(n[k] for k in ("title", "status", "result", "business_id", "originator_userid", "biz_action")),
        (n["originator_dept_id"], n["originator_dept_name"], n["cc_userids"], n["approver_userids"]),
        [
            (c["id"], c["name"], c["value"], c["ext_value"], c["component_type"])
            for c in n["form_component_values"]
        ],
        [(r["userid"], r["type"], r["result"], r["remark"]) for r in n["operation_records"]],
        [(t["task_id"], t["userid"], t["status"], t["result"], t["activity_id"]) for t in n["tasks"]],
    )


def _truth(i: Any) -> tuple[Any, ...]:
    return (
        (i.title, i.status, i.result or "", i.business_id, i.originator_userid, i.biz_action),
        (i.originator_dept_id, i.originator_dept_name, list(i.cc_userids), list(i.approver_userids)),
        [(c.id, c.name, c.value, c.ext_value, c.component_type) for c in i.form],
        [(o.userid, o.type, o.result, o.remark) for o in i.operations],
        [(str(t.taskid), t.userid, t.status, t.result, t.activity_id) for t in i.tasks],
    )


@pytest.fixture(scope="module")
def store() -> InstanceStore:
    seeded = InstanceStore()
    lifecycle.seed(
        seeded, count=120, rng=random.Random(7), process_code="PROC-X", anchor_ms=1_767_225_600_000, days=30
    )
    return seeded


def test_both_styles_normalise_to_the_same_instance(store: InstanceStore) -> None:
    instances = store.all()
    # the seed covers what the tables map: finished ones, tasks, records, remarks, form values
    assert any(i.finish_ms is not None for i in instances)
    assert any(op.remark for i in instances for op in i.operations)
    for inst in instances:
        oapi = from_oapi(inst.id, {"process_instance": render_legacy(inst)})
        v1 = from_v1(inst.id, {"result": render_v1(inst)})
        assert (oapi["api_style"], v1["api_style"]) == ("oapi", "v1")
        assert _comparable(oapi) == _comparable(v1), inst.id
        # and both hold what the instance holds (the check above cannot see a key lost in both)
        assert _held(oapi) == _held(v1) == _truth(inst), inst.id


def test_only_v1_carries_biz_alias(store: InstanceStore) -> None:
    aliased = [i for i in store.all() if any(c.biz_alias for c in i.form)]
    assert aliased
    inst = aliased[0]
    v1 = from_v1(inst.id, {"result": render_v1(inst)})
    oapi = from_oapi(inst.id, {"process_instance": render_legacy(inst)})
    assert [c["biz_alias"] for c in v1["form_component_values"]] == [c.biz_alias for c in inst.form]
    assert all(c["biz_alias"] is None for c in oapi["form_component_values"])
