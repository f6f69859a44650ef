"""Parsing a ``_function`` with sqlglot and handing back its compiled closure.

Owns :func:`compile_function` (scan, parse once with sqlglot's MySQL dialect, check the tree is
one expression, compile it), the wording of parse errors, and :func:`result_value`, the shape of
the value an expression hands back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from ferry.expr.errors import ExprError
from ferry.expr.function import table as _table  # noqa: F401  (fills the handler table)
from ferry.expr.function.compiler import Compiler
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
    except SqlglotError as exc:
        raise ExprError(f"cannot read the expression: {exc}", text=full, position=start) from None
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
    fields = tuple(dict.fromkeys(f for p in params for f in p.fields))
    anchor = start

    def evaluate(scope: Scope) -> Any:
        try:
            return result_value(body(scope))
        except ExprError as exc:
            if exc.text is None:
                raise ExprError(exc.message, text=full, position=anchor) from None
            raise

    return CompiledFunction(text=full, start=start, fields=fields, evaluate=evaluate)


def _parse_error(
    exc: ParseError, source: str, full: str, original: Callable[[int], int], start: int
) -> ExprError:
    errors = exc.errors or []
    if not errors:
        return ExprError(f"syntax error: {exc}", text=full, position=start)
    first = errors[0]
    line, col = first.get("line") or 1, first.get("col") or 1
    highlight = first.get("highlight") or ""
    lines = source.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + col - len(highlight)
    description = first.get("description") or "syntax error"
    if description.startswith("Expecting "):
        description = "syntax error: expected " + repr(description[len("Expecting ") :].strip())
    if description.startswith("Invalid expression / Unexpected token"):
        description = "syntax error: unexpected token"
    near = f" near {highlight!r}" if highlight.strip() else ""
    return ExprError(f"{description}{near}", text=full, position=original(max(offset, 0)))


def result_value(value: Any) -> Any:
    """The value an expression hands back: exact decimals with a fraction become floats
    (shortest repr, so 0.1 + 0.2 gives 0.3), whole decimals ints, dates strings."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return value
