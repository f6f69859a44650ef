"""The Qingyi metadata snippets from the reference, rendered as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferry.expr import (
    Context,
    MemoryLookup,
    beat_flat,
    build_request,
    compile_condition,
    compile_request,
    field_nodes,
    format_response,
    render,
)

from .conftest import LAST_SYNC, NOW, NOW_TS

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "qingyi_examples.json").read_text("utf-8")
)
CTX = Context(variables={"LAST_SYNC_TIME": LAST_SYNC}, now=NOW)


def test_jiandaoyun_source_request_with_parser_and_nested_filter() -> None:
    body = build_request(field_nodes(EXAMPLES["jiandaoyun_source_request"]), {}, CTX)
    assert body == {
        "appId": "642307c0",
        "fields": ["_widget_1683509935530", "_widget_1683509935531"],
        "limit": "100",
        "filter": {
            "rel": "and",
            "cond_1": {
                "field": "updateTime",
                "type": "datetime",
                "method": "range",
                "value": ["2024-01-01 08:00:00", "2024-03-15 12:00:00"],
            },
        },
    }
    assert render(EXAMPLES["jiandaoyun_range_values"], {}, CTX) == [
        "2024-01-01 08:00:00",
        "2024-03-15 12:00:00",
    ]


def test_fanwei_condition_with_eqv2() -> None:
    condition = compile_condition(EXAMPLES["fanwei_condition"])
    assert condition.apply({"workflowMainTableInfo": {"fklx": "预付款"}}).record is not None
    dropped = condition.apply({"workflowMainTableInfo": {"fklx": "报销"}})
    assert dropped.record is None and "预付款" in (dropped.reason or "")


def test_maycur_watermark_in_milliseconds() -> None:
    assert build_request(EXAMPLES["maycur_request"], {}, CTX) == {"startPaidTime": f"{LAST_SYNC}000"}


def test_omission_remedy_windows() -> None:
    body = build_request(EXAMPLES["omission_remedy_take_over_request"], {}, CTX)
    assert body == {"start_date": "2024-03-13 12:00:00", "end_date": "2024-03-14 12:00:00"}


def test_seed_target_snippet() -> None:
    record = {"单据编号": "FKSQ-2024-0001", "status": "COMPLETED"}
    body = build_request(EXAMPLES["seed_target_request"], record, CTX)
    assert body == {
        "FormId": "CN_PAYAPPLY",
        "Numbers": "FKSQ-2024-0001",
        "Ids": "COMPLETED",
        "IsEnableDefaultRule": "true",
        "TargetFormId": "AP_PAYBILL",
        "IsDraftWhenSaveFail": "true",
    }


@pytest.mark.parametrize(
    ("name", "record", "expected"),
    [
        ("simple_case", {"FOrgId": "100", "price": "9.90", "qty": "3"}, 29.7),
        ("simple_case", {"FOrgId": "200", "price": 1, "qty": 1}, "201"),
        ("left_case", {"单据编号": "AD-1"}, 100),
        ("from_unixtime", {}, "2024-01-01 07:50:00"),
        ("sum_rows", {"details_list": [{"qty": 1}, {"qty": 2}]}, 3),
        ("remedy_offset", {}, LAST_SYNC - 600000),
        ("bare_case", {}, "b"),
    ],
)
def test_function_examples(name: str, record: dict[str, Any], expected: Any) -> None:
    assert render(EXAMPLES["functions"][name], record, CTX) == expected


def test_function_on_a_child_field_inside_its_row() -> None:
    nodes = [
        {
            "field": "FEntity",
            "type": "array",
            "value": "details_list",
            "children": [
                {"field": "FTaxRate", "type": "number", "value": EXAMPLES["functions"]["arithmetic"]}
            ],
        }
    ]
    body = build_request(nodes, {"details_list": [{"tax": 0.13}, {"tax": 0.06}]}, CTX)
    assert body == {"FEntity": [{"FTaxRate": 13.0}, {"FTaxRate": 6.0}]}


def test_find_collection_examples() -> None:
    lookup = MemoryLookup(
        {
            "66da8241-x": [{"FNumber": "I-1", "FIsKFPeriod": True}],
            "5f0a-po": [
                {"FBillNo": "PO-9", "FMaterialId": "G1", "FPOOrderEntry_FEntryId": 101},
                {"FBillNo": "PO-9", "FMaterialId": "G2", "FPOOrderEntry_FEntryId": 102},
            ],
        }
    )
    ctx = Context(lookup=lookup, now=NOW)
    expression = EXAMPLES["functions"]["find_in_function"]
    assert render(expression, {"details": {"details_item_code": "I-1"}}, ctx) == "是"
    assert render(expression, {"details": {"details_item_code": "I-2"}}, ctx) == ""
    nodes = [
        {
            "field": "FEntity",
            "type": "array",
            "value": "details_list",
            "children": [{"field": "FSrcEntryId", "type": "int", "value": EXAMPLES["find_collection"]}],
        }
    ]
    record = {
        "purchase_no": "PO-9",
        "details_list": [{"goods_no": "G2"}, {"goods_no": "G1"}, {"goods_no": "G3"}],
    }
    assert build_request(nodes, record, ctx) == {
        "FEntity": [{"FSrcEntryId": 102}, {"FSrcEntryId": 101}, {"FSrcEntryId": None}]
    }


def test_format_response_and_beat_flat_examples() -> None:
    record = {
        "id": "W1",
        "create_time": "2024-03-15 10:30:00",
        "details_list": [{"goods": "A"}, {"goods": "B"}],
    }
    formatted = format_response(record, EXAMPLES["format_response"], CTX)
    assert formatted["create_date"] == "2024-03-15"
    rows = beat_flat(formatted, EXAMPLES["beat_flat"], id_field="id")
    assert [(r["id"], r["details_list_goods"], r["create_date"]) for r in rows] == [
        ("W1-0", "A", "2024-03-15"),
        ("W1-1", "B", "2024-03-15"),
    ]


def test_kingdee_target_with_table_body() -> None:
    record = {
        "consign_time": NOW_TS,
        "details_list": [
            {"goods_no": "G1", "num": "2", "price": "10.50"},
            {"goods_no": "G2", "num": 1, "price": 3},
        ],
    }
    body = compile_request(EXAMPLES["kingdee_target_request"]).build(record, CTX)
    assert body == {
        "FormId": "SAL_OUTSTOCK",
        "Model": {
            "FBillTypeID": {"FNumber": "XSCKD01_SYS"},
            "FDate": "2024-03-15",
            "FEntity": [
                {"FMaterialId": {"FNumber": "G1"}, "FRealQty": 2, "FTaxPrice": 10.5},
                {"FMaterialId": {"FNumber": "G2"}, "FRealQty": 1, "FTaxPrice": 3},
            ],
        },
    }
    assert list(body["Model"]) == ["FBillTypeID", "FDate", "FEntity"]
