"""Static value maps (静态映射) and the in-memory lookup behind _findCollection."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.expr import Context, ExprError, Lookup, MemoryLookup, apply_value_map, compile_template, render


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A", "101"),
        ("B", "102"),
        (1, "one"),
        ("1", "one"),
        ("Z", "Z"),
        (None, None),
        (["A", "Z"], ["101", "Z"]),
    ],
)
def test_value_map_without_default(value: Any, expected: Any) -> None:
    assert apply_value_map(value, {"A": "101", "B": "102", "1": "one"}) == expected


def test_value_map_with_default_and_empty_key() -> None:
    mapping = {"A": "101", "": "blank"}
    assert apply_value_map("Q", mapping, default="999") == "999"
    assert apply_value_map(None, mapping) == "blank"
    assert apply_value_map("A", mapping, default="999") == "101"
    assert apply_value_map("Q", mapping, default=None) is None


def test_memory_lookup_first_match_in_insertion_order() -> None:
    lookup = MemoryLookup(
        {"po": [{"FBillNo": "PO1", "entry": {"id": 11}}, {"FBillNo": "PO1", "entry": {"id": 12}}]}
    )
    lookup.add("po", {"FBillNo": "PO2", "entry": {"id": 21}, "FLine": 1})
    assert isinstance(lookup, Lookup)
    assert lookup.find("po", "entry.id", {"FBillNo": "PO1"}) == 11
    assert lookup.find("po", "entry.id", {"FBillNo": "PO2", "FLine": "1"}) == 21
    assert lookup.find("po", "entry.id", {"FBillNo": "PO3"}) is None
    assert lookup.find("po", "nope", {"FBillNo": "PO1"}) is None
    assert lookup.find("other", "x", {}) is None
    assert lookup.find("po", "FBillNo", {}) == "PO1"


def test_find_collection_as_a_whole_value() -> None:
    lookup = MemoryLookup(
        {
            "66da8241-x": [
                {"FNumber": "M1", "FOrg": "100", "FEntryId": 5},
                {"FNumber": "M1", "FOrg": "200", "FEntryId": 6},
            ]
        }
    )
    template = compile_template(
        "_findCollection find FEntryId from 66da8241-x where FNumber={{code}} FOrg={{org}}"
    )
    assert template.fields == ("code", "org")
    ctx = Context(lookup=lookup)
    assert template.render({"code": "M1", "org": 200}, ctx) == 6
    assert template.render({"code": "M9", "org": 200}, ctx) is None
    assert compile_template("_findCollection find FEntryId from 66da8241-x _endFind").render({}, ctx) == 5


def test_find_collection_errors() -> None:
    with pytest.raises(ExprError) as info:
        compile_template("_findCollection find X")
    assert "malformed _findCollection" in info.value.message and info.value.position == 0
    with pytest.raises(ExprError) as bad:
        compile_template("_findCollection find X from s where A")
    assert "KEY=VALUE" in bad.value.message and bad.value.position == len(
        "_findCollection find X from s where "
    )
    with pytest.raises(ExprError, match="none is configured"):
        compile_template("_findCollection find X from s where A={{a}}").render({"a": 1}, Context())


def test_find_collection_in_compat_mode_returns_raw_text_on_error() -> None:
    text = "_findCollection find X from s where A={{a}}"
    assert (
        compile_template(text).render({"a": 1}, Context(compat=True))
        == "_findCollection find X from s where A=1"
    )


def test_a_failing_lookup_is_the_stores_error_not_the_records() -> None:
    from ferry.errors import StoreError

    class Broken:
        def find(self, scheme_id: str, field: str, where: Any) -> Any:
            raise OSError("database is locked")

    text = "_findCollection find FNumber from s-1 where id={{a}} _endFind"
    with pytest.raises(StoreError, match="could not read rows of 's-1'"):
        compile_template(text).render({"a": 1}, Context(lookup=Broken()))
    with pytest.raises(StoreError):
        render("_function CONCAT('x', " + text + ")", {"a": 1}, Context(lookup=Broken(), compat=True))
