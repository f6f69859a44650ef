"""beatFlat: one record per child row."""

from __future__ import annotations

import pytest

from ferry.expr import ExprError, beat_flat

RECORD = {
    "trade_no": "T1",
    "shop": "S",
    "details_list": [{"goods": "G1", "num": 2}, {"goods": "G2", "num": 1}],
}


def test_explodes_rows_with_prefixed_fields_and_suffixed_ids() -> None:
    rows = beat_flat(RECORD, ["details_list"], id_field="trade_no")
    assert rows == [
        {"trade_no": "T1-0", "shop": "S", "details_list_goods": "G1", "details_list_num": 2},
        {"trade_no": "T1-1", "shop": "S", "details_list_goods": "G2", "details_list_num": 1},
    ]
    assert RECORD["trade_no"] == "T1" and "details_list" in RECORD


def test_without_id_field_ids_are_untouched() -> None:
    rows = beat_flat(RECORD, "details_list")
    assert [r["trade_no"] for r in rows] == ["T1", "T1"]


def test_empty_or_missing_table_keeps_the_record_once() -> None:
    assert beat_flat({"id": 1, "details_list": []}, ["details_list"], id_field="id") == [{"id": 1}]
    assert beat_flat({"id": 1}, ["details_list"], id_field="id") == [{"id": 1}]


def test_nested_table_path_and_nested_id() -> None:
    record = {"head": {"no": "N"}, "body": {"lines": [{"a": 1}, 7]}}
    rows = beat_flat(record, ["body.lines"], id_field="head.no")
    assert rows == [
        {"head": {"no": "N-0"}, "body": {}, "body_lines_a": 1},
        {"head": {"no": "N-1"}, "body": {}, "body_lines_value": 7},
    ]
    assert record["head"] == {"no": "N"}


def test_two_tables_make_a_cross_product() -> None:
    record = {"id": "X", "a": [{"k": 1}, {"k": 2}], "b": [{"m": "p"}, {"m": "q"}]}
    rows = beat_flat(record, ["a", "b"], id_field="id")
    assert [(r["id"], r["a_k"], r["b_m"]) for r in rows] == [
        ("X-0-0", 1, "p"),
        ("X-0-1", 1, "q"),
        ("X-1-0", 2, "p"),
        ("X-1-1", 2, "q"),
    ]


def test_a_non_list_table_is_an_error() -> None:
    with pytest.raises(ExprError, match="not a list"):
        beat_flat({"details_list": "x"}, ["details_list"])
