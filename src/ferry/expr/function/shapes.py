"""``_function`` call shapes: how a function's arguments are compiled and its implementation called.

Owns the handler factories :func:`function` (named sqlglot arguments), :func:`variadic`,
:func:`scoped` (the implementation also gets the scope, for the clock and zone) and
:func:`aggregate` (over child rows), plus the handlers with their own argument rules: named
functions sqlglot does not know (:func:`anonymous`), ``DATE_FORMAT``, ``FROM_UNIXTIME`` and ``CAST``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ferry.expr import mysql, mysqltime
from ferry.expr.errors import ExprError
from ferry.expr.function.compiler import Compiler, Handler, anchor, flatten, path_of
from ferry.expr.function.dates import date_format
from ferry.expr.function.numbers import cast_int, round_number
from ferry.expr.function.scan import Fn
from ferry.expr.limits import budget
from ferry.expr.paths import Scope, array_prefix

#: Named functions sqlglot parses as ``Anonymous``: name -> (min args, max args, implementation(scope, *args)).
ANONYMOUS: dict[str, tuple[int, int, Callable[..., Any]]] = {}


def function(keys: tuple[str, ...], impl: Callable[..., Any], *, required: int | None = None) -> Handler:
    """A function of named sqlglot arguments; ``impl`` gets values (None for absent optional)."""
    needed = len(keys) if required is None else required

    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, *keys)
        args = []
        for index, key in enumerate(keys):
            args.append(
                self.need(node, key, depth, agg) if index < needed else self.arg(node, key, depth, agg)
            )
        full, position = self.full, self.pos(node)
        if len(args) == 1:
            (a,) = args
            assert a is not None

            def run_one(scope: Scope) -> Any:
                try:
                    return impl(a(scope))
                except Exception as exc:
                    raise anchor(exc, full, position) from None

            return run_one
        if all(a is not None for a in args) and len(args) == 2:
            a0, a1 = args
            assert a0 is not None and a1 is not None

            def run_two(scope: Scope) -> Any:
                try:
                    return impl(a0(scope), a1(scope))
                except Exception as exc:
                    raise anchor(exc, full, position) from None

            return run_two
        frozen = tuple(args)

        def run_many(scope: Scope) -> Any:
            try:
                return impl(*(None if a is None else a(scope) for a in frozen))
            except ExprError as exc:
                raise anchor(exc, full, position) from None

        return run_many

    return build


def variadic(impl: Callable[[list[Any]], Any]) -> Handler:
    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, "this", "expressions")
        first = [node.this] if isinstance(node.args.get("this"), exp.Expression) else []
        args = self.many([*first, *node.expressions], depth, agg)
        call = self.guard(impl, node)
        return lambda scope: call([a(scope) for a in args])

    return build


def scoped(keys: tuple[str, ...], impl: Callable[..., Any], *, required: int = 0) -> Handler:
    """Like ``function`` but ``impl`` also receives the scope (for time zone and clock)."""

    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, *keys)
        args = tuple(
            self.need(node, key, depth, agg) if index < required else self.arg(node, key, depth, agg)
            for index, key in enumerate(keys)
        )
        call = self.guard(impl, node)
        return lambda scope: call(scope, *(None if a is None else a(scope) for a in args))

    return build


def anonymous(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    name = self.name(node)
    builder = ANONYMOUS.get(name)
    if builder is None:
        raise self.error(f"unknown function {name}", node)
    args = self.many(node.expressions, depth, agg)
    low, high = builder[0], builder[1]
    if not low <= len(args) <= high:
        raise self.error(f"{name} takes {low}..{high} arguments, got {len(args)}", node)
    call = self.guard(builder[2], node)
    return lambda scope: call(scope, *(a(scope) for a in args))


def time_to_str(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "format")
    moment = self.need(node, "this", depth, agg)
    fmt_node = node.args.get("format")
    fmt_static = str(fmt_node.this) if isinstance(fmt_node, exp.Literal) and fmt_node.is_string else None
    fmt_fn = None if fmt_static is not None else self.need(node, "format", depth, agg)
    full, position = self.full, self.pos(node)

    def run(scope: Scope) -> Any:
        try:
            if fmt_static is not None:
                return date_format(moment(scope), fmt_static, scope)
            assert fmt_fn is not None
            raw = mysql.text(fmt_fn(scope))
            return date_format(
                moment(scope), None if raw is None else mysqltime.normalise_mysql_format(raw), scope
            )
        except Exception as exc:
            raise anchor(exc, full, position) from None

    return run


def from_unixtime(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "format")
    seconds = self.need(node, "this", depth, agg)
    fmt_node = node.args.get("format")
    fmt_static = str(fmt_node.this) if isinstance(fmt_node, exp.Literal) and fmt_node.is_string else None
    fmt_fn = None if fmt_node is None or fmt_static is not None else self.need(node, "format", depth, agg)
    full, position = self.full, self.pos(node)

    def run(scope: Scope) -> Any:
        try:
            moment = mysql.from_unixtime(seconds(scope), scope.ctx.zone)
            if fmt_node is None or moment is None:
                return moment
            if fmt_static is not None:
                return mysqltime.format_datetime(moment, fmt_static)
            assert fmt_fn is not None
            raw = mysql.text(fmt_fn(scope))
            return (
                None
                if raw is None
                else mysqltime.format_datetime(moment, mysqltime.normalise_mysql_format(raw))
            )
        except Exception as exc:
            raise anchor(exc, full, position) from None

    return run


def cast(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "to")
    inner = self.need(node, "this", depth, agg)
    to = node.args.get("to")
    if not isinstance(to, exp.DataType):  # pragma: no cover - sqlglot always builds DataType
        raise self.error("malformed CAST", node)
    kind = to.this
    params = [p.this for p in to.expressions if isinstance(p, exp.DataTypeParam)]
    T = exp.DataType.Type
    impl: Callable[[Any, Scope], Any]
    if kind in (T.CHAR, T.VARCHAR, T.NCHAR, T.NVARCHAR, T.TEXT):

        def impl(value: Any, scope: Scope) -> Any:
            return mysql.text(value)

    elif kind in (T.BIGINT, T.INT, T.UBIGINT, T.UINT):

        def impl(value: Any, scope: Scope) -> Any:
            return cast_int(value)

    elif kind is T.DECIMAL:
        raw_scale = str(params[1].this) if len(params) > 1 and isinstance(params[1], exp.Literal) else "0"
        if not (raw_scale.isascii() and raw_scale.isdigit() and len(raw_scale) <= 3):
            raise self.error("DECIMAL(p, s) needs whole numbers, e.g. CAST(x AS DECIMAL(18, 2))", node)
        scale = int(raw_scale)

        def impl(value: Any, scope: Scope) -> Any:
            return round_number(value, scale)

    elif kind is T.DATE:

        def impl(value: Any, scope: Scope) -> Any:
            moment = mysqltime.to_datetime(value, scope.ctx.zone)
            return None if moment is None else moment.date()

    elif kind is T.DATETIME:

        def impl(value: Any, scope: Scope) -> Any:
            return mysqltime.to_datetime(value, scope.ctx.zone)

    else:
        raise self.error(f"CAST to {to.sql(dialect='mysql')} is not supported", node)
    call = self.guard(impl, node)
    return lambda scope: call(inner(scope), scope)


# ----------------------------------------------------------------------------- aggregates over child rows


def aggregate(
    combine: Callable[[list[Any]], Any],
) -> Handler:
    def build(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, "this")
        argument = node.args.get("this")
        if not isinstance(argument, exp.Expression) or isinstance(argument, exp.Star):
            raise self.error(
                f"{self.name(node)} needs a child-row field, e.g. {self.name(node)}({{{{details_list.qty}}}})",
                node,
            )
        inner = self.compile(argument, depth + 1, True)
        full, position = self.full, self.pos(node)
        what = f"the values of {self.name(node)}"

        def collected(values: list[Any]) -> Any:
            try:
                checks = budget()
                if len(values) > checks.limits.max_items:
                    checks.items(len(values), what)
                return combine(values)
            except Exception as exc:
                raise anchor(exc, full, position) from None

        if isinstance(argument, exp.Placeholder):

            def column(scope: Scope) -> Any:
                values = inner(scope)
                if type(values) is list and list not in map(type, values):
                    return collected(values)  # the flat column; the aggregates only read it
                return collected(flatten(values, []))

            return column
        self_name = self.name(node)
        paths = [
            f
            for sub in argument.find_all(exp.Placeholder)
            for f in self.params[str(sub.this)].fields
            if "." in f
        ]

        def per_row(scope: Scope) -> Any:
            for path in paths:
                prefix = array_prefix(scope.record, path, scope.rows)
                if prefix is not None:
                    rows = path_of(prefix)(scope)
                    if not isinstance(rows, list):
                        return collected([])
                    checks = budget()
                    if len(rows) > checks.limits.max_items:
                        checks.items(len(rows), f"{prefix} (rows of {self_name})")
                    values: list[Any] = []
                    for index, row in enumerate(rows):
                        if index & 63 == 63:
                            checks.check_time()
                        flatten(inner(scope.bind(prefix, row)), values)
                    return collected(values)
            return collected(flatten(inner(scope), []))

        return per_row

    return build
