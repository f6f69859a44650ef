"""A table of plain columns is built by a loop inside the object's generated function: for every kind
of table (rows missing a column, rows that are not objects, values a type refuses, empty, required,
long, over the item limit, given as one object) it builds what the general path builds (``fold=False``),
or raises the same error with the same path."""

from __future__ import annotations

from collections import UserDict
from typing import Any

import pytest

from ferry.expr import Context, ExprError, compile_request, field_nodes
from ferry.expr.assemble import Table
from ferry.expr.fields import compile_field
from ferry.expr.limits import Limits

ITEMS: list[dict[str, Any]] = [
    {"field": "FBillNo", "value": "{{no}}"},
    {
        "field": "FEntity",
        "type": "array",
        "value": "rows",
        "children": [
            {
                "field": "FMaterial",
                "value": "{{rows.sku}}",
                "parser": {"name": "ConvertObjectParser", "params": "FNumber"},
            },
            {"field": "FRowType", "value": "Standard"},
            {"field": "FQty", "type": "integer", "value": "{{rows.qty}}"},
            {"field": "FPrice", "type": "number", "value": "{{rows.price}}", "is_required": True},
        ],
    },
]

ROW = {"sku": "M1", "qty": "2", "price": "12.50"}

TABLES: dict[str, Any] = {
    "plain rows": [ROW, {"sku": "M2", "qty": 3, "price": 1.5}],
    "a column missing": [ROW, {"sku": "M2", "price": "1"}],
    "a wrapped column missing": [{"qty": 1, "price": "1"}],
    "a row that is not an object": [ROW, "M2"],
    "a value the type refuses": [ROW, {"sku": "M2", "qty": "two", "price": "1"}],
    "a required value empty": [ROW, {"sku": "M2", "qty": 1, "price": ""}],
    "a None value": [{"sku": None, "qty": None, "price": "3"}],
    "empty": [],
    "63 rows": [ROW] * 63,
    "64 rows": [ROW] * 64,
    "one object": ROW,
    "not a table": "M1,M2",
    "missing": None,
}


def outcome(build: Any, record: Any, ctx: Context) -> tuple[str, Any]:
    try:
        return "value", build(record, ctx)
    except ExprError as exc:
        return "error", (type(exc).__name__, exc.field, str(exc))


@pytest.mark.parametrize("required", [False, True])
@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("table", list(TABLES), ids=list(TABLES))
def test_the_loop_builds_what_the_general_path_builds(table: str, compat: bool, required: bool) -> None:
    items = [dict(item) for item in ITEMS]
    items[1] = {**items[1], "is_required": required}
    record: dict[str, Any] = {"no": "FK1"}
    if TABLES[table] is not None:
        record["rows"] = TABLES[table]
    ctx = Context(compat=compat)
    looped = outcome(compile_request(items).build, record, ctx)
    general = outcome(compile_request(items, fold=False).build, record, ctx)
    assert looped == general


def test_the_item_limit_holds_in_the_loop() -> None:
    record = {"no": "FK1", "rows": [ROW] * 5}
    ctx = Context(limits=Limits(max_items=4))
    with pytest.raises(ExprError, match="max_items") as looped:
        compile_request(ITEMS).build(record, ctx)
    with pytest.raises(ExprError, match="max_items") as general:
        compile_request(ITEMS, fold=False).build(record, ctx)
    assert (looped.value.field, str(looped.value)) == (general.value.field, str(general.value))


def test_a_record_that_is_not_a_dict_is_built_the_same() -> None:
    record = UserDict({"no": "FK1", "rows": [ROW]})
    built = compile_request(ITEMS).build(record, Context())
    assert built == compile_request(ITEMS, fold=False).build(record, Context())
    assert built["FEntity"] == [
        {"FMaterial": {"FNumber": "M1"}, "FRowType": "Standard", "FQty": 2, "FPrice": 12.5}
    ]


def test_each_row_is_a_fresh_object() -> None:
    builder = compile_request(ITEMS)
    first = builder.build({"no": "FK1", "rows": [ROW, ROW]}, Context())
    first["FEntity"][0]["FRowType"] = "changed"
    again = builder.build({"no": "FK1", "rows": [ROW, ROW]}, Context())
    assert [row["FRowType"] for row in again["FEntity"]] == ["Standard", "Standard"]
    assert first["FEntity"][1]["FRowType"] == "Standard"


def test_a_table_of_plain_columns_is_looped_inline_and_others_are_not() -> None:
    (entity,) = field_nodes([ITEMS[1]])
    assert isinstance(compile_field(entity).plain, Table)
    piped = {**ITEMS[1], "children": [{"field": "FNote", "value": "{{rows.sku|date}}"}]}
    (other,) = field_nodes([piped])
    assert compile_field(other).plain is None
