"""ExecuteBillQuery / BillQuery: FieldKeys, FilterString (text and JSON forms), OrderString, paging, errors."""

from __future__ import annotations

from typing import Any

import pytest
from kd_sandbox_support import Caller, status_of


@pytest.fixture
def seeded(logged_in: Caller) -> Caller:
    logged_in.admin(
        "POST",
        "bills",
        json={
            "bills": [
                {
                    "number": "FKSQ000001",
                    "amount": 100,
                    "supplier": "VEN00001",
                    "date": "2025-01-05T00:00:00",
                },
                {
                    "number": "FKSQ000002",
                    "amount": 250.5,
                    "supplier": "VEN00002",
                    "date": "2025-02-10T00:00:00",
                },
                {
                    "number": "FKSQ000003",
                    "amounts": [10, 20],
                    "supplier": "VEN00001",
                    "status": "A",
                    "date": "2025-03-15T00:00:00",
                },
                {
                    "number": "FKSQ000004",
                    "amount": 999,
                    "supplier": "VEN00003",
                    "status": "B",
                    "missing_settle_type": True,
                    "date": "2025-04-20T00:00:00",
                },
            ]
        },
    )
    return logged_in


def _query(kd: Caller, filter_string: Any, keys: str = "FBillNo", **extra: Any) -> list[Any]:
    data = {
        "FormId": "CN_PAYAPPLY",
        "FieldKeys": keys,
        "FilterString": filter_string,
        "OrderString": "FBillNo ASC",
        **extra,
    }
    rows: list[Any] = kd.call("ExecuteBillQuery", {"data": data})
    return rows


def _numbers(rows: list[list[Any]]) -> list[str]:
    return [r[0][-1] for r in rows]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("FBillNo='FKSQ000002'", "2"),
        ("fbillno = 'fksq000002'", "2"),  # keys and string values compare case-insensitively
        ("FDocumentStatus<>'C'", "34"),
        ("FAPPLYAMOUNTFOR_H>250.5", "4"),
        ("FAPPLYAMOUNTFOR_H>=250.5", "24"),
        ("FAPPLYAMOUNTFOR_H<100", "3"),
        ("FAPPLYAMOUNTFOR_H<=100", "13"),
        ("FBillNo like 'FKSQ00000_' AND FCONTACTUNIT.FNumber = 'VEN00001'", "13"),
        ("FBillNo NOT LIKE '%1'", "234"),
        ("FDocumentStatus in ('A','B')", "34"),
        ("FDocumentStatus NOT IN ('A','B')", "12"),
        ("(FDocumentStatus='C' OR FDocumentStatus='A') AND FCONTACTUNIT.FNumber='VEN00001'", "13"),
        ("FDocumentStatus='C' OR FDocumentStatus='A' AND FCONTACTUNIT.FNumber='VEN00003'", "12"),
        ("NOT (FDocumentStatus='C')", "34"),
        ("FDATE >= '2025-02-01' AND FDATE < '2025-04-01'", "23"),
        ("FDATE BETWEEN '2025-01-01' AND '2025-02-10'", "12"),
        ("FSETTLETYPEID.FNumber IS NULL", "4"),
        ("", "1234"),
    ],
)
def test_filter_string_forms(seeded: Caller, filter_string: str, expected: str) -> None:
    rows = _query(seeded, filter_string)
    assert "".join(sorted(set(_numbers(rows)))) == expected


def test_json_array_filter_form(seeded: Caller) -> None:
    items = [
        {
            "Left": "(",
            "FieldName": "FBillNo",
            "Compare": "67",
            "Value": "FKSQ000001",
            "Right": "",
            "Logic": 1,
        },
        {"Left": "", "FieldName": "FBillNo", "Compare": "=", "Value": "FKSQ000004", "Right": ")", "Logic": 0},
        {"Left": "", "FieldName": "FAPPLYAMOUNTFOR_H", "Compare": ">", "Value": 500, "Right": "", "Logic": 0},
    ]
    assert _numbers(_query(seeded, items)) == ["4"]


def test_entry_fields_give_one_row_per_entry_row(seeded: Caller) -> None:
    rows = _query(
        seeded,
        "FBillNo='FKSQ000003'",
        keys="FBillNo,FPAYAPPLYENTRY_FSeq,FAPPLYAMOUNTFOR,FPAYAPPLYENTRY_FEntryID",
    )
    assert [r[:3] for r in rows] == [["FKSQ000003", 1, 10.0], ["FKSQ000003", 2, 20.0]]
    assert rows[0][3] < rows[1][3]


def test_order_string_and_paging(seeded: Caller) -> None:
    data = {
        "FormId": "CN_PAYAPPLY",
        "FieldKeys": "FBillNo,FAPPLYAMOUNTFOR_H",
        "OrderString": "FAPPLYAMOUNTFOR_H DESC",
    }
    all_rows = seeded.call("ExecuteBillQuery", {"data": data})
    assert [r[0] for r in all_rows] == ["FKSQ000004", "FKSQ000002", "FKSQ000001", "FKSQ000003"]
    page = seeded.call("ExecuteBillQuery", {"data": {**data, "StartRow": 1, "Limit": 2}})
    assert page == all_rows[1:3]
    assert seeded.call("ExecuteBillQuery", {"data": {**data, "StartRow": 4, "Limit": 2}}) == []
    assert seeded.call("ExecuteBillQuery", {"data": {**data, "TopRowCount": 1}}) == all_rows[:1]


def test_bill_query_returns_objects_keyed_by_field_keys(seeded: Caller) -> None:
    rows = seeded.call(
        "BillQuery",
        {
            "data": {
                "FormId": "CN_PAYAPPLY",
                "FieldKeys": "FBillNo,FDocumentStatus",
                "FilterString": "FBillNo='FKSQ000002'",
            }
        },
    )
    assert rows == [{"FBillNo": "FKSQ000002", "FDocumentStatus": "C"}]


def test_query_errors_are_wrapped_for_execute_bill_query_only(seeded: Caller) -> None:
    wrapped = _query(seeded, "", keys="FIssueType")
    assert isinstance(wrapped[0], list)
    status = status_of(wrapped)
    assert status["MsgCode"] == 9 and status["Errors"][0]["Message"] == "元数据中标识为FIssueType的字段不存在"
    assert status_of(_query(seeded, "", keys=""))["MsgCode"] == 8
    assert status_of(_query(seeded, "FBillNo = = 'x'"))["MsgCode"] == 4
    assert status_of(_query(seeded, "FNoField = 1"))["MsgCode"] == 9
    plain = seeded.call("BillQuery", {"data": {"FormId": "CN_PAYAPPLY", "FieldKeys": "FNope"}})
    assert plain["Result"]["ResponseStatus"]["MsgCode"] == 9
