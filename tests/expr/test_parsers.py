"""Parsers (解析器)."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.expr import ExprError, apply_parser, compile_parser


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("a,b,c", {"name": "StringToArray", "params": ","}, ["a", "b", "c"]),
        ("A|B|C", {"name": "StringToArray", "params": "|"}, ["A", "B", "C"]),
        ("solo", {"name": "StringToArray"}, ["solo"]),
        ("  ", {"name": "StringToArray", "params": ","}, []),
        (["x"], {"name": "StringToArray", "params": ","}, ["x"]),
        (None, {"name": "StringToArray", "params": ","}, None),
        (12, {"name": "StringToArray", "params": ","}, ["12"]),
        (["test1", "test2", "test3"], {"name": "ArrayToString", "params": ","}, "test1,test2,test3"),
        (["P001", 2, None], {"name": "ArrayToString", "params": "|"}, "P001|2|"),
        ("already", {"name": "ArrayToString", "params": ","}, "already"),
        ("FKDLX04_SYS", {"name": "ConvertObjectParser", "params": "FNumber"}, {"FNumber": "FKDLX04_SYS"}),
        (None, {"name": "ConvertObjectParser", "params": "FNumber"}, None),
        (
            "13800000000",
            {"name": "ConvertTwoStageObjectParser", "params1": "value", "params2": "phone"},
            {"value": {"phone": "13800000000"}},
        ),
        ("x", {"name": "ConvertTwoStageObjectParser", "params": "a,b"}, {"a": {"b": "x"}}),
        ("x", {"name": "ConvertTwoStageObjectParser", "params": ["a", "b"]}, {"a": {"b": "x"}}),
        (
            {"1033": "2037", "2052": "2037"},
            {"name": "ConvertJson"},
            [{"Key": 1033, "Value": "2037"}, {"Key": 2052, "Value": "2037"}],
        ),
        (
            '{"1033":\n"en",\r\n"lang":"zh"}',
            "ConvertJson",
            [{"Key": 1033, "Value": "en"}, {"Key": "lang", "Value": "zh"}],
        ),
        ("[1, 2]", {"name": "ConvertJson"}, [1, 2]),
        ([{"a": 1}], {"name": "ConvertJson"}, [{"a": 1}]),
        ("", {"name": "ConvertJson"}, None),
    ],
)
def test_parsers(value: Any, spec: Any, expected: Any) -> None:
    assert apply_parser(value, spec) == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "NoSuchParser"}, "unknown parser 'NoSuchParser'"),
        ({"params": ","}, "unknown parser None"),
        ({"name": "ConvertObjectParser"}, "ConvertObjectParser needs params"),
        ({"name": "ConvertTwoStageObjectParser", "params1": "a"}, "needs params1 and params2"),
        ({"name": "StringToArray", "params": 5}, "separator string"),
    ],
)
def test_bad_parser_specs(spec: Any, fragment: str) -> None:
    with pytest.raises(ExprError) as info:
        compile_parser(spec)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("value", "fragment"), [("{not json", "not valid JSON"), (5, "expected a JSON object")]
)
def test_convert_json_errors(value: Any, fragment: str) -> None:
    with pytest.raises(ExprError, match=fragment):
        apply_parser(value, "ConvertJson")
