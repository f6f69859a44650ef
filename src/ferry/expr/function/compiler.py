"""The ``_function`` compiler core: node dispatch, leaves, parameters and operator shapes.

Owns :class:`Compiler` (positions, argument helpers, the node and depth budget, dispatch through
:data:`HANDLERS`, which :mod:`ferry.expr.function.table` fills) and the closures for literals,
parameters and unary/binary/comparison operators. Logic and control flow live in
:mod:`ferry.expr.function.logic`, function call shapes in :mod:`ferry.expr.function.shapes`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp

from ferry.errors import FerryError
from ferry.expr import mysql
from ferry.expr.errors import ExprError, translate
from ferry.expr.function.scan import Fn, Param
from ferry.expr.limits import SHORT_TEXT, budget
from ferry.expr.paths import MISSING, Scope, compile_path

MAX_NODES = 2_000
MAX_DEPTH = 150

Handler = Callable[["Compiler", exp.Expression, int, bool], Fn]

#: sqlglot node type -> the function compiling it (filled by :mod:`ferry.expr.function.table`).
HANDLERS: dict[type[exp.Expression], Handler] = {}


def anchor(exc: Exception, full: str, position: int) -> Exception:
    """What to raise for ``exc`` escaping the node at ``position`` of ``full``.

    An expression error without a place gets this node's; any other failure (an ``OverflowError``
    deep in a conversion, say) becomes an ``ExprError`` placed here. An error of another part of
    Ferry (a lookup's store being down) passes unchanged: it is not about this expression.
    """
    if isinstance(exc, ExprError):
        return exc.anchored(full, position)
    if isinstance(exc, FerryError):
        return exc
    return translate(exc).anchored(full, position)


# What a person writes for the sqlglot nodes whose names differ from the SQL.
_DISPLAY_NAMES = {
    "strposition": "LOCATE",
    "timetostr": "DATE_FORMAT",
    "unixtotime": "FROM_UNIXTIME",
    "tsordstodate": "DATE",
    "tsordstotimestamp": "TIMESTAMP",
    "trunc": "TRUNCATE",
    "concatws": "CONCAT_WS",
    "substringindex": "SUBSTRING_INDEX",
    "currenttimestamp": "CURRENT_TIMESTAMP",
    "currentdate": "CURRENT_DATE",
    "regexplike": "REGEXP",
    "jsonextract": "->",
    "jsonextractscalar": "->>",
    "neg": "-",
    "nullsafeeq": "<=>",
    "intdiv": "DIV",
    "pad": "LPAD/RPAD",
}


def display_name(key: str) -> str:
    """What a person writes for the sqlglot node ``key`` (``strposition`` -> ``LOCATE``)."""
    return _DISPLAY_NAMES.get(key.lower(), key.upper())


# Syntax sqlglot reads but _function does not accept, as a person would name it.
_UNSUPPORTED_SYNTAX = {
    "star": "'*' on its own",
    "hexstring": "hexadecimal literals (0x1f, X'1f')",
    "bitstring": "bit literals (b'01')",
    "bytestring": "byte strings",
    "national": "N'...' strings",
    "introducer": "character set introducers (_utf8'...')",
    "tuple": "lists in parentheses",
    "interval": "INTERVAL",
    "bitwisenot": "the bitwise operator '~'",
    "bitwiseor": "the bitwise operator '|'",
    "bitwiseand": "the bitwise operator '&'",
    "bitwisexor": "the bitwise operator '^'",
    "bitwiseleftshift": "the bitwise operator '<<'",
    "bitwiserightshift": "the bitwise operator '>>'",
    "dot": "'.' between names",
    "any": "ANY",
    "all": "ALL",
    "exists": "EXISTS",
    "datatype": "a type name on its own",
    "bracket": "square brackets",
    "array": "arrays",
    "collate": "COLLATE",
    "distinct": "DISTINCT",
    "parameter": "parameters",
    "sessionparameter": "session variables (@@x)",
    "var": "this name",
}


def exact(value: float) -> Any:
    if not math.isfinite(value):
        return None
    return mysql.py_number(value)


def flatten(values: Any, out: list[Any]) -> list[Any]:
    if type(values) is list and not out and list not in map(type, values):
        return list(values)  # the usual flat column of a child table
    if isinstance(values, list):
        for value in values:
            flatten(value, out)
    elif values is not MISSING:
        out.append(values)
    return out


@functools.lru_cache(maxsize=256)
def path_of(prefix: str) -> Fn:
    return compile_path(prefix)


class Compiler:
    """Compiles one parsed expression into closures; counts nodes and depth as it goes."""

    def __init__(
        self, full: str, start: int, params: Sequence[Param], original: Callable[[int], int]
    ) -> None:
        self.full = full
        self.start = start
        self.params = {f"p{i}": p for i, p in enumerate(params)}
        self.original = original
        self.nodes = 0

    # -- helpers -------------------------------------------------------------------------

    def pos(self, node: exp.Expression) -> int:
        if isinstance(node, exp.Placeholder) and str(node.this) in self.params:
            return self.params[str(node.this)].position
        for sub in node.walk():
            meta = getattr(sub, "_meta", None)
            if meta and "start" in meta:
                return self.original(int(meta["start"]))
            if isinstance(sub, exp.Placeholder) and str(sub.this) in self.params:
                return self.params[str(sub.this)].position
        parent = node.parent
        if isinstance(parent, exp.Expression) and not isinstance(parent, exp.Select):
            return self.pos(parent)
        return self.start

    def error(self, message: str, node: exp.Expression) -> ExprError:
        return ExprError(message, text=self.full, position=self.pos(node))

    def name(self, node: exp.Expression) -> str:
        """The function or operator as a person writes it (sqlglot's class names stay inside)."""
        if isinstance(node, exp.Anonymous):
            return str(node.name).upper()
        return display_name(node.key)

    def only(self, node: exp.Expression, *allowed: str) -> None:
        for key, value in node.args.items():
            if key in allowed or value is None or value == [] or not isinstance(value, exp.Expression | list):
                continue
            raise self.error(f"unsupported form of {self.name(node)} (argument {key!r})", node)

    def arg(self, node: exp.Expression, key: str, depth: int, agg: bool) -> Fn | None:
        value = node.args.get(key)
        if value is None:
            return None
        if not isinstance(value, exp.Expression):  # pragma: no cover - guarded by only()
            raise self.error(f"unsupported form of {self.name(node)}", node)
        return self.compile(value, depth + 1, agg)

    def need(self, node: exp.Expression, key: str, depth: int, agg: bool) -> Fn:
        fn = self.arg(node, key, depth, agg)
        if fn is None:
            raise self.error(f"{self.name(node)} is missing an argument", node)
        return fn

    def many(self, nodes: Sequence[exp.Expression], depth: int, agg: bool) -> tuple[Fn, ...]:
        return tuple(self.compile(n, depth + 1, agg) for n in nodes)

    def guard(self, fn: Callable[..., Any], node: exp.Expression) -> Callable[..., Any]:
        """Attach this node's position to value errors raised by ``fn``."""
        position = self.pos(node)
        full = self.full

        def guarded(*args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as exc:
                raise anchor(exc, full, position) from None

        return guarded

    # -- dispatch ------------------------------------------------------------------------

    def compile(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"expression too large (more than {MAX_NODES} syntax nodes)", node)
        if depth > MAX_DEPTH:
            raise self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels)", node)
        handler = HANDLERS.get(type(node))
        if handler is None:
            raise self._unsupported(node)
        return handler(self, node, depth, agg)

    def _unsupported(self, node: exp.Expression) -> ExprError:
        if isinstance(node, exp.Column):
            return self.error(
                f"unknown name {node.sql(dialect='mysql')!r}: write a field as {{{{{node.name}}}}} "
                "or text as a quoted string",
                node,
            )
        if isinstance(node, exp.Anonymous):
            return self.error(f"unknown function {self.name(node)}", node)
        if isinstance(node, exp.Alias):
            return self.error("a _function holds exactly one expression (no aliases)", node)
        if isinstance(node, exp.Subquery | exp.Select | exp.Table | exp.Query):
            return self.error("subqueries and table references are not allowed", node)
        if isinstance(node, exp.Func) and node.key not in _UNSUPPORTED_SYNTAX:
            return self.error(f"function {self.name(node)} is not supported", node)
        what = _UNSUPPORTED_SYNTAX.get(node.key)
        if what is None:
            return self.error("this part of the expression is not supported in a _function", node)
        return self.error(f"{what} cannot be used in a _function", node)

    # -- leaves --------------------------------------------------------------------------

    def literal(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        assert isinstance(node, exp.Literal)
        raw = str(node.this)
        value: Any
        if node.is_string:
            value = raw
        else:
            try:
                value = self._number(raw)
            except ExprError as exc:
                raise self.error(exc.message, node) from None
            except (ValueError, ArithmeticError):
                raise self.error(f"malformed number {raw[:40]!r}", node) from None
        return lambda scope: value

    @staticmethod
    def _number(raw: str) -> Any:
        # Digits are counted before int()/Decimal() see them: both are slow or raise on thousands.
        if "e" in raw.lower():
            mantissa, _, exponent = raw.lower().partition("e")
            if len(mantissa) > 70 or len(exponent.lstrip("+-")) > 6:
                raise ExprError("number out of range")
            value = float(raw)
            if not math.isfinite(value):
                raise ExprError("number out of range")
            return value
        if len(raw.replace(".", "").lstrip("0")) > 65:
            raise ExprError("number out of range: a number may have at most 65 digits")
        if "." in raw:
            return mysql.DEC.create_decimal(raw)
        return mysql.bound_int(int(raw))

    def null(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        return lambda scope: None

    def boolean(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        value = 1 if node.this else 0
        return lambda scope: value

    def placeholder(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        param = self.params.get(str(node.this))
        if param is None:  # the scanner rejects ':' and '?', so this is defensive
            raise self.error("unexpected parameter", node)
        resolve = param.resolve
        full, position, source = self.full, param.position, param.source
        name = param.fields[0] if len(param.fields) == 1 else source
        admit = mysql.admit
        if agg:

            def value_in_aggregate(scope: Scope) -> Any:
                value = resolve(scope)
                if value is MISSING:
                    return None
                if type(value) is list:
                    return value  # the aggregate counts the values it is given
                return admit(value, name)

            return value_in_aggregate

        def value(scope: Scope) -> Any:
            value = resolve(scope)
            kind = type(value)
            if kind is str:
                if len(value) > SHORT_TEXT:
                    budget().text(value, f"value of {name}")
                return value
            if kind is int or value is None:
                return value
            if value is MISSING:
                return None
            if kind is list:
                raise ExprError(
                    f"{source} is a list (one value per child row): use it inside SUM/AVG/MAX/MIN/COUNT, "
                    "or in a field of that array",
                    text=full,
                    position=position,
                )
            # A JSON number such as 0.1 is meant as written: admit computes with it exactly.
            return admit(value, name)

        return value

    def paren(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        return self.compile(node.this, depth + 1, agg)


# ----------------------------------------------------------------------------- operator shapes


def unary(op: Callable[[Any], Any]) -> Handler:
    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        inner = self.need(node, "this", depth, agg)
        full, position = self.full, self.pos(node)

        def run(scope: Scope) -> Any:
            try:
                return op(inner(scope))
            except Exception as exc:
                raise anchor(exc, full, position) from None

        return run

    return build


def binary(op: Callable[[Any, Any], Any]) -> Handler:
    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        left = self.need(node, "this", depth, agg)
        right = self.need(node, "expression", depth, agg)
        full, position = self.full, self.pos(node)

        def run(scope: Scope) -> Any:
            try:
                return op(left(scope), right(scope))
            except Exception as exc:
                raise anchor(exc, full, position) from None

        return run

    return build


def comparison(test: Callable[[int], bool]) -> Handler:
    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        left = self.need(node, "this", depth, agg)
        right = self.need(node, "expression", depth, agg)
        full, position = self.full, self.pos(node)
        compare = mysql.compare

        def run(scope: Scope) -> Any:
            try:
                result = compare(left(scope), right(scope), scope.ctx.zone)
            except Exception as exc:
                raise anchor(exc, full, position) from None
            return None if result is None else int(test(result))

        return run

    return build
