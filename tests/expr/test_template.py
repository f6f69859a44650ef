"""Templates: placeholders, paths, variables, pipes, the missing-field rule, compat."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.expr import Context, ExprError, check, compile_template, render

from .conftest import LAST_SYNC, NOW, NOW_TS

RECORD: dict[str, Any] = {
    "id": 7,
    "单据编号": "FK-001",
    "amount": 12.5,
    "flag": True,
    "tags": ["a", "b"],
    "payer": {"name": "张三", "bank": {"code": "ICBC"}},
    "FMaterialId.FNumber": "M-001",
    "details_list": [{"goods_no": "G1", "qty": 1}, {"goods_no": "G2", "qty": 2}],
    "status": "COMPLETED",
    "create_time": "2024-03-15 10:30:00",
    "finish_ms": 1710469800000,
}


def r(text: str, ctx: Context | None = None, record: dict[str, Any] | None = None) -> Any:
    return render(
        text,
        RECORD if record is None else record,
        ctx or Context(variables={"LAST_SYNC_TIME": LAST_SYNC}, now=NOW),
    )


def test_constant_text_is_returned_as_is() -> None:
    assert r("XSCKD01_SYS") == "XSCKD01_SYS"
    assert r("") == ""
    assert compile_template("CN_PAYAPPLY").kind == "constant"


def test_single_placeholder_returns_the_typed_value() -> None:
    assert r("{{amount}}") == 12.5
    assert r("{{id}}") == 7
    assert r("{{flag}}") is True
    assert r("{{tags}}") == ["a", "b"]
    assert r("{{payer}}") == {"name": "张三", "bank": {"code": "ICBC"}}
    assert r("{{ amount }}") == 12.5


def test_text_with_placeholders_is_a_string() -> None:
    assert r("No.{{单据编号}}/{{id}}") == "No.FK-001/7"
    assert r("{{amount}} CNY") == "12.5 CNY"
    assert r("{{flag}}!") == "true!"
    assert r("{{tags}}") == ["a", "b"]
    assert r("t={{tags}}") == 't=["a","b"]'


def test_dotted_paths_and_literal_dotted_keys() -> None:
    assert r("{{payer.name}}") == "张三"
    assert r("{{payer.bank.code}}") == "ICBC"
    assert r("{{FMaterialId.FNumber}}") == "M-001"
    assert r("{{details_list.0.goods_no}}") == "G1"
    assert r("{{details_list.5.goods_no}}") is None


def test_child_rows_outside_a_row_give_the_column() -> None:
    assert r("{{details_list.goods_no}}") == ["G1", "G2"]
    assert r("{{details_list.nope}}") == [None, None]


def test_chinese_field_names() -> None:
    assert r("{{单据编号}}") == "FK-001"
    assert compile_template("{{单据编号}}-{{payer.name}}").fields == ("单据编号", "payer.name")


def test_missing_field_rule() -> None:
    # The documented rule: a whole-value placeholder gives None, inside text ''.
    assert r("{{nope}}") is None
    assert r("x{{nope}}y") == "xy"
    assert r("{{payer.nope.deeper}}") is None


def test_system_variables() -> None:
    assert r("{{LAST_SYNC_TIME}}") == LAST_SYNC
    assert r("{{LAST_SYNC_TIME}}000") == f"{LAST_SYNC}000"
    assert r("{{CURRENT_TIME}}") == NOW_TS
    assert r("{{DAYS_AGO_1}}") == NOW_TS - 86400
    assert r("{{DAYS_AGO_30}}") == NOW_TS - 30 * 86400
    ctx = Context(variables={"PAGINATION_START_PAGE": 1}, now=NOW)
    assert r("{PAGINATION_START_PAGE}", ctx) == 1
    assert r("{{PAGINATION_START_PAGE}}", ctx) == 1
    assert r("{{LAST_SYNC_TIME}}", Context(now=NOW)) is None
    assert compile_template("{{LAST_SYNC_TIME}}-{{id}}").variables == ("LAST_SYNC_TIME",)


def test_variables_given_as_text_act_as_numbers_and_can_override_the_clock() -> None:
    ctx = Context(variables={"LAST_SYNC_TIME": "1704067200", "CURRENT_TIME": 5}, now=NOW)
    assert r("{{LAST_SYNC_TIME}}", ctx) == LAST_SYNC
    assert r("{{CURRENT_TIME}}", ctx) == 5


def test_single_brace_variables_fall_back_to_fields_then_to_text() -> None:
    assert r("{status}") == "COMPLETED"  # the seed snippet's "Ids": "{status}"
    assert r("{custom}", Context(variables={"custom": "v"})) == "v"
    assert r("{unknown}") == "{unknown}"
    assert r("a {unknown} b") == "a {unknown} b"
    assert r('{"json": 1}') == '{"json": 1}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{LAST_SYNC_TIME|datetime}}", "2024-01-01 08:00:00"),
        ("{{LAST_SYNC_TIME|date}}", "2024-01-01"),
        ("{{LAST_SYNC_TIME|timestamp}}", LAST_SYNC),
        ("{{LAST_SYNC_TIME|timestamp_ms}}", LAST_SYNC * 1000),
        ("{{CURRENT_TIME|datetime}}", "2024-03-15 12:00:00"),
        ("{{DAYS_AGO_2|date}}", "2024-03-13"),
        ("{DAYS_AGO_1|datetime}", "2024-03-14 12:00:00"),
        ("{{create_time|timestamp}}", 1710469800),
        ("{{create_time|timestamp_ms}}", 1710469800000),
        ("{{create_time|date}}", "2024-03-15"),
        ("{{finish_ms|datetime}}", "2024-03-15 10:30:00"),
        ("{{create_time | timestamp | datetime}}", "2024-03-15 10:30:00"),
        (
            "from {{LAST_SYNC_TIME|datetime}} to {{CURRENT_TIME|datetime}}",
            "from 2024-01-01 08:00:00 to 2024-03-15 12:00:00",
        ),
        ("{{nope|date}}", None),
    ],
)
def test_pipes(text: str, expected: Any) -> None:
    assert r(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-15T02:30:00Z", "2024-03-15 10:30:00"),
        ("2024-03-15T10:30:00+08:00", "2024-03-15 10:30:00"),
        ("2024/3/5 9:05", "2024-03-05 09:05:00"),
        ("2024年3月5日", "2024-03-05 00:00:00"),
        ("20240315103000", "2024-03-15 10:30:00"),
        ("20240315", "2024-03-15 00:00:00"),
        ("1710469800", "2024-03-15 10:30:00"),
        (1710469800.5, "2024-03-15 10:30:00"),
    ],
)
def test_pipes_read_many_date_shapes(value: Any, expected: str) -> None:
    assert r("{{v|datetime}}", record={"v": value}) == expected


def test_pipe_on_unreadable_value_is_an_error_with_position() -> None:
    with pytest.raises(ExprError) as info:
        r("at {{v|date}}", record={"v": "soon"})
    assert info.value.position == 3 and "soon" in info.value.message


def test_pipe_on_child_column_maps_each_row() -> None:
    record = {"d": [{"t": "2024-01-02 03:04:05"}, {"t": None}]}
    assert r("{{d.t|date}}", record=record) == ["2024-01-02", None]


def test_time_zone_is_configurable() -> None:
    utc = Context(variables={"LAST_SYNC_TIME": LAST_SYNC}, tz="UTC", now=NOW)
    assert r("{{LAST_SYNC_TIME|datetime}}", utc) == "2024-01-01 00:00:00"
    assert r("{{create_time|timestamp}}", utc) == 1710469800 + 8 * 3600
    with pytest.raises(ExprError, match="unknown time zone"):
        Context(tz="Mars/Olympus")


def test_unknown_pipe_and_malformed_placeholders_fail_at_compile_time() -> None:
    with pytest.raises(ExprError) as info:
        check("x {{a|bogus}}")
    assert "unknown pipe |bogus" in info.value.message and info.value.position == 6
    with pytest.raises(ExprError, match="empty placeholder"):
        check("{{ }}")
    with pytest.raises(ExprError) as unclosed:
        check("abc {{def")
    assert unclosed.value.position == 4 and unclosed.value.column == 5


def test_render_walks_dicts_and_lists() -> None:
    value = {"a": "{{id}}", "b": ["{{单据编号}}", 3], "c": None}
    assert r(value) == {"a": 7, "b": ["FK-001", 3], "c": None}  # type: ignore[arg-type]


def test_templates_are_compiled_once() -> None:
    assert compile_template("{{id}}-{{amount}}") is compile_template("{{id}}-{{amount}}")
    template = compile_template("{{payer.name}} {{LAST_SYNC_TIME}}")
    assert template.kind == "text" and template.fields == ("payer.name",)
    assert compile_template("{{id}}").kind == "field"
    assert compile_template("_function 1").kind == "function"
    assert compile_template("_findCollection find a from s where b={{c}}").kind == "lookup"


def test_template_render_without_context_uses_defaults() -> None:
    assert compile_template("{{id}}").render({"id": 1}) == 1


def test_compat_template_returns_raw_text_for_broken_functions() -> None:
    broken = compile_template("_function LEFT('{{a}}',", compat=True)
    assert broken.error is not None
    assert broken.render({"a": "x"}, Context(compat=True)) == "LEFT('x',"
    with pytest.raises(ExprError):
        broken.render({"a": "x"}, Context())
    with pytest.raises(ExprError):
        compile_template("_function LEFT('{{a}}',")
