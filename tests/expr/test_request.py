"""The request builder: field trees, child rows, types, defaults, maps, parsers, errors."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.expr import Context, ExprError, FieldNode, build_request, compile_request, field_nodes

from .conftest import NOW

CTX = Context(variables={"LAST_SYNC_TIME": 1704067200}, now=NOW)
RECORD: dict[str, Any] = {
    "no": "FK-1",
    "org": "100",
    "amount": "1234.50",
    "count": "3",
    "ok": "是",
    "meta": '{"a": 1}',
    "when": "2024-03-15 10:30:00",
    "details_list": [
        {"goods_no": "G1", "qty": 2, "batches": [{"lot": "L1"}, {"lot": "L2"}]},
        {"goods_no": "G2", "qty": 1, "batches": []},
    ],
}


def build(*nodes: FieldNode, record: dict[str, Any] | None = None, ctx: Context = CTX) -> dict[str, Any]:
    return build_request(list(nodes), RECORD if record is None else record, ctx)


def test_keys_keep_the_written_order_and_objects_nest() -> None:
    body = build(
        FieldNode("z", value="1"),
        FieldNode("a", "object", children=(FieldNode("y", value="{{no}}"), FieldNode("b", value="x"))),
        FieldNode("m", value="2"),
    )
    assert list(body) == ["z", "a", "m"]
    assert list(body["a"]) == ["y", "b"]
    assert body["a"] == {"y": "FK-1", "b": "x"}


def test_array_rows_render_child_fields_per_row() -> None:
    entry = FieldNode(
        "FEntity",
        "array",
        "details_list",
        children=(
            FieldNode("FMaterialId", "string", "{{details_list.goods_no}}"),
            FieldNode("FQty", "int", "{{details_list.qty}}"),
            FieldNode("FBill", "string", "{{no}}"),
            FieldNode("FNote", "string", "{{no}}/{{details_list.goods_no}}"),
            FieldNode("FLine", "number", "_function {{details_list.qty}} * 10"),
            FieldNode("FRowTotal", "int", "_function SUM({{details_list.qty}})"),
            FieldNode("FAll", "int", "_function SUM({{details_list.qty}})"),
        ),
    )
    body = build(entry)
    assert body["FEntity"] == [
        {
            "FMaterialId": "G1",
            "FQty": 2,
            "FBill": "FK-1",
            "FNote": "FK-1/G1",
            "FLine": 20,
            "FRowTotal": 2,
            "FAll": 2,
        },
        {
            "FMaterialId": "G2",
            "FQty": 1,
            "FBill": "FK-1",
            "FNote": "FK-1/G2",
            "FLine": 10,
            "FRowTotal": 1,
            "FAll": 1,
        },
    ]
    header_sum = build(FieldNode("total", "int", "_function SUM({{details_list.qty}})"))
    assert header_sum == {"total": 3}


def test_braced_table_key_and_nested_tables() -> None:
    entry = FieldNode(
        "rows",
        "array",
        "{{details_list}}",
        children=(
            FieldNode("sku", value="{{details_list.goods_no}}"),
            FieldNode(
                "lots",
                "array",
                "details_list.batches",
                children=(
                    FieldNode("lot", value="{{details_list.batches.lot}}"),
                    FieldNode("sku", value="{{details_list.goods_no}}"),
                ),
            ),
        ),
    )
    assert build(entry)["rows"] == [
        {"sku": "G1", "lots": [{"lot": "L1", "sku": "G1"}, {"lot": "L2", "sku": "G1"}]},
        {"sku": "G2", "lots": []},
    ]


def test_array_without_value_is_one_row_and_missing_table_is_empty() -> None:
    single = FieldNode("FEntity", "array", children=(FieldNode("FNo", value="{{no}}"),))
    assert build(single) == {"FEntity": [{"FNo": "FK-1"}]}
    missing = FieldNode("FEntity", "array", "nope", children=(FieldNode("x", value="1"),))
    assert build(missing) == {"FEntity": []}
    one = FieldNode("FEntity", "array", "meta_obj", children=(FieldNode("x", value="{{meta_obj.k}}"),))
    assert build(one, record={"meta_obj": {"k": 5}}) == {"FEntity": [{"x": 5}]}


def test_childless_array_passes_a_table_or_wraps_a_value() -> None:
    assert build(FieldNode("t", "array", "details_list"))["t"] == RECORD["details_list"]
    assert build(FieldNode("t", "array", "{{no}}"))["t"] == ["FK-1"]
    assert build(FieldNode("t", "array", '["a", "b"]'))["t"] == ["a", "b"]
    assert build(FieldNode("t", "array", ""))["t"] == []
    assert build(FieldNode("t", "array", "{{nope}}"))["t"] is None


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("string", "{{count}}", "3"),
        ("string", 12, "12"),
        ("string", 1.5, "1.5"),
        ("str", True, "true"),
        ("string", {"a": 1}, '{"a":1}'),
        ("int", "{{count}}", 3),
        ("integer", "12.0", 12),
        ("int", True, 1),
        ("number", "{{amount}}", 1234.5),
        ("number", "{{count}}", 3),
        ("float", "1,234.5", 1234.5),
        ("number", 7, 7),
        ("boolean", "{{ok}}", True),
        ("bool", "false", False),
        ("bool", "0", False),
        ("bool", 2, True),
        ("object", "{{meta}}", {"a": 1}),
        ("object", {"k": "{{no}}"}, {"k": "FK-1"}),
        ("datetime", "{{when}}", "2024-03-15 10:30:00"),
        ("date", "{{when}}", "2024-03-15"),
        ("timestamp", "{{when}}", 1710469800),
        ("timestamp_ms", "{{when}}", 1710469800000),
        ("整型", "5", 5),
        ("时间戳(秒)", "{{when}}", 1710469800),
        (None, "{{count}}", "3"),
        ("string", "{{nope}}", None),
        ("int", "", None),
    ],
)
def test_types(type_: str | None, value: Any, expected: Any) -> None:
    assert build(FieldNode("f", type_, value))["f"] == expected


@pytest.mark.parametrize(
    ("type_", "value", "fragment"),
    [
        ("int", "abc", "cannot convert 'abc' to an integer"),
        ("int", "1.5", "not a whole number"),
        ("number", "12x", "to a number"),
        ("bool", "maybe", "to a boolean"),
        ("object", "[1]", "to an object"),
        ("date", "soon", "as a date"),
    ],
)
def test_conversion_errors_name_the_field_path(type_: str, value: str, fragment: str) -> None:
    node = FieldNode(
        "Model",
        "object",
        children=(
            FieldNode("FEntity", "array", "details_list", children=(FieldNode("FQty", type_, value),)),
        ),
    )
    with pytest.raises(ExprError) as info:
        build(node)
    assert fragment in info.value.message
    assert info.value.field == "Model.FEntity[0].FQty"
    assert "Model.FEntity[0].FQty" in str(info.value)
    assert build(node, ctx=Context(compat=True))["Model"]["FEntity"][0]["FQty"] == value


def test_unknown_type_fails_at_compile_time_with_the_path() -> None:
    with pytest.raises(ExprError) as info:
        compile_request([FieldNode("Model", "object", children=(FieldNode("x", "quaternion", "1"),))])
    assert info.value.field == "Model.x" and "unknown type 'quaternion'" in info.value.message


def test_expression_errors_carry_position_and_field() -> None:
    with pytest.raises(ExprError) as info:
        compile_request(
            [FieldNode("Model", "object", children=(FieldNode("FAmount", "number", "_function 1 +* 2"),))]
        )
    assert info.value.field == "Model.FAmount"
    assert info.value.position is not None and info.value.text == "_function 1 +* 2"


def test_default_value_map_parser_and_order_of_steps() -> None:
    node = FieldNode(
        "FSettleOrgId",
        "string",
        "{{org}}",
        parser={"name": "ConvertObjectParser", "params": "FNumber"},
        value_map={"100": "101", "200": "201"},
    )
    assert build(node)["FSettleOrgId"] == {"FNumber": "101"}
    assert build(node, record={"org": "300"})["FSettleOrgId"] == {"FNumber": "300"}
    defaulted = FieldNode("FOrg", "string", "{{nope}}", default="{{org}}", value_map={"100": "101"})
    assert build(defaulted)["FOrg"] == "101"
    assert build(FieldNode("x", "int", "", default=5))["x"] == 5
    assert build(FieldNode("x", "string", "{{nope}}", default="N/A"))["x"] == "N/A"


def test_required_fields_raise_in_strict_mode_only() -> None:
    node = FieldNode("FBillNo", "string", "{{单据编号}}", required=True)
    with pytest.raises(ExprError) as info:
        build(node)
    assert info.value.field == "FBillNo"
    assert "{{单据编号}}" in info.value.message and "required" in info.value.message
    assert build(node, ctx=Context(compat=True)) == {"FBillNo": None}
    assert build(node, record={"单据编号": "X"}) == {"FBillNo": "X"}
    table = FieldNode(
        "FEntity", "array", "details_list", required=True, children=(FieldNode("a", value="1"),)
    )
    with pytest.raises(ExprError, match="required table"):
        build(table, record={"details_list": []})


def test_field_nodes_from_qingyi_items_nested_and_flat_with_parent() -> None:
    nested = field_nodes(
        [
            {
                "field": "Model",
                "type": "object",
                "children": [{"field": "FNo", "type": "string", "value": "{{no}}", "is_required": True}],
            },
        ]
    )
    assert nested[0].children[0].required is True
    flat = field_nodes(
        [
            {"id": "m", "field": "Model", "type": "object", "parent": None},
            {"field": "FNo", "value": "{{no}}", "parent": "m"},
            {"field": "FEntity", "type": "array", "value": "details_list", "parent": "Model"},
            {"field": "FSku", "value": "{{details_list.goods_no}}", "parent": "FEntity"},
            {"field": "top", "value": "t", "parent": ""},
        ]
    )
    assert build_request(flat, RECORD, CTX) == {
        "Model": {"FNo": "FK-1", "FEntity": [{"FSku": "G1"}, {"FSku": "G2"}]},
        "top": "t",
    }
    with pytest.raises(ExprError, match="unknown parent"):
        field_nodes([{"field": "a", "parent": "ghost"}])
    with pytest.raises(ExprError, match="'field' name"):
        field_nodes([{"value": "x"}])


def test_value_map_keys_from_qingyi_items() -> None:
    nodes = field_nodes([{"field": "org", "value": "{{org}}", "valueMap": {"100": "101"}, "default": "0"}])
    assert build_request(nodes, RECORD, CTX) == {"org": "101"}


def test_bad_array_value_with_children() -> None:
    with pytest.raises(ExprError) as info:
        compile_request([FieldNode("FEntity", "array", "_function 1", children=(FieldNode("a", value="1"),))])
    assert info.value.field == "FEntity" and "table key" in info.value.message


def test_table_that_is_not_a_list() -> None:
    node = FieldNode("FEntity", "array", "no", children=(FieldNode("a", value="1"),))
    with pytest.raises(ExprError, match="not a table") as info:
        build(node)
    assert info.value.field == "FEntity"


def test_builder_is_reusable_and_build_request_caches_nodes() -> None:
    nodes = [FieldNode("n", value="{{no}}")]
    builder = compile_request(nodes)
    assert builder.build({"no": 1}) == {"n": 1}
    assert builder.build({"no": 2}, CTX) == {"n": 2}
    assert build_request(nodes, {"no": 3}) == {"n": 3}
    assert build_request(nodes, {"no": 4}) == {"n": 4}


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "007",
        "1234.25",
        "-0.0",
        "0.1",
        "99999999999",
        "12345678901.12345678901",
        "-5.50",
        "1.",
        ".5",
        "1,234.5",
        " 12 ",
        "+3",
        "1e3",
        "12345678901234567890",
        "0.30000000000000004",
        "-",
        "",
    ],
)
def test_plain_numeric_text_converts_as_the_exact_road_does(text: str) -> None:
    from decimal import Decimal

    from ferry.expr import convert

    def exact(value: str) -> object:
        # the Decimal road, as before the plain-text shortcut
        number = Decimal(value.strip().replace(",", ""))
        if "." not in value and "e" not in value.lower():
            return int(number)
        return float(number)

    ctx = convert.Context()
    try:
        expected: object = exact(text) if text.strip() not in ("", "-") else "error"
    except Exception:
        expected = "error"
    try:
        got: object = convert.as_number(text, ctx)
    except Exception:
        got = "error"
    if text == "":
        expected = None
    assert got == expected and type(got) is type(expected), (text, got, expected)
