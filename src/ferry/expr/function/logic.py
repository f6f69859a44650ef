"""``_function`` logic and control flow: three-valued AND/OR/XOR/NOT, IS, IN, BETWEEN, LIKE, CASE,
IF, COALESCE and NULLIF, each a handler taking the :class:`~ferry.expr.function.compiler.Compiler`.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ferry.expr import mysql
from ferry.expr.function.compiler import Compiler
from ferry.expr.function.scan import Fn
from ferry.expr.like import like_matcher
from ferry.expr.paths import Scope


def null_safe_eq(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = self.need(node, "this", depth, agg)
    right = self.need(node, "expression", depth, agg)
    compare = self.guard(mysql.compare, node)

    def run(scope: Scope) -> Any:
        a, b = left(scope), right(scope)
        if a is None or b is None:
            return int(a is None and b is None)
        return int(compare(a, b, scope.ctx.zone) == 0)

    return run


def not_(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    inner = self.need(node, "this", depth, agg)
    truth = self.guard(mysql.truth, node)

    def run(scope: Scope) -> Any:
        value = truth(inner(scope))
        return None if value is None else int(not value)

    return run


def and_(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = self.need(node, "this", depth, agg)
    right = self.need(node, "expression", depth, agg)
    truth = self.guard(mysql.truth, node)

    def run(scope: Scope) -> Any:
        a = truth(left(scope))
        if a is False:
            return 0
        b = truth(right(scope))
        if b is False:
            return 0
        return None if a is None or b is None else 1

    return run


def or_(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = self.need(node, "this", depth, agg)
    right = self.need(node, "expression", depth, agg)
    truth = self.guard(mysql.truth, node)

    def run(scope: Scope) -> Any:
        a = truth(left(scope))
        if a is True:
            return 1
        b = truth(right(scope))
        if b is True:
            return 1
        return None if a is None or b is None else 0

    return run


def xor(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = self.need(node, "this", depth, agg)
    right = self.need(node, "expression", depth, agg)
    truth = self.guard(mysql.truth, node)

    def run(scope: Scope) -> Any:
        a, b = truth(left(scope)), truth(right(scope))
        return None if a is None or b is None else int(a != b)

    return run


def is_(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "expression")
    inner = self.need(node, "this", depth, agg)
    target = node.expression
    negate = bool(node.args.get("negate"))
    if isinstance(target, exp.Null):

        def is_null(scope: Scope) -> Any:
            return int((inner(scope) is None) != negate)

        return is_null
    if isinstance(target, exp.Boolean):
        wanted = bool(target.this)
        truth = self.guard(mysql.truth, node)

        def is_bool(scope: Scope) -> Any:
            return int((truth(inner(scope)) is wanted) != negate)

        return is_bool
    raise self.error("IS supports NULL, TRUE and FALSE", node)


def in_(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "expressions")
    inner = self.need(node, "this", depth, agg)
    options = self.many(node.expressions, depth, agg)
    compare = self.guard(mysql.compare, node)

    def run(scope: Scope) -> Any:
        value = inner(scope)
        if value is None:
            return None
        saw_null = False
        tz = scope.ctx.zone
        for option in options:
            candidate = option(scope)
            if candidate is None:
                saw_null = True
            elif compare(value, candidate, tz) == 0:
                return 1
        return None if saw_null else 0

    return run


def between(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "low", "high")
    inner = self.need(node, "this", depth, agg)
    low = self.need(node, "low", depth, agg)
    high = self.need(node, "high", depth, agg)
    compare = self.guard(mysql.compare, node)

    def run(scope: Scope) -> Any:
        value, tz = inner(scope), scope.ctx.zone
        a = compare(value, low(scope), tz)
        b = compare(value, high(scope), tz)
        if a is None or b is None:
            return None
        return int(a >= 0 and b <= 0)

    return run


def like(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "expression")
    inner = self.need(node, "this", depth, agg)
    negate = bool(node.args.get("negate"))
    pattern_node = node.expression
    text = self.guard(mysql.text, node)
    if isinstance(pattern_node, exp.Literal) and pattern_node.is_string:
        matcher = like_matcher(str(pattern_node.this))

        def run_static(scope: Scope) -> Any:
            subject = text(inner(scope))
            return None if subject is None else int(matcher(subject) != negate)

        return run_static
    pattern = self.need(node, "expression", depth, agg)

    def run(scope: Scope) -> Any:
        subject, wanted = text(inner(scope)), text(pattern(scope))
        if subject is None or wanted is None:
            return None
        return int(like_matcher(wanted)(subject) != negate)

    return run


# ----------------------------------------------------------------------------- control flow


def case(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "ifs", "default")
    subject = self.arg(node, "this", depth, agg)
    branches = []
    for branch in node.args.get("ifs") or []:
        if not isinstance(branch, exp.If):  # pragma: no cover - sqlglot always builds If
            raise self.error("malformed CASE", node)
        branches.append(
            (self.need(branch, "this", depth + 1, agg), self.need(branch, "true", depth + 1, agg))
        )
    default = self.arg(node, "default", depth, agg)
    frozen = tuple(branches)
    truth = self.guard(mysql.truth, node)
    compare = self.guard(mysql.compare, node)
    if subject is None:

        def searched(scope: Scope) -> Any:
            for condition, value in frozen:
                if truth(condition(scope)):
                    return value(scope)
            return default(scope) if default is not None else None

        return searched

    def simple(scope: Scope) -> Any:
        value = subject(scope)
        tz = scope.ctx.zone
        for when, then in frozen:
            if compare(value, when(scope), tz) == 0:
                return then(scope)
        return default(scope) if default is not None else None

    whens = [branch.args.get("this") for branch in node.args.get("ifs") or []]
    if not all(isinstance(when, exp.Literal) and when.is_string for when in whens):
        return simple
    # CASE '{{org}}' WHEN '100' THEN ... WHEN '200' THEN ...: text against text literals is
    # equality (binary comparison), so a text subject picks its branch by a dict lookup.
    table: dict[str, Fn] = {}
    for when, (_, then) in zip(whens, frozen, strict=True):
        table.setdefault(str(when.this), then)  # the first WHEN of a value wins

    def simple_by_text(scope: Scope) -> Any:
        value = subject(scope)
        if type(value) is not str:
            return _rest(value, scope)
        then = table.get(value)
        if then is not None:
            return then(scope)
        return default(scope) if default is not None else None

    def _rest(value: Any, scope: Scope) -> Any:
        tz = scope.ctx.zone
        for when, then in frozen:
            if compare(value, when(scope), tz) == 0:
                return then(scope)
        return default(scope) if default is not None else None

    return simple_by_text


def if_(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "true", "false")
    condition = self.need(node, "this", depth, agg)
    then = self.need(node, "true", depth, agg)
    otherwise = self.arg(node, "false", depth, agg)
    truth = self.guard(mysql.truth, node)

    def run(scope: Scope) -> Any:
        if truth(condition(scope)):
            return then(scope)
        return otherwise(scope) if otherwise is not None else None

    return run


def coalesce(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    self.only(node, "this", "expressions")
    options = (self.need(node, "this", depth, agg), *self.many(node.expressions, depth, agg))

    def run(scope: Scope) -> Any:
        for option in options:
            value = option(scope)
            if value is not None:
                return value
        return None

    return run


def nullif(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = self.need(node, "this", depth, agg)
    right = self.need(node, "expression", depth, agg)
    compare = self.guard(mysql.compare, node)

    def run(scope: Scope) -> Any:
        a = left(scope)
        return None if compare(a, right(scope), scope.ctx.zone) == 0 else a

    return run
