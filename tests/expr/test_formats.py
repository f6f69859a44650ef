"""formatResponse formats (值格式化)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ferry.expr import Context, ExprError, apply_format, compile_format, format_response

CTX = Context(now=datetime(2024, 3, 15, 14, 30, 5))


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("2024-03-15 14:30:05", "date", "2024-03-15"),
        ("2024-03-15 14:30:05", "time", "14:30:05"),
        ("2024-03-15 14:30:05", "dateTime", "2024-03-15 14:30:05"),
        ("2024-03-15 14:30:05", "shortDate", "03-15"),
        ("2024-03-15 14:30:05", "shortTime", "14:30"),
        ("2024-03-15 14:30:05", "shortDateTime", "03-15 14:30"),
        (1710484205, "dateTime", "2024-03-15 14:30:05"),
        (1710484205000, "date", "2024-03-15"),
        ("2024-03-15T06:30:05Z", "time", "14:30:05"),
        ("2024-03-15 14:30:00", "dateDescription", "刚刚"),
        ("2024-03-15 14:25:00", "dateDescription", "5分钟前"),
        ("2024-03-15 11:00:00", "dateDescription", "3小时前"),
        ("2024-03-14 14:00:00", "dateDescription", "1天前"),
        ("2024-03-01 14:00:00", "dateDescription", "2周前"),
        ("2024-01-01 14:00:00", "dateDescription", "2个月前"),
        ("2022-01-01 14:00:00", "dateDescription", "2年前"),
        ("2024-03-17 15:00:00", "dateDescription", "2天后"),
        ("这是一段很长的产品描述文本内容", "longText(10)", "这是一段很长的产品描..."),
        ("short", "longText(10)", "short"),
        ("1234567890123456", "longText", "123456789012345..."),
        ("10.8", "intval", 10),
        (-10.8, "intval", -10),
        ("12abc", "intval", 12),
        ("abc", "intval", 0),
        (19.9956, "round(2)", 20.0),
        ("19.995", "round(2)", 20.0),
        (2.345, "round", 2.35),
        (2.5, "round(0)", 3),
        (1000000, "amount", "1,000,000.00"),
        ("158000.505", "amount", "158,000.51"),
        ("1,234.5", "amount", "1,234.50"),
        (["电子", "手机", "旗舰"], "implode", "电子,手机,旗舰"),
        (["P001", "P002"], "implode('|')", "P001|P002"),
        (["a", "b"], "implode(' ')", "a b"),
        (["a", "b"], "implode(;)", "a;b"),
        ("single", "implode", "single"),
        (None, "date", None),
        (None, "amount", None),
    ],
)
def test_formats(value: Any, spec: str, expected: Any) -> None:
    assert apply_format(value, spec, CTX) == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("bogus", "unknown format 'bogus'"),
        ("round(x)", "whole number"),
        ("", "malformed format"),
        ("date(", "malformed"),
    ],
)
def test_bad_format_specs(spec: str, fragment: str) -> None:
    with pytest.raises(ExprError, match=fragment.replace("(", r"\(")):
        compile_format(spec)


def test_bad_values_raise_in_strict_mode() -> None:
    with pytest.raises(ExprError, match="cannot read 'soon'"):
        apply_format("soon", "date", CTX)
    with pytest.raises(ExprError, match="not a number"):
        apply_format("n/a", "amount", CTX)


def test_format_response_adds_new_fields_and_keeps_the_record() -> None:
    record = {"create_time": "2024-03-15 14:30:05", "info": {"total": 1234.5}, "tags": ["x", "y"]}
    rules = [
        {"old": "create_time", "new": "create_date", "format": "date"},
        {"old": "info.total", "new": "total_display", "format": "amount"},
        {"old": "tags", "new": "tag_text", "format": "implode('/')"},
        {"old": "missing", "new": "m", "format": "date"},
    ]
    out = format_response(record, rules, CTX)
    assert out == {
        **record,
        "create_date": "2024-03-15",
        "total_display": "1,234.50",
        "tag_text": "x/y",
        "m": None,
    }
    assert "create_date" not in record


def test_format_response_errors_name_the_field_and_compat_keeps_the_value() -> None:
    rules = [{"old": "t", "new": "d", "format": "date"}]
    with pytest.raises(ExprError) as info:
        format_response({"t": "soon"}, rules, CTX)
    assert info.value.field == "t"
    assert format_response({"t": "soon"}, rules, Context(compat=True))["d"] == "soon"
    with pytest.raises(ExprError) as bad:
        format_response({}, [{"old": "t", "new": "d", "format": "nope"}], CTX)
    assert bad.value.field == "formatResponse[0]"
    with pytest.raises(ExprError, match="needs string"):
        format_response({}, [{"old": "t"}], CTX)
