"""condition filters: operators, AND/OR, timestamp values, child rows, strictMode."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.expr import Context, ExprError, compile_condition

RECORD: dict[str, Any] = {
    "status": "COMPLETED",
    "amount": "1500.50",
    "count": 3,
    "title": "张三的付款申请",
    "code": "FK_001",
    "empty": "",
    "nothing": None,
    "created": "2024-03-15 10:30:00",
    "created_ms": 1710469800000,
    "workflowMainTableInfo": {"fklx": "预付款"},
}


def keeps(clause: dict[str, Any], record: dict[str, Any] | None = None) -> bool:
    verdict = compile_condition([[clause]]).apply(record or RECORD)
    return verdict.record is not None


@pytest.mark.parametrize(
    ("field", "logic", "value", "expected"),
    [
        ("status", "eq", "COMPLETED", True),
        ("status", "eq", "RUNNING", False),
        ("status", "eqv2", "COMPLETED", True),
        ("count", "eq", "3", True),
        ("amount", "eq", 1500.5, True),
        ("status", "neq", "RUNNING", True),
        ("status", "neq", "COMPLETED", False),
        ("amount", "gt", "1000", True),
        ("amount", "gt", 1500.5, False),
        ("amount", "egt", 1500.5, True),
        ("count", "lt", 10, True),
        ("count", "lt", 3, False),
        ("count", "elt", 3, True),
        ("code", "gt", "FK", True),
        ("title", "like", "付款", True),
        ("title", "like", "张%申请", True),
        ("title", "like", "李%", False),
        ("code", "like", "FK_0%", True),
        ("title", "notlike", "退款", True),
        ("title", "notlike", "付款", False),
        ("count", "between", "1,3", True),
        ("count", "between", "4,9", False),
        ("amount", "between", ["1000", "2000"], True),
        ("created", "between", "2024-03-01,2024-03-31", True),
        ("status", "notnull", None, True),
        ("empty", "notnull", None, False),
        ("nothing", "isnull", None, True),
        ("missing", "isnull", None, True),
        ("status", "isnull", None, False),
        ("missing", "eq", "x", False),
        ("missing", "gt", 1, False),
        ("missing", "notlike", "x", True),
        ("workflowMainTableInfo.fklx", "eqv2", "预付款", True),
    ],
)
def test_operators(field: str, logic: str, value: Any, expected: bool) -> None:
    assert keeps({"field": field, "logic": logic, "value": value}) is expected


@pytest.mark.parametrize(
    ("field", "logic", "value", "expected"),
    [
        ("created", "gt", "timestamp:1704067200", True),
        ("created", "lt", "timestamp:1704067200", False),
        ("created", "egt", "timestamp:1710469800", True),
        ("created_ms", "eq", "timestamp:1710469800", True),
        ("created_ms", "between", "timestamp:1710000000,timestamp:1720000000", True),
        ("status", "gt", "timestamp:1", False),
    ],
)
def test_timestamp_values_compare_as_time(field: str, logic: str, value: str, expected: bool) -> None:
    assert keeps({"field": field, "logic": logic, "value": value}) is expected


def test_template_values_are_rendered() -> None:
    condition = compile_condition(
        [[{"field": "created", "logic": "egt", "value": "{{LAST_SYNC_TIME|datetime}}"}]]
    )
    assert condition.apply(RECORD, Context(variables={"LAST_SYNC_TIME": 1704067200})).record is not None
    assert condition.apply(RECORD, Context(variables={"LAST_SYNC_TIME": 1735689600})).record is None


def test_and_inside_groups_or_across_groups() -> None:
    a_and_b = compile_condition(
        [
            [
                {"field": "status", "logic": "eq", "value": "COMPLETED"},
                {"field": "count", "logic": "gt", "value": 5},
            ]
        ]
    )
    verdict = a_and_b.apply(RECORD)
    assert verdict.record is None
    assert verdict.reason == "condition not met: count gt 5 (was 3)"
    a_or_b = compile_condition(
        [
            [{"field": "status", "logic": "eq", "value": "RUNNING"}],
            [{"field": "count", "logic": "gt", "value": 2}],
        ]
    )
    assert a_or_b.apply(RECORD).record == RECORD
    neither = compile_condition(
        [
            [{"field": "status", "logic": "eq", "value": "RUNNING"}],
            [{"field": "count", "logic": "gt", "value": 9}],
        ]
    )
    reason = neither.apply(RECORD).reason
    assert (
        reason
        == "condition not met: group 1: status eq 'RUNNING' (was 'COMPLETED'); group 2: count gt 9 (was 3)"
    )


def test_empty_condition_keeps_everything_and_flat_list_is_one_group() -> None:
    assert compile_condition([]).apply(RECORD) == (RECORD, None, 0)
    assert compile_condition(None).apply(RECORD).record == RECORD
    flat = compile_condition([{"field": "count", "logic": "eq", "value": 3}])
    assert flat.apply(RECORD).record == RECORD


ORDER = {
    "id": "O1",
    "shop": "S1",
    "details_list": [
        {"sku": "A", "qty": 5},
        {"sku": "B", "qty": 0},
        {"sku": "C", "qty": 2},
    ],
}


def test_failing_child_rows_are_removed() -> None:
    condition = compile_condition([[{"field": "details_list.qty", "logic": "gt", "value": 0}]])
    verdict = condition.apply(ORDER)
    assert verdict.record is not None
    assert [row["sku"] for row in verdict.record["details_list"]] == ["A", "C"]
    assert verdict.removed_rows == 1
    assert len(ORDER["details_list"]) == 3  # the input is not modified


def test_strict_mode_drops_the_record_when_one_row_fails() -> None:
    condition = compile_condition(
        [[{"field": "details_list.qty", "logic": "gt", "value": 0}]], strict_mode=True
    )
    verdict = condition.apply(ORDER)
    assert verdict.record is None
    assert (
        verdict.reason
        == "strictMode: row 1 of details_list failed; condition not met: details_list.qty gt 0 (was 0)"
    )


def test_all_rows_failing_drops_the_record() -> None:
    condition = compile_condition([[{"field": "details_list.qty", "logic": "gt", "value": 10}]])
    verdict = condition.apply(ORDER)
    assert verdict.record is None and verdict.reason is not None
    assert verdict.reason.startswith("all 3 rows of details_list failed")


def test_header_and_row_clauses_combine_per_row() -> None:
    condition = compile_condition(
        [
            [
                {"field": "shop", "logic": "eq", "value": "S1"},
                {"field": "details_list.sku", "logic": "neq", "value": "B"},
            ]
        ]
    )
    verdict = condition.apply(ORDER)
    assert verdict.record is not None and [r["sku"] for r in verdict.record["details_list"]] == ["A", "C"]
    wrong_shop = compile_condition(
        [
            [
                {"field": "shop", "logic": "eq", "value": "S2"},
                {"field": "details_list.sku", "logic": "neq", "value": "B"},
            ]
        ]
    )
    assert wrong_shop.apply(ORDER).record is None


def test_or_with_a_header_group_keeps_all_rows() -> None:
    condition = compile_condition(
        [
            [{"field": "shop", "logic": "eq", "value": "S1"}],
            [{"field": "details_list.qty", "logic": "gt", "value": 3}],
        ]
    )
    verdict = condition.apply(ORDER)
    assert (
        verdict.record is not None and len(verdict.record["details_list"]) == 3 and verdict.removed_rows == 0
    )


def test_nested_table_path_is_filtered_in_place() -> None:
    record = {"data": {"lines": [{"q": 1}, {"q": 0}]}, "other": 1}
    verdict = compile_condition([[{"field": "data.lines.q", "logic": "gt", "value": 0}]]).apply(record)
    assert verdict.record == {"data": {"lines": [{"q": 1}]}, "other": 1}


def test_empty_table_with_a_row_clause_drops_the_record() -> None:
    condition = compile_condition([[{"field": "details_list.qty", "logic": "gt", "value": 0}]])
    verdict = condition.apply({"details_list": []})
    assert verdict.record is None and verdict.reason is not None and "no rows" in verdict.reason
    isnull = compile_condition([[{"field": "details_list.qty", "logic": "isnull"}]])
    assert isnull.apply({"details_list": []}).record == {"details_list": []}


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [
        ([[{"field": "a", "logic": "approx", "value": 1}]], "unknown logic 'approx'"),
        ([[{"logic": "eq", "value": 1}]], "needs a 'field'"),
        ([[{"field": "a", "logic": "between", "value": "1"}]], "two bounds"),
        ([[{"field": "a", "logic": "gt", "value": "timestamp:soon"}]], "Unix seconds"),
        ([["not a clause"]], "must be an object"),
        (["x", "y"], "must be a list of clauses"),
    ],
)
def test_bad_conditions_name_the_place(groups: Any, fragment: str) -> None:
    with pytest.raises(ExprError, match=fragment):
        compile_condition(groups)
