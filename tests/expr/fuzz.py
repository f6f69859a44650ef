"""Hypothesis strategies for hostile input: record values, templates, ``_function`` expressions,
condition terms, formats, parsers and request fields. Shared by the fuzz and property tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ferry.expr.condition import OPERATORS
from ferry.expr.convert import TYPE_NAMES
from ferry.expr.formats import FORMAT_NAMES
from ferry.expr.function import SUPPORTED_FUNCTIONS
from ferry.expr.parsers import PARSER_NAMES

# FERRY_FUZZ_EXAMPLES=5000 runs that many random (not derandomized) examples, for a deep search
# by hand; the suite's default is the fixed budget below.
_DEEP_SEARCH = int(os.environ.get("FERRY_FUZZ_EXAMPLES", "0"))

#: A fixed budget that fits CI: derandomized (the same examples every run, no database), and a
#: generous per-example deadline whose only job is to catch a hang.
FUZZ = settings(
    max_examples=_DEEP_SEARCH or 150,
    deadline=timedelta(seconds=3),
    derandomize=not _DEEP_SEARCH,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


# Values an upstream system could send, or a hostile one would. Made when drawn (by index), so
# that the large ones cost nothing to generate and no repr of a strategy ever meets them.
_HOSTILE: list[Callable[[], Any]] = [
    lambda: "1e9999999",
    lambda: "-1e-9999999",
    lambda: "9" * 5000,
    lambda: "0." + "0" * 4000 + "1",
    lambda: "1" * 70 + ".5",
    lambda: "NaN",
    lambda: "-Infinity",
    lambda: "sNaN",
    lambda: "²",
    lambda: "٣٤",
    lambda: "1_000",
    lambda: " 12,345.67 ",
    lambda: "2024-01-01" + " " * 50_000 + "x",
    lambda: "2024-03-15 10:30:00" + " " * 50_000,
    lambda: "2024-13-45 99:99:99",
    lambda: "2024-01-01T10:00:00+99:99",
    lambda: "99999999999999",
    lambda: " " * 1_000_001,
    lambda: "x" * 600_000,
    lambda: "ß" * 400_000,
    lambda: "%a" * 2000 + "b",
    lambda: "_" * 5000,
    lambda: "%W" * 20_000,
    lambda: "a\x00b",
    lambda: "\ud800",
    lambda: "{{a}}",
    lambda: "'); DROP TABLE t; --",
    lambda: "[" * 10_000,
    lambda: '{"a": ' * 5000,
    lambda: "[1, 2, 3]",
    lambda: '{"1": "a", "²": "b"}',
    lambda: ",".join(["x"] * 20_000),
    lambda: 1e300,
    lambda: -1e-300,
    lambda: float("nan"),
    lambda: float("inf"),
    lambda: -float("inf"),
    lambda: 10**4000,
    lambda: -(2**63),
    lambda: 2**64,
    lambda: Decimal("1e999999"),
    lambda: Decimal("NaN"),
    lambda: Decimal("sNaN"),
    lambda: Decimal("-Infinity"),
    lambda: Decimal("9" * 80),
    lambda: True,
    lambda: [[1, [2, [3]]]],
    lambda: _deep(50),
    lambda: _deep(3_000),
    lambda: {"k": _deep(2_000)},
    lambda: [{"x": 1}] * 10_001,
]


def _hostile(index: int) -> Any:
    return _HOSTILE[index]()


HOSTILE = st.builds(_hostile, st.integers(0, len(_HOSTILE) - 1))

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.text(max_size=20),
    st.text(st.characters(codec=None, categories=None), max_size=10),
    HOSTILE,
)

VALUES = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["x", "y", "qty", "a.b", ""]), children, max_size=3),
    ),
    max_leaves=12,
)

ROWS = st.one_of(
    st.lists(st.fixed_dictionaries({"x": VALUES, "qty": VALUES}), max_size=4),
    VALUES,
    st.sampled_from([[{"x": 1, "qty": 2}] * 10_001, [[{"x": 1}]], "not rows", None]),
)

RECORDS = st.fixed_dictionaries({"a": VALUES, "b": VALUES, "n": VALUES, "rows": ROWS})


# ----------------------------------------------------------------------------- templates

_PLACEHOLDERS = [
    "{{a}}",
    "{{b}}",
    "{{n}}",
    "{{rows}}",
    "{{rows.x}}",
    "{{rows.qty}}",
    "{{a.b}}",
    "{{a|datetime}}",
    "{{n|timestamp_ms}}",
    "{{b|date|timestamp}}",
    "{{LAST_SYNC_TIME}}",
    "{{DAYS_AGO_99999|date}}",
    "{VAR}",
    "{a}",
    "{LAST_SYNC_TIME|datetime}",
    "{{",
    "}}",
    "{",
    "{{}}",
    "{{a|nosuch}}",
]

TEXT_TEMPLATES = st.lists(
    st.one_of(st.sampled_from(_PLACEHOLDERS), st.text(max_size=8)), min_size=0, max_size=6
).map("".join)


# ----------------------------------------------------------------------------- _function expressions

_ATOMS = [
    "1",
    "0",
    "-7",
    "0.1",
    "1e300",
    "1.5e3",
    "9" * 64,
    "'x'",
    "'2024-03-15 10:30:00'",
    "''",
    "NULL",
    "TRUE",
    "{{a}}",
    "{{b}}",
    "{{n}}",
    "'{{a}}'",
    "'pre-{{b}}'",
    "{{rows.qty}}",
    "{{rows.x}}",
    "{VAR}",
    "NOW()",
    "CURDATE()",
    "_findCollection find x from s where k={{a}} _endFind",
]
_BINARY = ["+", "-", "*", "/", "DIV", "%", "MOD", "=", "<>", "<", ">=", "<=>", "AND", "OR", "XOR", "LIKE"]
_FUNCTIONS = [
    name for name in SUPPORTED_FUNCTIONS if name not in ("CASE", "CAST", "CURRENT_DATE", "CURRENT_TIMESTAMP")
]


def _expressions() -> st.SearchStrategy[str]:
    atom = st.sampled_from(_ATOMS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(_BINARY), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            inner.map(lambda e: f"-({e})"),
            inner.map(lambda e: f"NOT {e}"),
            inner.map(lambda e: f"({e})"),
            st.tuples(st.sampled_from(_FUNCTIONS), st.lists(inner, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
            st.tuples(inner, inner, inner).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"),
            st.tuples(inner, inner, inner).map(lambda t: f"CASE {t[0]} WHEN {t[1]} THEN {t[2]} END"),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
            st.tuples(inner, st.lists(inner, min_size=1, max_size=3)).map(
                lambda t: f"{t[0]} IN ({', '.join(t[1])})"
            ),
            st.tuples(inner, st.sampled_from(["SIGNED", "CHAR", "DECIMAL(18, 2)", "DATE", "DATETIME"])).map(
                lambda t: f"CAST({t[0]} AS {t[1]})"
            ),
            st.tuples(inner, st.sampled_from(["'%Y-%m-%d'", "'%W %D %M'", "{{b}}"])).map(
                lambda t: f"DATE_FORMAT({t[0]}, {t[1]})"
            ),
            st.tuples(inner, inner).map(lambda t: f"{t[0]} LIKE {t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"TRIM(BOTH {t[0]} FROM {t[1]})"),
        )

    return st.recursive(atom, extend, max_leaves=8)


EXPRESSIONS = _expressions()

#: Any ``_function`` text: from the grammar, grammar with junk spliced in, or arbitrary text.
FUNCTIONS = st.one_of(
    EXPRESSIONS,
    st.tuples(EXPRESSIONS, st.text(max_size=6), EXPRESSIONS).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
    st.text(max_size=40),
).map(lambda e: "_function " + e)

TEMPLATES = st.one_of(TEXT_TEMPLATES, FUNCTIONS, st.just("_findCollection find x from s where k={{a}}"))


# ----------------------------------------------------------------------------- conditions, formats, parsers

_OPERAND = st.one_of(
    VALUES,
    st.sampled_from(
        ["{{b}}", "{{LAST_SYNC_TIME}}", "timestamp:1704067200", "timestamp:1e99", "1,10", "%a%", "a,b,c"]
    ),
)
CLAUSES = st.fixed_dictionaries(
    {
        "field": st.sampled_from(["a", "b", "n", "rows.qty", "rows.x", "a.b", "missing"]),
        "logic": st.one_of(st.sampled_from(OPERATORS), st.text(max_size=5)),
        "value": _OPERAND,
    }
)
CONDITIONS = st.one_of(
    st.lists(st.lists(CLAUSES, min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(CLAUSES, min_size=1, max_size=3),
    VALUES,
)

FORMAT_SPECS = st.one_of(
    st.sampled_from(FORMAT_NAMES),
    st.tuples(
        st.sampled_from(FORMAT_NAMES),
        st.one_of(st.integers(-40, 40).map(str), st.sampled_from(["'|'", "", "9" * 30, "x"])),
    ).map(lambda t: f"{t[0]}({t[1]})"),
    st.text(max_size=12),
    VALUES,
)

PARSER_SPECS = st.one_of(
    st.sampled_from(PARSER_NAMES),
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(PARSER_NAMES),
            "params": st.one_of(st.sampled_from(["FNumber", ",", "a,b", "|"]), VALUES),
        }
    ),
    st.fixed_dictionaries(
        {"name": st.just("ConvertTwoStageObjectParser"), "params1": VALUES, "params2": VALUES}
    ),
    VALUES,
)


# ----------------------------------------------------------------------------- request fields


def _field_items() -> st.SearchStrategy[dict[str, Any]]:
    scalar = st.fixed_dictionaries(
        {
            "field": st.sampled_from(["FNumber", "FQty", "FAmount", "FNote", "F.Dotted", "FNumber"]),
            "type": st.one_of(st.none(), st.sampled_from(TYPE_NAMES), st.text(max_size=4)),
            "value": st.one_of(TEMPLATES, VALUES),
        },
        optional={
            "parser": PARSER_SPECS,
            "value_map": st.dictionaries(st.text(max_size=3), VALUES, max_size=3),
            "is_required": st.booleans(),
            "default": st.one_of(st.none(), TEXT_TEMPLATES, VALUES),
        },
    )
    return st.recursive(
        scalar,
        lambda children: st.fixed_dictionaries(
            {
                "field": st.sampled_from(["Model", "FEntity", "FSub"]),
                "type": st.sampled_from(["object", "array", "多行分录", "子表对象"]),
                "value": st.sampled_from([None, "rows", "{{rows}}", "a", "{{a.b}}", "bad value"]),
                "children": st.lists(children, min_size=1, max_size=4),
            },
            optional={"is_required": st.booleans()},
        ),
        max_leaves=8,
    )


FIELD_ITEMS = st.lists(_field_items(), min_size=1, max_size=4)
