"""The security review's findings, each reproduced through the public API: only ``ExprError``
comes out, quickly (the bound of 2 s only catches hangs), and a limit names itself and the value."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any

import pytest

from ferry.expr import (
    Context,
    ExprError,
    FieldNode,
    LimitExceeded,
    Limits,
    apply_format,
    apply_parser,
    check,
    compile_condition,
    compile_request,
    format_response,
    render,
)

QUICK = 2.0  # seconds; generous, only to catch hangs


@contextmanager
def quickly(bound: float = QUICK) -> Iterator[None]:
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed < bound, f"took {elapsed:.2f} s"


def error_of(call: Callable[[], Any]) -> ExprError:
    with quickly(), pytest.raises(ExprError) as info:
        call()
    return info.value


def fn(expression: str, record: dict[str, Any] | None = None, ctx: Context | None = None) -> Any:
    return render("_function " + expression, record or {}, ctx)


# ----------------------------------------------------------------------------- exceptions that escaped


def test_modulo_of_a_huge_float_is_an_expression_error() -> None:
    error = error_of(lambda: fn("{{a}} % 7", {"a": 1e300}))
    assert "out of range" in error.message
    assert error.position == len("_function ")  # the node that failed


@pytest.mark.parametrize(
    ("expression", "record"),
    [
        ("{{a}} % 7", {"a": 1e300}),
        ("{{a}} DIV 0.0000001", {"a": 1e300}),
        ("ROUND({{a}}, 30)", {"a": Decimal("9" * 60)}),
        ("FROM_UNIXTIME({{a}})", {"a": 1e300}),
        ("CAST({{a}} AS SIGNED)", {"a": "9" * 5000}),
        ("LEFT('abc', {{a}})", {"a": Decimal("1e999999")}),
        ("{{a}} + 1", {"a": Decimal("sNaN")}),
        ("DATE({{a}})", {"a": float("inf")}),
        ("LENGTH({{a}})", {"a": "\ud800"}),  # a lone surrogate: UnicodeEncodeError before
        ("CONCAT({{a}})", {"a": {"k": [[[[[[[[[[]]]]]]]]]]}}),
        ("1" + "0" * 5000, {}),  # int() of 5,000 digits raised ValueError
        ("1e", {}),
    ],
)
def test_no_other_exception_escapes_a_function(expression: str, record: dict[str, Any]) -> None:
    with quickly(), suppress(ExprError):
        fn(expression, record)


def test_deeply_nested_record_values_are_an_expression_error() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    error = error_of(lambda: fn("CONCAT('', {{a}})", {"a": {"k": deep}}))
    assert isinstance(error, LimitExceeded)


def test_a_nan_with_gt_drops_the_record_instead_of_raising() -> None:
    condition = compile_condition([{"field": "amount", "logic": "gt", "value": "100"}])
    with quickly():
        verdict = condition.apply({"amount": float("nan")})
    assert verdict.record is None and verdict.reason is not None and "amount gt" in verdict.reason
    assert condition.apply({"amount": Decimal("NaN")}).record is None
    lower = compile_condition([{"field": "amount", "logic": "lt", "value": "100"}])
    assert lower.apply({"amount": float("nan")}).record is None  # NaN is neither above nor below
    equal = compile_condition([{"field": "amount", "logic": "eq", "value": "nan"}])
    assert equal.apply({"amount": float("nan")}).record is None


def test_a_40_digit_amount_rounds_exactly() -> None:
    amount = "1234567890123456789012345678901234567890.125"
    with quickly():
        assert apply_format(amount, "round(2)") == float("1234567890123456789012345678901234567890.13")
        assert apply_format(amount, "amount") == "1,234,567,890,123,456,789,012,345,678,901,234,567,890.13"
        assert apply_format(int("9" * 40), "round(0)") == int("9" * 40)


def test_a_number_beyond_the_digit_limit_in_a_format_names_the_limit() -> None:
    error = error_of(lambda: apply_format("9" * 100_000, "intval"))
    assert isinstance(error, LimitExceeded) and error.limit == "max_digits"
    assert "100,000 digits; the limit is 65" in error.message


# ----------------------------------------------------------------------------- parse errors in plain words


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 +", "'+' needs a value on both sides"),
        ("1 * ", "'*' needs a value on both sides"),
        ("{{a}} =", "'=' needs a value on both sides"),
        ("1 AND", "'AND' needs a value on both sides"),
        ("NOT", "'NOT' needs a value after it"),
        ("CASE WHEN END", "a condition needs its value: CASE WHEN a > 1 THEN"),
        ("CASE WHEN 1 THEN 2", "CASE needs a matching END"),
        ("CAST(1)", "CAST needs AS and a type"),
        ("1 FROM", "FROM and table names cannot be used"),
        ("`abc", "cannot read the expression"),
        ("0x1f + 1", "hexadecimal literals (0x1f, X'1f') cannot be used"),
        ("'a' RLIKE 'b'", "function REGEXP is not supported"),
        ("LOCATE('a')", "LOCATE is missing an argument"),
    ],
)
def test_parse_errors_read_like_a_person_wrote_them(expression: str, message: str) -> None:
    error = error_of(lambda: check("_function " + expression))
    assert message in error.message
    for internal in ("sqlglot", "<class", "Required keyword", "Token", "Expecting", "expressions."):
        assert internal not in str(error)
    assert error.caret()  # the position is kept, with its caret


def test_the_reported_sqlglot_message_is_reworded_with_its_caret() -> None:
    error = error_of(lambda: check("_function 1 +"))
    assert error.message == "'+' needs a value on both sides near '+'"
    assert error.caret() == "_function 1 +\n            ^"


# ----------------------------------------------------------------------------- values that hung the worker


def test_a_huge_exponent_into_an_integer_field_is_refused_at_once() -> None:
    builder = compile_request([FieldNode("FQty", "int", "{{qty}}")])
    error = error_of(lambda: builder.build({"qty": "1e9999999"}))
    assert isinstance(error, LimitExceeded) and error.limit == "max_digits"
    assert error.field == "FQty"
    assert "10,000,000 digits before the point; the limit is 65" in error.message
    # the same through a number field and in compat mode (a limit is never sent as it is)
    number = compile_request([FieldNode("FAmount", "number", "{{qty}}")])
    assert isinstance(error_of(lambda: number.build({"qty": "1e9999999"})), LimitExceeded)
    assert isinstance(
        error_of(lambda: builder.build({"qty": "1e9999999"}, Context(compat=True))), LimitExceeded
    )


def test_a_date_followed_by_50000_spaces_is_read_at_once() -> None:
    padded = "2024-03-15 10:30:00" + " " * 50_000
    with quickly():
        assert render("{{t|datetime}}", {"t": padded}) == "2024-03-15 10:30:00"
        assert render("{{t|date}}", {"t": "2024年03月15日" + " " * 50_000}) == "2024-03-15"
    error = error_of(lambda: render("{{t|datetime}}", {"t": "2024-01-01" + " " * 50_000 + "x"}))
    assert "cannot read" in error.message and len(error.message) < 300
    with quickly():  # MySQL's reading: not a date is NULL
        assert fn("DATE_FORMAT({{t}}, '%Y')", {"t": "2024-01-01" + " " * 50_000 + "x"}) is None


def test_trim_of_a_million_characters_is_linear_and_bounded() -> None:
    with quickly():
        assert fn("TRIM({{s}})", {"s": " " * 999_990 + "x"}) == "x"
        assert fn("TRIM(BOTH 'ab' FROM {{s}})", {"s": "ab" * 499_990 + "x"}) == "x"
        assert fn("TRIM(TRAILING 'ab' FROM {{s}})", {"s": "x" + "ab" * 499_990}) == "x"
    error = error_of(lambda: fn("TRIM({{s}})", {"s": " " * 1_000_000 + "x"}))
    assert isinstance(error, LimitExceeded) and error.limit == "max_text_chars"
    assert (
        error.message == "value of s has 1,000,001 characters; the limit is 1,000,000 (Limits.max_text_chars)"
    )


def test_like_with_a_pattern_taken_from_the_record_stays_linear() -> None:
    subject = "a" * 200_000
    with quickly():
        assert fn("{{s}} LIKE {{p}}", {"s": subject, "p": "%a" * 5_000 + "%b"}) == 0
        assert fn("{{s}} LIKE {{p}}", {"s": subject, "p": "_" * 200_000}) == 1
        assert fn("{{s}} LIKE {{p}}", {"s": subject, "p": "%" * 100_000 + "a"}) == 1
        assert fn("{{s}} LIKE {{p}}", {"s": subject, "p": "%a_a_a_a_a_b%"}) == 0
        assert fn("{{s}} LIKE {{p}}", {"s": subject, "p": "%" + "a" * 2_500 + "_" + "a" * 2_499 + "c%"}) == 0
    condition = compile_condition([{"field": "s", "logic": "like", "value": "{{p}}"}])
    with quickly():
        assert condition.apply({"s": subject, "p": "%a%a%a%a%a%a%a%b"}).record is None


def test_a_like_that_would_run_for_long_stops_at_the_time_budget() -> None:
    # O(n*m) at worst: every run of the segment occurs everywhere, but never all in their places.
    ctx = Context(limits=Limits(time_budget=0.2))
    subject = "ab" * 499_000
    pattern = "%a_a_b%"
    error = error_of(lambda: fn("{{s}} LIKE {{p}}", {"s": subject, "p": pattern}, ctx))
    assert isinstance(error, LimitExceeded) and error.limit == "time_budget"


def test_concat_checks_its_size_before_building() -> None:
    part = "x" * 500_000
    tracemalloc.start()
    try:
        error = error_of(lambda: fn("CONCAT({{a}}, {{a}}, {{a}})", {"a": part}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, LimitExceeded) and error.limit == "max_result_chars"
    assert error.message == (
        "CONCAT would build 1,500,000 characters; the limit is 1,000,000 (Limits.max_result_chars)"
    )
    assert peak < 1_000_000, f"{peak:,} bytes allocated: the result was built"


@pytest.mark.parametrize(
    ("expression", "record", "function"),
    [
        ("UPPER({{s}})", {"s": "ß" * 600_000}, "UPPER"),  # each ß becomes SS
        ("LOWER({{s}})", {"s": "İ" * 600_000}, "LOWER"),  # each İ becomes i + a combining dot
        ("DATE_FORMAT(NOW(), {{f}})", {"f": "%W" * 200_000}, "DATE_FORMAT"),
        ("FROM_UNIXTIME(0, {{f}})", {"f": "%M" * 200_000}, "DATE_FORMAT"),
        ("REPEAT({{s}}, 1e300)", {"s": "ab"}, "REPEAT"),
        ("CONCAT_WS({{s}}, {{s}}, {{s}})", {"s": "x" * 400_000}, "CONCAT_WS"),
        ("RPAD('a', 1e18, 'b')", {}, "RPAD"),
        ("REPLACE({{s}}, 'a', 'aaaaa')", {"s": "a" * 300_000}, "REPLACE"),
    ],
)
def test_growing_text_functions_are_capped(expression: str, record: dict[str, Any], function: str) -> None:
    error = error_of(lambda: fn(expression, record))
    assert isinstance(error, LimitExceeded) and error.limit == "max_result_chars"
    assert error.message.startswith(f"{function} would build ")


def test_a_template_joining_huge_values_is_capped_before_joining() -> None:
    error = error_of(lambda: render("{{a}}-{{a}}", {"a": "x" * 600_000}))
    assert isinstance(error, LimitExceeded) and error.limit == "max_result_chars"


def test_a_limit_is_never_turned_into_raw_text_in_compat_mode() -> None:
    compat = Context(compat=True)
    assert fn("nosuch({{a}})", {"a": 1}, compat) == "nosuch(1)"  # compat's documented behaviour
    error = error_of(lambda: fn("CONCAT({{a}}, {{a}})", {"a": "x" * 600_000}, compat))
    assert isinstance(error, LimitExceeded)
    rules = [{"old": "n", "new": "m", "format": "intval"}]
    assert isinstance(error_of(lambda: format_response({"n": "9" * 100}, rules, compat)), LimitExceeded)


def test_tables_and_split_texts_are_bounded_in_items() -> None:
    builder = compile_request(
        [FieldNode("FEntity", "array", "rows", children=(FieldNode("FQty", "int", "{{rows.q}}"),))]
    )
    error = error_of(lambda: builder.build({"rows": [{"q": 1}] * 10_001}))
    assert isinstance(error, LimitExceeded) and error.limit == "max_items" and error.field == "FEntity"
    assert len(builder.build({"rows": [{"q": 1}] * 300})["FEntity"]) == 300  # a few hundred rows are fine
    error = error_of(lambda: apply_parser("," * 20_000, "StringToArray"))
    assert isinstance(error, LimitExceeded) and error.limit == "max_items"
    error = error_of(lambda: fn("SUM({{rows.q}})", {"rows": [{"q": 1}] * 10_001}))
    assert isinstance(error, LimitExceeded) and error.limit == "max_items"


def test_a_slow_table_stops_at_the_time_budget() -> None:
    slow = FieldNode(
        "FEntity",
        "array",
        "rows",
        children=(FieldNode("FNote", "string", "_function REPEAT(TRIM({{rows.s}}), 2)"),),
    )
    ctx = Context(limits=Limits(time_budget=0.1))
    rows = [{"s": " " * 400_000 + "x" * 100_000 + " " * 400_000}] * 5_000
    error = error_of(lambda: compile_request([slow]).build({"rows": rows}, ctx))
    assert isinstance(error, LimitExceeded) and error.limit == "time_budget"
    assert error.field is not None and error.field.startswith("FEntity[")


def test_realistic_finance_data_is_within_the_default_limits() -> None:
    record = {
        "amount": "12345678.123456",
        "remark": "三月份服务费，含税 13%。" * 300,
        "rows": [{"qty": 3, "price": 19.99, "name": "咨询服务"} for _ in range(500)],
    }
    builder = compile_request(
        [
            FieldNode("FAmount", "number", "{{amount}}"),
            FieldNode("FRemark", "string", "_function CONCAT(UPPER({{remark}}), '')"),
            FieldNode("FTotal", "number", "_function ROUND(SUM({{rows.qty}} * {{rows.price}}), 2)"),
            FieldNode("FEntity", "array", "rows", children=(FieldNode("FName", "string", "{{rows.name}}"),)),
        ]
    )
    with quickly():
        body = builder.build(record)
    assert body["FAmount"] == 12345678.123456 and body["FTotal"] == 29985.0 and len(body["FEntity"]) == 500


def test_limits_are_configurable_and_validated() -> None:
    tight = Context(limits=Limits(max_text_chars=10_000))
    error = error_of(lambda: fn("LENGTH({{s}})", {"s": "x" * 10_001}, tight))
    assert "the limit is 10,000" in error.message
    assert fn("LENGTH({{s}})", {"s": "x" * 10_001}) == 10_001
    for bad in ({"max_items": 0}, {"time_budget": -1}, {"max_text_chars": 10}, {"max_digits": True}):
        with pytest.raises(ExprError):
            Limits(**bad)
    with pytest.raises(ExprError):
        Context(limits="fast")  # type: ignore[arg-type]
