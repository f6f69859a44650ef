"""Parsing a ``_function`` with sqlglot and handing back its compiled closure.

Owns :func:`compile_function` (scan, parse once with sqlglot's MySQL dialect, check the tree is
one expression, compile it), the wording of parse errors, and :func:`result_value`, the shape of
the value an expression hands back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from ferry.expr.errors import ExprError
from ferry.expr.function import table as _table  # fills the handler table; its names for messages
from ferry.expr.function.compiler import Compiler, anchor, display_name
from ferry.expr.function.scan import Fn, scan
from ferry.expr.paths import Scope

MAX_EXPRESSION_CHARS = 10_000

_PREFIX = "SELECT "


@dataclass(frozen=True, slots=True)
class CompiledFunction:
    """A compiled ``_function``. ``evaluate`` returns a JSON-friendly value (see ``result_value``)."""

    text: str  # the whole template text, ``_function`` included
    start: int  # where the expression begins in ``text``
    fields: tuple[str, ...]
    evaluate: Fn


def compile_function(full: str, start: int) -> CompiledFunction:
    """Compile the expression ``full[start:]`` (``full`` is the whole template text)."""
    if len(full) - start > MAX_EXPRESSION_CHARS:
        raise ExprError(
            f"expression longer than {MAX_EXPRESSION_CHARS} characters", text=full, position=start
        )
    if not full[start:].strip():
        raise ExprError("empty _function: write an expression after '_function '", text=full, position=start)
    sql, params, omap = scan(full, start)
    source = _PREFIX + sql

    def original(sql_pos: int) -> int:
        return omap.original(max(0, sql_pos - len(_PREFIX)))

    try:
        tree = sqlglot.parse_one(source, read="mysql")
    except ParseError as exc:
        raise _parse_error(exc, source, full, original, start) from None
    except RecursionError:
        raise ExprError("expression nested too deeply", text=full, position=start) from None
    except SqlglotError:
        raise ExprError(
            "cannot read the expression: an unclosed quote or backtick, or a character that does not "
            "belong in an expression",
            text=full,
            position=start,
        ) from None
    except Exception:  # sqlglot's own bug on strange input must not escape as one
        raise ExprError("cannot read the expression", text=full, position=start) from None
    if (
        not isinstance(tree, exp.Select)
        or len(tree.expressions) != 1
        or any(value for key, value in tree.args.items() if key != "expressions")
    ):
        raise ExprError(
            "a _function holds exactly one expression (no statements, FROM, aliases or lists)",
            text=full,
            position=start,
        )
    compiler = Compiler(full, start, params, original)
    try:
        body = compiler.compile(tree.expressions[0], 0, False)
    except RecursionError:
        raise ExprError("expression nested too deeply", text=full, position=start) from None
    except ExprError:
        raise
    except Exception as exc:
        raise anchor(exc, full, start) from None
    fields = tuple(dict.fromkeys(f for p in params for f in p.fields))

    def evaluate(scope: Scope) -> Any:
        try:
            return result_value(body(scope))
        except Exception as exc:
            raise anchor(exc, full, start) from None

    return CompiledFunction(text=full, start=start, fields=fields, evaluate=evaluate)


# sqlglot reports a missing operand as "Required keyword: 'expression' missing for <class
# '...Add'>"; a person reads "'+' needs a value on both sides".
_REQUIRED = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")
_BINARY = {
    "Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "IntDiv": "DIV", "Mod": "%", "EQ": "=", "NEQ": "<>",
    "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "NullSafeEQ": "<=>", "And": "AND", "Or": "OR",
    "Xor": "XOR", "Like": "LIKE", "ILike": "ILIKE", "Is": "IS", "Glob": "GLOB", "RegexpLike": "REGEXP",
    "BitwiseAnd": "&", "BitwiseOr": "|", "BitwiseXor": "^", "BitwiseLeftShift": "<<",
    "BitwiseRightShift": ">>", "Escape": "ESCAPE", "Collate": "COLLATE", "Dot": ".",
}  # fmt: skip
_PREFIX_OPERATORS = {
    "Not": "NOT",
    "Neg": "-",
    "BitwiseNot": "~",
    "Distinct": "DISTINCT",
    "Interval": "INTERVAL",
}
_SPECIFIC = {
    "If": "a condition needs its value: CASE WHEN a > 1 THEN 'x' END, or IF(a > 1, 'x', 'y')",
    "Aliases": "a _function holds exactly one expression (no aliases)",
    "Case": "CASE needs WHEN ... THEN ... and END",
    "Between": "BETWEEN needs two bounds: x BETWEEN 1 AND 10",
    "In": "IN needs a list of values: x IN (1, 2)",
    "Cast": "CAST needs a type: CAST(x AS SIGNED)",
    "Alias": "a _function holds exactly one expression (no aliases)",
}
_EXPECTED_AFTER = re.compile(r"Expected (\S+) after (\S+)")
_NAME_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")
_EXPECTED = {
    "}": "missing '}': every '{' needs a matching '}'",
    "]": "square brackets cannot be used in a _function",
    ")": "missing ')': every '(' needs a matching ')'",
}


def _open_call(before: str) -> str | None:
    """The function whose '(' is still open at the end of ``before`` ("SELECT IFNULL(1, " -> IFNULL)."""
    depth = 0
    for at in range(len(before) - 1, -1, -1):
        char = before[at]
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                name = _NAME_BEFORE.search(before, 0, at)
                return name.group(1).upper() if name else None
            depth -= 1
    return None


def _describe_parse_error(description: str, highlight: str, before: str) -> str:
    """A parse error in the words a person would use, without sqlglot's class names."""
    required = _REQUIRED.search(description)
    if required:
        node = required.group(2)
        if node in _BINARY:
            return f"'{_BINARY[node]}' needs a value on both sides"
        if node in _PREFIX_OPERATORS:
            return f"'{_PREFIX_OPERATORS[node]}' needs a value after it"
        written = _open_call(before)
        if written in _table.SUPPORTED_FUNCTIONS:
            return f"{written} is missing an argument"
        if node in _SPECIFIC:
            return _SPECIFIC[node]
        if display_name(node) in _table.SUPPORTED_FUNCTIONS:
            return f"{display_name(node)} is missing an argument"
        return "syntax error: the expression is incomplete"
    if description.startswith("Expecting "):
        return "syntax error: expected " + repr(description[len("Expecting ") :].strip())
    if description.startswith("Invalid expression / Unexpected token"):
        return "syntax error: unexpected token"
    if description.startswith("Expected table name"):
        return "FROM and table names cannot be used: a _function holds one expression"
    if description.startswith("Expected CTE"):
        return "WITH cannot be used: a _function holds one expression"
    after = _EXPECTED_AFTER.match(description)
    if after:
        wanted, keyword = after.groups()
        if keyword == "CAST":
            return "CAST needs AS and a type: CAST(x AS SIGNED)"
        return f"{keyword} needs a matching {wanted}"
    expected = description.removeprefix("Expected ").strip()
    if expected in _EXPECTED:
        return _EXPECTED[expected]
    if "ALL and DISTINCT" in description:
        return "ALL and DISTINCT cannot be used in a _function"
    return "syntax error"


