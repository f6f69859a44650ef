"""The linear rewrites agree with the simple implementations they replaced, on random input.

LIKE (a wildcard matcher instead of a translated regex), TRIM and SUBSTRING_INDEX (indices
instead of repeated slicing or a full split), the placeholder tokenizer (str.find instead of a
lazy regex), MySQL format translation (one regex instead of sqlglot's trie walk) and the pipes'
formatting (isoformat instead of an f-string): each against its old form as the oracle.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlglot.dialects.mysql import MySQL
from sqlglot.time import format_time

from ferry.expr import Context, compile_template, render
from ferry.expr.like import like_matcher
from ferry.expr.mysqltime import normalise_mysql_format

from .fuzz import FUZZ

SMALL = st.text(alphabet="ab%_\\", max_size=8)
SUBJECTS = st.text(alphabet="ab\n", max_size=12)


def reference_like(pattern: str, subject: str) -> bool:
    """LIKE as a regular expression, the way it used to be built (fine for short input)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), subject, re.S) is not None


@FUZZ
@given(pattern=SMALL, subject=SUBJECTS)
def test_like_matches_as_the_regular_expression_did(pattern: str, subject: str) -> None:
    assert like_matcher(pattern)(subject) == reference_like(pattern, subject)
    long_pattern = pattern + "a" * 300  # not cached: compiled per call, the same answer
    assert like_matcher(long_pattern)(subject) == reference_like(long_pattern, subject)


def fn(expression: str, record: dict[str, Any]) -> Any:
    return render("_function " + expression, record, Context())


def reference_trim(text: str, strip: str, position: str) -> str:
    if position in ("BOTH", "LEADING"):
        while text.startswith(strip):
            text = text[len(strip) :]
    if position in ("BOTH", "TRAILING"):
        while text.endswith(strip):
            text = text[: -len(strip)]
    return text


@FUZZ
@given(
    text=st.text(alphabet="ab ", max_size=12),
    strip=st.text(alphabet="ab ", min_size=1, max_size=3),
    position=st.sampled_from(["BOTH", "LEADING", "TRAILING"]),
)
def test_trim_removes_what_repeated_slicing_removed(text: str, strip: str, position: str) -> None:
    record = {"s": text, "r": strip}
    assert fn(f"TRIM({position} {{{{r}}}} FROM {{{{s}}}})", record) == reference_trim(text, strip, position)


@FUZZ
@given(
    text=st.text(alphabet="ab.", max_size=12),
    delimiter=st.text(alphabet="ab.", min_size=1, max_size=3),
    count=st.integers(-6, 6),
)
def test_substring_index_cuts_where_split_cut(text: str, delimiter: str, count: int) -> None:
    parts = text.split(delimiter)
    expected = "" if count == 0 else delimiter.join(parts[:count] if count > 0 else parts[count:])
    assert fn(f"SUBSTRING_INDEX({{{{s}}}}, {{{{d}}}}, {count})", {"s": text, "d": delimiter}) == expected


_OLD_TOKEN = re.compile(r"\{\{(.*?)\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\s*\|\s*[A-Za-z_]+)*)\}", re.S)


@FUZZ
@given(text=st.text(alphabet="{}ab|_ .", max_size=20))
def test_placeholders_are_found_where_the_lazy_regex_found_them(text: str) -> None:
    from ferry.expr.interpolate import _tokens

    old = [(m.start(), m.end()) for m in _OLD_TOKEN.finditer(text)]
    assert [(start, end) for start, end, _, _ in _tokens(text)] == old


@FUZZ
@given(fmt=st.text(alphabet="%McehisukklrTWxYyd -:", max_size=16))
def test_mysql_formats_translate_as_sqlglot_translates_them(fmt: str) -> None:
    assert normalise_mysql_format(fmt) == (format_time(fmt, MySQL.TIME_MAPPING, MySQL.TIME_TRIE) or "")


@FUZZ
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset=st.integers(-14 * 60, 14 * 60),
)
def test_pipes_print_times_as_the_format_string_did(moment: datetime, offset: int) -> None:
    zone = timezone(timedelta(minutes=offset))
    aware = moment.replace(tzinfo=zone)
    m = aware
    expected = f"{m.year:04d}-{m.month:02d}-{m.day:02d} {m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    ctx = Context(tz=zone)
    assert compile_template("{{t|datetime}}").render({"t": aware}, ctx) == expected
    assert compile_template("{{t|date}}").render({"t": aware}, ctx) == expected[:10]


MONEY = st.one_of(
    st.none(),
    st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
    st.builds(round, st.floats(min_value=-1e9, max_value=1e9), st.integers(0, 7)),
    st.integers(-1000, 1000).map(float),
)


@FUZZ
@given(values=st.lists(MONEY, max_size=8))
def test_sum_of_json_numbers_adds_them_as_written(values: list[float | None]) -> None:
    from decimal import Decimal

    from ferry.expr import mysql
    from ferry.expr.function.aggregate import total

    expected: Decimal | None = None
    for value in values:
        if value is not None:
            exact = Decimal(repr(value))
            expected = exact if expected is None else mysql.DEC.add(expected, exact)
    result = total(values)
    assert (None if result is None else str(result)) == (None if expected is None else str(expected))
