"""``_function``: MySQL-flavoured expressions, bound parameters, limits and positions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ferry.expr import Context, ExprError, MemoryLookup, check, render
from ferry.expr.errors import LimitExceeded
from ferry.expr.function import MAX_EXPRESSION_CHARS, MAX_NODES, MAX_PAREN_DEPTH
from ferry.expr.mysql import MAX_STRING

from .conftest import LAST_SYNC, NOW, NOW_TS, fn


def error_of(expression: str, record: dict[str, Any] | None = None) -> ExprError:
    with pytest.raises(ExprError) as info:
        fn(expression, record)
    return info.value


# ----------------------------------------------------------------------------- literals & arithmetic


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2", 3),
        ("7 - 10", -3),
        ("6 * 7", 42),
        ("0.1 + 0.2", 0.3),
        ("1.10 * 3", 3.3),
        ("10 / 4", 2.5),
        ("1 / 3", 0.3333),
        ("0.10 / 3", 0.033333),
        ("7 DIV 2", 3),
        ("-7 DIV 2", -3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 MOD 3", 1),
        ("MOD(10, 4)", 2),
        ("-(3)", -3),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("1.5e3", 1500.0),
        ("'12abc' + 1", 13),
        ("'abc' + 1", 1),
        ("'0.1' + '0.2'", 0.3),
    ],
)
def test_arithmetic(expression: str, expected: Any) -> None:
    assert fn(expression) == expected


def test_integer_results_stay_integers_and_decimals_become_floats() -> None:
    assert isinstance(fn("2 * 3"), int)
    assert isinstance(fn("2.50 * 2"), float)
    assert fn("2.50 * 2") == 5.0


@pytest.mark.parametrize("expression", ["1 / 0", "1 DIV 0", "1 % 0", "MOD(1, 0)", "NULL + 1", "2 * NULL"])
def test_division_by_zero_and_null_arithmetic_give_null(expression: str) -> None:
    assert fn(expression) is None


def test_field_values_compute_exactly() -> None:
    record = {"a": 0.1, "b": 0.2, "price": 19.99, "qty": 3}
    assert fn("{{a}} + {{b}}", record) == 0.3
    assert fn("{{price}} * {{qty}}", record) == 59.97


def test_bigint_overflow_continues_as_decimal_and_huge_numbers_fail() -> None:
    assert fn("9223372036854775807 + 1") == 9223372036854775808
    error = error_of(" * ".join(["9" * 60] * 20))  # about 10**1200: beyond the DECIMAL range
    assert "out of range" in error.message


# ----------------------------------------------------------------------------- comparison & logic


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 = 1", 1),
        ("1 = 2", 0),
        ("1 <> 2", 1),
        ("1 != 1", 0),
        ("2 > 1", 1),
        ("2 >= 2", 1),
        ("1 < 2", 1),
        ("3 <= 2", 0),
        ("'10' = 10", 1),
        ("'10' > 9", 1),
        ("'10' > '9'", 0),  # both strings: compared as text
        ("'a' = 'A'", 0),  # binary comparison (documented deviation)
        ("NULL = NULL", None),
        ("NULL <=> NULL", 1),
        ("1 <=> NULL", 0),
        ("2 <=> 2", 1),
        ("1 AND 0", 0),
        ("1 AND 1", 1),
        ("NULL AND 0", 0),
        ("NULL AND 1", None),
        ("0 OR 1", 1),
        ("NULL OR 1", 1),
        ("NULL OR 0", None),
        ("1 XOR 1", 0),
        ("1 XOR 0", 1),
        ("NOT 0", 1),
        ("NOT 2", 0),
        ("NOT NULL", None),
        ("TRUE", 1),
        ("FALSE", 0),
        ("NULL IS NULL", 1),
        ("1 IS NOT NULL", 1),
        ("1 IS TRUE", 1),
        ("0 IS FALSE", 1),
        ("NULL IS TRUE", 0),
        ("2 IN (1, 2, 3)", 1),
        ("5 IN (1, 2)", 0),
        ("5 IN (1, NULL)", None),
        ("5 NOT IN (1, 2)", 1),
        ("5 BETWEEN 1 AND 10", 1),
        ("'2024-03-15' BETWEEN '2024-03-01' AND '2024-03-31'", 1),
        ("11 NOT BETWEEN 1 AND 10", 1),
        ("'FKDLX04_SYS' LIKE 'FKDLX%'", 1),
        ("'FKDLX04' LIKE 'FKDLX_4'", 1),
        ("'abc' LIKE 'A%'", 0),
        ("'a%c' LIKE 'a\\%c'", 1),
        ("'abc' NOT LIKE '%z%'", 1),
        ("NULL LIKE '%'", None),
    ],
)
def test_comparisons_and_logic(expression: str, expected: Any) -> None:
    assert fn(expression) == expected


def test_like_against_a_field_pattern() -> None:
    assert fn("'SO-001' LIKE {{p}}", {"p": "SO-%"}) == 1


def test_dates_compare_as_dates() -> None:
    assert fn("NOW() > '2024-03-01'") == 1
    assert fn("DATE('2024-03-15 10:00:00') = '2024-03-15'") == 1


# ----------------------------------------------------------------------------- CASE / IF / NULL helpers


def test_simple_case() -> None:
    expression = (
        "CASE '{{FOrgId}}' WHEN '100' THEN {{price}}*{{qty}} WHEN '200' THEN '201' ELSE '{{FOrgId}}' END"
    )
    assert fn(expression, {"FOrgId": "100", "price": 12.5, "qty": 2}) == 25.0
    assert fn(expression, {"FOrgId": "200", "price": 12.5, "qty": 2}) == "201"
    assert fn(expression, {"FOrgId": "300", "price": 12.5, "qty": 2}) == "300"


def test_searched_case_and_missing_else() -> None:
    expression = "CASE WHEN {{amount}} >= 10000 THEN 'big' WHEN {{amount}} > 0 THEN 'small' END"
    assert fn(expression, {"amount": 20000}) == "big"
    assert fn(expression, {"amount": 5}) == "small"
    assert fn(expression, {"amount": -1}) is None


def test_bare_word_lowercase_case_from_real_export() -> None:
    assert fn("case when 'x'<='70' then 'a' else 'b' end") == "b"
    assert fn("case when '{{trade_status}}'<='70' then 'a' else 'b' end", {"trade_status": "30"}) == "a"


def test_if_ifnull_coalesce_nullif() -> None:
    assert fn("IF(1 > 2, 'yes', 'no')") == "no"
    assert fn("IF(NULL, 'yes', 'no')") == "no"
    assert fn("IFNULL({{x}}, 'default')", {}) == "default"
    assert fn("IFNULL({{x}}, 'default')", {"x": 0}) == 0
    assert fn("COALESCE(NULL, NULL, 3, 4)") == 3
    assert fn("COALESCE(NULL)") is None
    assert fn("NULLIF(1, 1)") is None
    assert fn("NULLIF(1, 2)") == 1


# ----------------------------------------------------------------------------- string functions


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("LEFT('AD2024', 2)", "AD"),
        ("LEFT('AD', 0)", ""),
        ("LEFT(NULL, 2)", None),
        ("RIGHT('AD2024', 4)", "2024"),
        ("RIGHT('AD', -1)", ""),
        ("SUBSTRING('abcdef', 2, 3)", "bcd"),
        ("SUBSTRING('abcdef', 3)", "cdef"),
        ("SUBSTR('abcdef', -2)", "ef"),
        ("SUBSTRING('abcdef', 0)", ""),
        ("SUBSTRING('abcdef' FROM 2 FOR 2)", "bc"),
        ("CONCAT('a', 1, 'b')", "a1b"),
        ("CONCAT('a', NULL)", None),
        ("CONCAT_WS('-', 'a', NULL, 'b')", "a-b"),
        ("LOCATE('b', 'abcb')", 2),
        ("LOCATE('b', 'abcb', 3)", 4),
        ("LOCATE('z', 'abc')", 0),
        ("INSTR('abc', 'c')", 3),
        ("REPLACE('a-b-c', '-', '/')", "a/b/c"),
        ("REPLACE('abc', '', 'x')", "abc"),
        ("LENGTH('abc')", 3),
        ("LENGTH('中文')", 6),  # MySQL LENGTH counts bytes
        ("CHAR_LENGTH('中文')", 2),
        ("UPPER('abc')", "ABC"),
        ("UCASE('abc')", "ABC"),
        ("LOWER('ABC')", "abc"),
        ("LCASE('ABC')", "abc"),
        ("TRIM('  a  ')", "a"),
        ("LTRIM('  a  ')", "a  "),
        ("RTRIM('  a  ')", "  a"),
        ("TRIM(BOTH 'x' FROM 'xxaxx')", "a"),
        ("TRIM(LEADING 'x' FROM 'xxaxx')", "axx"),
        ("TRIM(TRAILING 'x' FROM 'xxaxx')", "xxa"),
        ("LPAD('7', 3, '0')", "007"),
        ("RPAD('7', 3, '0')", "700"),
        ("LPAD('12345', 3, '0')", "123"),
        ("REPEAT('ab', 3)", "ababab"),
        ("REPEAT('ab', 0)", ""),
        ("SUBSTRING_INDEX('a,b,c', ',', 2)", "a,b"),
        ("SUBSTRING_INDEX('a,b,c', ',', -1)", "c"),
        ("'a' 'b'", "ab"),
        ("CAST(12 AS CHAR)", "12"),
    ],
)
def test_string_functions(expression: str, expected: Any) -> None:
    assert fn(expression) == expected


def test_left_of_chinese_document_number() -> None:
    expression = "CASE LEFT('{{单据编号}}',2) WHEN 'AD' THEN 100 WHEN 'FK' THEN 200 ELSE 0 END"
    assert fn(expression, {"单据编号": "FK2024001"}) == 200
    assert fn(expression, {"单据编号": "AD2024001"}) == 100


def test_locate_inside_a_condition() -> None:
    assert (
        fn("IF(LOCATE('退款', '{{title}}') > 0, 'refund', 'payment')", {"title": "张三的退款申请"})
        == "refund"
    )


# ----------------------------------------------------------------------------- numeric functions


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("ROUND(1.235, 2)", 1.24),
        ("ROUND(-1.235, 2)", -1.24),
        ("ROUND(2.5)", 3),
        ("ROUND(1234, -2)", 1200),
        ("ROUND(1.5e0)", 2.0),
        ("TRUNCATE(1.239, 2)", 1.23),
        ("ABS(-3.5)", 3.5),
        ("CEIL(1.2)", 2),
        ("CEILING(-1.2)", -1),
        ("FLOOR(1.8)", 1),
        ("FLOOR(-1.2)", -2),
        ("POW(2, 10)", 1024.0),
        ("POWER(2, 0.5)", 2**0.5),
        ("GREATEST(1, 5, 3)", 5),
        ("LEAST(4, 2, 8)", 2),
        ("GREATEST(1, NULL)", None),
        ("CAST('12.7' AS SIGNED)", 12),
        ("CAST(12.7 AS SIGNED)", 13),
        ("CAST('3.14159' AS DECIMAL(10, 2))", 3.14),
    ],
)
def test_numeric_functions(expression: str, expected: Any) -> None:
    assert fn(expression) == expected


def test_pow_overflow_is_an_error() -> None:
    assert "out of range" in error_of("POW(10, 400)").message


# ----------------------------------------------------------------------------- dates


def test_from_unixtime_with_mysql_format_and_watermark() -> None:
    assert fn("FROM_UNIXTIME({{LAST_SYNC_TIME}}-600,'%Y-%m-%d %H:%i:%s')") == "2024-01-01 07:50:00"
    assert fn("FROM_UNIXTIME(0)") == "1970-01-01 08:00:00"
    assert fn("FROM_UNIXTIME(1704067200, {{f}})", {"f": "%d/%m/%Y %H:%i"}) == "01/01/2024 08:00"


def test_date_format_specifiers() -> None:
    record = {"t": "2024-03-05 14:07:09"}
    assert fn("DATE_FORMAT('{{t}}', '%Y-%m-%d %H:%i:%s')", record) == "2024-03-05 14:07:09"
    assert fn("DATE_FORMAT('{{t}}', '%y/%c/%e %h:%i %p')", record) == "24/3/5 02:07 PM"
    assert (
        fn("DATE_FORMAT('{{t}}', '%M %b %W %a %j %D %T')", record) == "March Mar Tuesday Tue 065 5th 14:07:09"
    )
    assert fn("DATE_FORMAT('{{t}}', '%Y年%m月%d日')", record) == "2024年03月05日"
    early = {"t": "2024-03-05 04:07:09.123"}
    assert fn("DATE_FORMAT('{{t}}', '%k|%l|%r|%f|%S|%w|%%')", early) == "4|4|04:07:09 AM|123000|09|2|%"
    assert fn("DATE_FORMAT(20240305, '%Y-%m-%d')") == "2024-03-05"
    assert fn("DATE_FORMAT('not a date', '%Y')") is None


def test_now_unix_timestamp_and_curdate_use_the_context_clock() -> None:
    assert fn("NOW()") == "2024-03-15 12:00:00"
    assert fn("CURRENT_TIMESTAMP") == "2024-03-15 12:00:00"
    assert fn("SYSDATE()") == "2024-03-15 12:00:00"
    assert fn("CURDATE()") == "2024-03-15"
    assert fn("UNIX_TIMESTAMP()") == NOW_TS
    assert fn("UNIX_TIMESTAMP('2024-01-01 08:00:00')") == LAST_SYNC
    assert fn("UNIX_TIMESTAMP(NOW()) - 600") == NOW_TS - 600
    assert fn("CAST('2024-03-15 10:11:12' AS DATETIME)") == "2024-03-15 10:11:12"
    assert fn("CAST('2024-03-15 10:11:12' AS DATE)") == "2024-03-15"


def test_time_zone_is_configurable() -> None:
    utc = Context(variables={"LAST_SYNC_TIME": LAST_SYNC}, tz="UTC", now=NOW)
    assert fn("FROM_UNIXTIME({{LAST_SYNC_TIME}})", ctx=utc) == "2024-01-01 00:00:00"
    assert fn("UNIX_TIMESTAMP('2024-01-01 00:00:00')", ctx=utc) == LAST_SYNC


# ----------------------------------------------------------------------------- aggregates over child rows

ROWS = {"details_list": [{"qty": 2, "price": 1.5}, {"qty": 3, "price": 2.25}, {"qty": None, "price": 4}]}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("SUM({{details_list.qty}})", 5),
        ("AVG({{details_list.qty}})", 2.5),
        ("MAX({{details_list.price}})", 4),
        ("MIN({{details_list.price}})", 1.5),
        ("COUNT({{details_list.qty}})", 2),
        ("SUM({{details_list.qty}} * {{details_list.price}})", 9.75),
        ("ROUND(SUM({{details_list.price}}) / 3, 2)", 2.58),
        ("SUM({{missing.qty}})", None),
        ("COUNT({{missing.qty}})", 0),
    ],
)
def test_aggregates_over_child_rows(expression: str, expected: Any) -> None:
    assert fn(expression, ROWS) == expected


def test_aggregate_of_money_is_exact() -> None:
    record = {"d": [{"a": 0.1}, {"a": 0.2}, {"a": 0.3}]}
    assert fn("SUM({{d.a}})", record) == 0.6


def test_child_field_outside_an_aggregate_is_a_clear_error() -> None:
    error = error_of("{{details_list.qty}} + 1", ROWS)
    assert "list" in error.message and "SUM" in error.message
    assert error.position == len("_function ")


def test_count_star_is_rejected() -> None:
    assert "child-row field" in error_of("COUNT(*)").message


# ----------------------------------------------------------------------------- binding, never splicing


@pytest.mark.parametrize(
    "hostile",
    [
        "' OR 1=1 --",
        "'); DROP TABLE x; --",
        "x' , '1",
        "\\' + 1 + '",
        "{{secret}}",
        "_findCollection find a from b where c=d _endFind",
        "1) + (2",
        "' || (SELECT 1) || '",
    ],
)
def test_values_are_bound_never_spliced(hostile: str) -> None:
    record = {"v": hostile, "secret": "s3cret"}
    assert fn("CONCAT('<', '{{v}}', '>')", record) == f"<{hostile}>"
    assert fn("{{v}}", record) == hostile
    assert fn("CASE '{{v}}' WHEN 'x' THEN 'matched' ELSE 'other' END", record) == "other"
    assert fn("LENGTH({{v}}) = LENGTH('{{v}}')", record) == 1


def test_quoted_placeholder_inside_text_is_one_string() -> None:
    assert fn("CONCAT('单号:{{no}}-{{line}}', '!')", {"no": "A'1", "line": 2}) == "单号:A'1-2!"


def test_missing_fields_are_null_unquoted_and_empty_quoted() -> None:
    assert fn("{{nope}} IS NULL") == 1
    assert fn("'{{nope}}' = ''") == 1


# ----------------------------------------------------------------------------- safety and limits


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("(SELECT 1)", "subqueries"),
        ("foo(1)", "unknown function FOO"),
        ("SLEEP(10)", "SLEEP"),
        ("LOAD_FILE('/etc/passwd')", "LOAD_FILE"),
        ("BENCHMARK(1000000, MD5('a'))", "BENCHMARK"),
        ("version", "unknown name 'version'"),
        ("x.y", "unknown name"),
        ("@x", "variables and assignments"),
        ("@x := 1", "variables and assignments"),
        ("1 FROM t", "exactly one expression"),
        ("1; SELECT 2", "exactly one expression"),
        ("1, 2", "exactly one expression"),
        ("1 AS a", "exactly one expression"),
        ("'a' REGEXP 'b'", "function REGEXP is not supported"),
        ("CAST(1 AS JSON)", "CAST to JSON"),
        ("DATE_ADD(NOW(), INTERVAL 1 DAY)", "not supported"),
        (":p0", "variables and assignments"),
        ("?", "variables and assignments"),
    ],
)
def test_rejected_syntax_names_the_problem(expression: str, fragment: str) -> None:
    error = error_of(expression)
    assert fragment.lower() in error.message.lower()
    assert error.position is not None and error.line == 1 and error.column is not None


def test_unknown_function_position_points_at_its_name() -> None:
    error = error_of("1 + foo(2)")
    assert error.position == len("_function 1 + ")
    assert error.column == error.position + 1
    assert error.text == "_function 1 + foo(2)"


def test_syntax_error_position_line_and_column() -> None:
    text = "_function CASE WHEN 1\n THEN 2 ELSE END"
    with pytest.raises(ExprError) as info:
        check(text)
    assert info.value.line == 2
    assert info.value.text == text
    assert "^" in info.value.caret()


def test_position_maps_back_across_placeholders() -> None:
    # The rewritten SQL differs in length from the text; positions must still match the user's text.
    text = "_function CONCAT('{{长字段名称}}', {{a}}) + bogus(1)"
    with pytest.raises(ExprError) as info:
        check(text)
    assert text[info.value.position :].startswith("bogus")


def test_unterminated_string_and_unclosed_placeholder() -> None:
    assert error_of("'abc").message.startswith("unterminated string")
    assert error_of("'abc").position == len("_function ")
    error = error_of("{{abc + 1")
    assert "unclosed" in error.message and error.position == len("_function ")


def test_empty_function_is_an_error() -> None:
    with pytest.raises(ExprError, match="empty _function"):
        check("_function  ")


def test_long_expression_fails_fast() -> None:
    text = "1" + " + 1" * (MAX_EXPRESSION_CHARS // 4 + 10)
    started = time.perf_counter()
    error = error_of(text)
    assert "longer than" in error.message
    assert time.perf_counter() - started < 1.0


def test_deep_parentheses_fail_fast() -> None:
    started = time.perf_counter()
    error = error_of("(" * 500 + "1" + ")" * 500)
    assert "nested too deeply" in error.message
    assert error.position == len("_function ") + MAX_PAREN_DEPTH
    assert time.perf_counter() - started < 1.0


def test_long_flat_sums_are_fine() -> None:
    assert fn(" + ".join(["1"] * 120)) == 120


def test_deep_case_nesting_fails_fast() -> None:
    text = "CASE WHEN 1 THEN " * 200 + "1" + " END" * 200
    started = time.perf_counter()
    error = error_of(text)
    assert "nested too deeply" in error.message or "too large" in error.message
    assert time.perf_counter() - started < 2.0


def test_too_many_nodes_fail_fast() -> None:
    text = "CONCAT(" + ",".join(["1"] * (MAX_NODES + 10)) + ")"
    started = time.perf_counter()
    error = error_of(text)
    assert "too large" in error.message
    assert time.perf_counter() - started < 2.0


def test_string_growth_is_capped() -> None:
    started = time.perf_counter()
    for expression, record, function in [
        (f"REPEAT('ab', {MAX_STRING})", {}, "REPEAT"),
        (f"LPAD('a', {MAX_STRING + 1}, 'x')", {}, "LPAD"),
        ("REPLACE(" * 7 + "'aaaaaaaaaa'" + ", 'a', 'aaaaaaaaaa')" * 7, {}, "REPLACE"),
        ("CONCAT({{a}}, {{a}})", {"a": "x" * 600_000}, "CONCAT"),
    ]:
        error = error_of(expression, record)
        assert isinstance(error, LimitExceeded) and error.limit == "max_result_chars"
        assert error.message.startswith(f"{function} would build ")
        assert f"the limit is {MAX_STRING:,} (Limits.max_result_chars)" in error.message
    assert time.perf_counter() - started < 2.0


def test_like_with_many_wildcards_stays_fast() -> None:
    record = {"s": "a" * 20_000}
    started = time.perf_counter()
    assert fn("{{s}} LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%b'", record) == 0
    assert time.perf_counter() - started < 1.0


def test_compiled_expressions_are_cached_by_text() -> None:
    text = "_function 40 + 2"
    assert check(text) is check(text)


def test_no_python_object_access() -> None:
    for expression in ("__import__('os')", "{{a}}.__class__", "().__class__"):
        with pytest.raises(ExprError):
            fn(expression, {"a": 1})


# ----------------------------------------------------------------------------- compat & lookups


def test_compat_returns_raw_text_with_fields_substituted() -> None:
    compat = Context(compat=True)
    assert render("_function LEFT('{{a}}', 2) +* 1", {"a": "xyz"}, compat) == "LEFT('xyz', 2) +* 1"
    assert render("_function nosuch({{a}})", {"a": 5}, compat) == "nosuch(5)"
    assert render("_function {{d.x}} + 1", {"d": [{"x": 1}]}, compat) == "[1] + 1"
    with pytest.raises(ExprError):
        render("_function nosuch({{a}})", {"a": 5}, Context())


def test_compat_still_evaluates_valid_expressions() -> None:
    assert render("_function 1 + 1", {}, Context(compat=True)) == 2


def test_find_collection_inside_function() -> None:
    lookup = MemoryLookup({"66da8241-x": [{"FNumber": "M001", "FIsKFPeriod": True}, {"FNumber": "M002"}]})
    context = Context(lookup=lookup, now=NOW)
    expression = (
        "_function case _findCollection find FIsKFPeriod from 66da8241-x where "
        "FNumber={{details.code}} _endFind when true then 'y' else '' end"
    )
    assert render(expression, {"details": {"code": "M001"}}, context) == "y"
    assert render(expression, {"details": {"code": "M002"}}, context) == ""
    assert render(expression, {"details": {"code": "nope"}}, context) == ""


def test_quoted_find_collection_from_real_export() -> None:
    lookup = MemoryLookup({"b1335076-x": [{"tid": "T1", "state": "已发货"}]})
    expression = (
        "_function case when '{{trade_status}}'<='70' then "
        "'_findCollection find state from b1335076-x where tid={{tid}}' else '' end"
    )
    assert render(expression, {"trade_status": "30", "tid": "T1"}, Context(lookup=lookup)) == "已发货"


def test_find_collection_without_end_find_is_an_error() -> None:
    error = error_of("_findCollection find a from b where c={{d}}")
    assert "_endFind" in error.message and error.position == len("_function ")


def test_find_collection_without_lookup_is_a_clear_error() -> None:
    with pytest.raises(ExprError, match="needs a lookup, but none is configured"):
        fn("_findCollection find a from b where c={{d}} _endFind", {"d": 1})