def _parse_error(
    exc: ParseError, source: str, full: str, original: Callable[[int], int], start: int
) -> ExprError:
    errors = exc.errors or []
    if not errors:
        return ExprError("syntax error", text=full, position=start)
    first = errors[0]
    line, col = first.get("line") or 1, first.get("col") or 1
    highlight = str(first.get("highlight") or "")
    lines = source.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + col - len(highlight)
    description = _describe_parse_error(
        str(first.get("description") or ""), highlight, str(first.get("start_context") or "")
    )
    near = f" near {highlight[:40]!r}" if highlight.strip() else ""
    return ExprError(f"{description}{near}", text=full, position=original(max(offset, 0)))


def result_value(value: Any) -> Any:
    """The value an expression hands back: exact decimals with a fraction become floats
    (shortest repr, so 0.1 + 0.2 gives 0.3), whole decimals ints, dates strings."""
    if type(value) is Decimal:
        # The text tells the exponent without as_tuple() building a tuple of every digit, and
        # float() of the text is what float() of a Decimal does anyway.
        text = str(value)
        if "E" in text:  # scientific notation (rare): the exponent decides
            exponent = value.as_tuple().exponent
            return int(value) if isinstance(exponent, int) and exponent >= 0 else float(text)
        return float(text) if "." in text else int(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return value
