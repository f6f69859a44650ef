"""``_function <expr>``: MySQL-flavoured expressions, parsed by sqlglot and compiled to closures.

Owns the syntax of ``_function``: scanning the text, binding every ``{{field}}``, quoted
``'{{field}}'``, ``{VAR}`` and ``_findCollection ... _endFind`` as a *parameter* (never splicing a
value into the expression text, so a value holding a quote stays a value), parsing once with
sqlglot's MySQL dialect, and compiling a whitelist of node types and functions into Python
closures. Value semantics (coercion, NULL, Decimal, dates, LIKE) live in :mod:`ferry.expr.mysql`.

Safety: nothing here can reach files, the network or Python objects: the only callables are
the ones in this module's tables. Work is bounded: the text length, parenthesis depth, AST node
count and depth, and every string result are capped, and LIKE cannot backtrack exponentially.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from ferry.expr import mysql
from ferry.expr.errors import ExprError
from ferry.expr.interpolate import compile_placeholder, compile_text
from ferry.expr.lookup import compile_find, parse_find
from ferry.expr.paths import MISSING, Scope, array_prefix, compile_path
from ferry.expr.variables import to_text

MAX_EXPRESSION_CHARS = 10_000
MAX_PAREN_DEPTH = 32
MAX_NODES = 2_000
MAX_DEPTH = 150

Fn = Callable[[Scope], Any]

_PREFIX = "SELECT "
_SINGLE_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\s*\|\s*[A-Za-z_]+)*)\}")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


@dataclass(frozen=True, slots=True)
class _Param:
    resolve: Fn
    position: int  # offset in the full text
    source: str
    fields: tuple[str, ...]


class _OffsetMap:
    """Maps offsets in the rewritten SQL text back to offsets in the user's text."""

    def __init__(self) -> None:
        self.sql_starts: list[int] = []
        self.orig_starts: list[int] = []
        self.copied: list[bool] = []

    def add(self, sql_start: int, orig_start: int, copied: bool) -> None:
        self.sql_starts.append(sql_start)
        self.orig_starts.append(orig_start)
        self.copied.append(copied)

    def original(self, sql_pos: int) -> int:
        k = bisect.bisect_right(self.sql_starts, sql_pos) - 1
        if k < 0:
            return self.orig_starts[0] if self.orig_starts else 0
        if self.copied[k]:
            return self.orig_starts[k] + (sql_pos - self.sql_starts[k])
        return self.orig_starts[k]


@dataclass(frozen=True, slots=True)
class CompiledFunction:
    """A compiled ``_function``. ``evaluate`` returns a JSON-friendly value (see ``result_value``)."""

    text: str  # the whole template text, ``_function`` included
    start: int  # where the expression begins in ``text``
    fields: tuple[str, ...]
    evaluate: Fn


# ----------------------------------------------------------------------------- scanning


def _scan(full: str, start: int) -> tuple[str, list[_Param], _OffsetMap]:
    """Rewrite the expression with ``:pN`` parameters; comments become blanks."""
    out: list[str] = []
    params: list[_Param] = []
    omap = _OffsetMap()
    n = len(full)
    i = start
    copy_from = start
    sql_len = 0
    depth = 0

    def flush(upto: int) -> None:
        nonlocal copy_from, sql_len
        if upto > copy_from:
            chunk = full[copy_from:upto]
            omap.add(sql_len, copy_from, True)
            out.append(chunk)
            sql_len += len(chunk)
        copy_from = upto

    def emit(param: _Param, orig_end: int) -> None:
        nonlocal copy_from, sql_len
        flush(param.position)
        name = f" :p{len(params)} "
        omap.add(sql_len, param.position, False)
        out.append(name)
        sql_len += len(name)
        params.append(param)
        copy_from = orig_end

    def blank(orig_end: int) -> None:
        nonlocal copy_from, sql_len
        chunk = "".join("\n" if c == "\n" else " " for c in full[copy_from:orig_end])
        omap.add(sql_len, copy_from, True)
        out.append(chunk)
        sql_len += len(chunk)
        copy_from = orig_end

    while i < n:
        ch = full[i]
        if ch in "'\"":
            end, content = _scan_string(full, i)
            param = _string_param(full, i, end, content)
            if param is not None:
                emit(param, end)
            i = end
            continue
        if ch == "`":
            close = full.find("`", i + 1)
            i = n if close < 0 else close + 1
            continue
        if full.startswith("{{", i):
            close = full.find("}}", i + 2)
            if close < 0:
                raise ExprError("unclosed '{{': every {{ needs a matching }}", text=full, position=i)
            source = full[i : close + 2]
            holder = compile_placeholder(
                full[i + 2 : close], single_brace=False, source=source, start=i, text=full
            )
            fields: tuple[str, ...] = () if holder.is_variable else (holder.name,)
            emit(_Param(holder.resolve, i, source, fields), close + 2)
            i = close + 2
            continue
        if ch == "{":
            match = _SINGLE_VAR.match(full, i)
            if match:
                holder = compile_placeholder(
                    match.group(1), single_brace=True, source=match.group(0), start=i, text=full
                )
                emit(_Param(holder.resolve, i, match.group(0), ()), match.end())
                i = match.end()
                continue
        if full.startswith("_findCollection", i) and (i == 0 or not _IDENT_CHAR.match(full[i - 1])):
            close = full.find("_endFind", i)
            if close < 0:
                raise ExprError(
                    "_findCollection inside _function must end with _endFind", text=full, position=i
                )
            spec = parse_find(full[i:close].rstrip(), full_text=full, offset=i)
            fields = tuple(p.name for _, v in spec.where for p in v.placeholders if not p.is_variable)
            emit(_Param(compile_find(spec, text=full, position=i), i, full[i:close], fields), close + 8)
            i = close + len("_endFind")
            continue
        if ch == "#" or (full.startswith("--", i) and (i + 2 >= n or full[i + 2].isspace())):
            flush(i)
            newline = full.find("\n", i)
            i = n if newline < 0 else newline
            blank(i)
            continue
        if full.startswith("/*", i):
            flush(i)
            close = full.find("*/", i + 2)
            if close < 0:
                raise ExprError("unclosed comment '/*'", text=full, position=i)
            i = close + 2
            blank(i)
            continue
        if ch in ":?@":
            raise ExprError(
                f"unexpected {ch!r}: variables and assignments are not allowed; write fields as {{{{field}}}}",
                text=full,
                position=i,
            )
        if ch == "(":
            depth += 1
            if depth > MAX_PAREN_DEPTH:
                raise ExprError(
                    f"expression nested too deeply (more than {MAX_PAREN_DEPTH} parentheses)",
                    text=full,
                    position=i,
                )
        elif ch == ")":
            depth -= 1
        i += 1
    flush(n)
    return "".join(out), params, omap


def _scan_string(full: str, start: int) -> tuple[int, str]:
    """End offset (after the closing quote) and unescaped content of a MySQL string literal."""
    quote = full[start]
    i = start + 1
    n = len(full)
    content: list[str] = []
    while i < n:
        ch = full[i]
        if ch == "\\" and i + 1 < n:
            nxt = full[i + 1]
            content.append(_ESCAPES.get(nxt, nxt if nxt not in "%_" else "\\" + nxt))
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and full[i + 1] == quote:
                content.append(quote)
                i += 2
                continue
            return i + 1, "".join(content)
        content.append(ch)
        i += 1
    raise ExprError(f"unterminated string: missing closing {quote}", text=full, position=start)


def _string_param(full: str, start: int, end: int, content: str) -> _Param | None:
    """A quoted ``'{{x}}'``/``'a-{{x}}'`` becomes a text parameter; a quoted _findCollection a lookup."""
    if content.lstrip().startswith("_findCollection"):
        body = content.strip()
        if body.endswith("_endFind"):
            body = body[: -len("_endFind")].rstrip()
        spec = parse_find(body, full_text=full, offset=start + 1)
        fields = tuple(p.name for _, v in spec.where for p in v.placeholders if not p.is_variable)
        return _Param(compile_find(spec, text=full, position=start), start, full[start:end], fields)
    if "{" not in content:
        return None
    try:
        compiled = compile_text(content)
    except ExprError as exc:
        raise exc.with_text(full, start + 1) from None
    if compiled.is_constant:
        return None
    render = compiled.render

    def as_text(scope: Scope) -> Any:
        # Quoting makes a string in Qingyi: the value is always text, missing is ''.
        value = render(scope)
        return to_text(value)

    fields = tuple(p.name for p in compiled.placeholders if not p.is_variable)
    return _Param(as_text, start, full[start:end], fields)


# ----------------------------------------------------------------------------- parsing


def compile_function(full: str, start: int) -> CompiledFunction:
    """Compile the expression ``full[start:]`` (``full`` is the whole template text)."""
    if len(full) - start > MAX_EXPRESSION_CHARS:
        raise ExprError(
            f"expression longer than {MAX_EXPRESSION_CHARS} characters", text=full, position=start
        )
    if not full[start:].strip():
        raise ExprError("empty _function: write an expression after '_function '", text=full, position=start)
    sql, params, omap = _scan(full, start)
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
    compiler = _Compiler(full, start, params, original)
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


# ----------------------------------------------------------------------------- compiling


def _anchor(exc: ExprError, full: str, position: int) -> ExprError:
    """Give a position-less value error the position of the node that raised it."""
    if exc.text is None:
        return ExprError(exc.message, text=full, position=position)
    return exc


def _exact(value: float) -> Any:
    if not math.isfinite(value):
        return None
    return mysql.py_number(value)


def _flatten(values: Any, out: list[Any]) -> list[Any]:
    if type(values) is list and not out and not any(type(v) is list for v in values):
        return list(values)  # the usual flat column of a child table
    if isinstance(values, list):
        for value in values:
            _flatten(value, out)
    elif values is not MISSING:
        out.append(values)
    return out


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


@functools.lru_cache(maxsize=256)
def _path(prefix: str) -> Fn:
    return compile_path(prefix)


class _Compiler:
    def __init__(
        self, full: str, start: int, params: Sequence[_Param], original: Callable[[int], int]
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
        if isinstance(node, exp.Anonymous):
            return str(node.name).upper()
        return node.key.upper()

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
            except ExprError as exc:
                if exc.text is None:
                    raise ExprError(exc.message, text=full, position=position) from None
                raise

        return guarded

    # -- dispatch ------------------------------------------------------------------------

    def compile(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"expression too large (more than {MAX_NODES} syntax nodes)", node)
        if depth > MAX_DEPTH:
            raise self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels)", node)
        handler = _HANDLERS.get(type(node))
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
        if isinstance(node, exp.Func):
            return self.error(f"function {self.name(node)} is not supported", node)
        return self.error(f"unsupported syntax ({type(node).__name__})", node)

    # -- leaves --------------------------------------------------------------------------

    def literal(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        assert isinstance(node, exp.Literal)
        raw = str(node.this)
        value: Any
        if node.is_string:
            value = raw
        elif "e" in raw.lower():
            value = float(raw)
            if not math.isfinite(value):
                raise self.error("number out of range", node)
        elif "." in raw:
            value = mysql.DEC.create_decimal(raw)
        else:
            try:
                value = mysql.bound_int(int(raw))
            except ExprError as exc:
                raise self.error(exc.message, node) from None
        return lambda scope: value

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
        if agg:

            def value_in_aggregate(scope: Scope) -> Any:
                value = resolve(scope)
                if value is MISSING:
                    return None
                return _exact(value) if isinstance(value, float) else value

            return value_in_aggregate
        full, position, source = self.full, param.position, param.source

        def value(scope: Scope) -> Any:
            value = resolve(scope)
            if value is MISSING:
                return None
            if isinstance(value, float):
                # A JSON number such as 0.1 is meant as written: compute with it exactly.
                return _exact(value)
            if isinstance(value, list):
                raise ExprError(
                    f"{source} is a list (one value per child row): use it inside SUM/AVG/MAX/MIN/COUNT, "
                    "or in a field of that array",
                    text=full,
                    position=position,
                )
            return value

        return value

    def paren(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        return self.compile(node.this, depth + 1, agg)

    # -- operators -----------------------------------------------------------------------

    @staticmethod
    def unary(op: Callable[[Any], Any]) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
            inner = self.need(node, "this", depth, agg)
            full, position = self.full, self.pos(node)

            def run(scope: Scope) -> Any:
                try:
                    return op(inner(scope))
                except ExprError as exc:
                    raise _anchor(exc, full, position) from None

            return run

        return build

    @staticmethod
    def binary(op: Callable[[Any, Any], Any]) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
            left = self.need(node, "this", depth, agg)
            right = self.need(node, "expression", depth, agg)
            full, position = self.full, self.pos(node)

            def run(scope: Scope) -> Any:
                try:
                    return op(left(scope), right(scope))
                except ExprError as exc:
                    raise _anchor(exc, full, position) from None

            return run

        return build

    @staticmethod
    def comparison(test: Callable[[int], bool]) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
            left = self.need(node, "this", depth, agg)
            right = self.need(node, "expression", depth, agg)
            full, position = self.full, self.pos(node)
            compare = mysql.compare

            def run(scope: Scope) -> Any:
                try:
                    result = compare(left(scope), right(scope), scope.ctx.zone)
                except ExprError as exc:
                    raise _anchor(exc, full, position) from None
                return None if result is None else int(test(result))

            return run

        return build

    def null_safe_eq(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        left = self.need(node, "this", depth, agg)
        right = self.need(node, "expression", depth, agg)
        compare = self.guard(mysql.compare, node)

        def run(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            if a is None or b is None:
                return int(a is None and b is None)
            return int(compare(a, b, scope.ctx.zone) == 0)

        return run

    def not_(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        inner = self.need(node, "this", depth, agg)
        truth = self.guard(mysql.truth, node)

        def run(scope: Scope) -> Any:
            value = truth(inner(scope))
            return None if value is None else int(not value)

        return run

    def and_(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

    def or_(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

    def xor(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        left = self.need(node, "this", depth, agg)
        right = self.need(node, "expression", depth, agg)
        truth = self.guard(mysql.truth, node)

        def run(scope: Scope) -> Any:
            a, b = truth(left(scope)), truth(right(scope))
            return None if a is None or b is None else int(a != b)

        return run

    def is_(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

    def in_(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

    def between(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

    def like(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, "this", "expression")
        inner = self.need(node, "this", depth, agg)
        negate = bool(node.args.get("negate"))
        pattern_node = node.expression
        text = self.guard(mysql.text, node)
        if isinstance(pattern_node, exp.Literal) and pattern_node.is_string:
            matcher = mysql.like_matcher(str(pattern_node.this))

            def run_static(scope: Scope) -> Any:
                subject = text(inner(scope))
                return None if subject is None else int(matcher(subject) != negate)

            return run_static
        pattern = self.need(node, "expression", depth, agg)

        def run(scope: Scope) -> Any:
            subject, wanted = text(inner(scope)), text(pattern(scope))
            if subject is None or wanted is None:
                return None
            return int(mysql.like_matcher(wanted)(subject) != negate)

        return run

    # -- control flow --------------------------------------------------------------------

    def case(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

        return simple

    def if_(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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

    def coalesce(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, "this", "expressions")
        options = (self.need(node, "this", depth, agg), *self.many(node.expressions, depth, agg))

        def run(scope: Scope) -> Any:
            for option in options:
                value = option(scope)
                if value is not None:
                    return value
            return None

        return run

    def nullif(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        left = self.need(node, "this", depth, agg)
        right = self.need(node, "expression", depth, agg)
        compare = self.guard(mysql.compare, node)

        def run(scope: Scope) -> Any:
            a = left(scope)
            return None if compare(a, right(scope), scope.ctx.zone) == 0 else a

        return run

    # -- functions with plain arguments -------------------------------------------------

    @staticmethod
    def function(
        keys: tuple[str, ...], impl: Callable[..., Any], *, required: int | None = None
    ) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        """A function of named sqlglot arguments; ``impl`` gets values (None for absent optional)."""
        needed = len(keys) if required is None else required

        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
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
                    except ExprError as exc:
                        raise _anchor(exc, full, position) from None

                return run_one
            if all(a is not None for a in args) and len(args) == 2:
                a0, a1 = args
                assert a0 is not None and a1 is not None

                def run_two(scope: Scope) -> Any:
                    try:
                        return impl(a0(scope), a1(scope))
                    except ExprError as exc:
                        raise _anchor(exc, full, position) from None

                return run_two
            frozen = tuple(args)

            def run_many(scope: Scope) -> Any:
                try:
                    return impl(*(None if a is None else a(scope) for a in frozen))
                except ExprError as exc:
                    raise _anchor(exc, full, position) from None

            return run_many

        return build

    @staticmethod
    def variadic(impl: Callable[[list[Any]], Any]) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
            self.only(node, "this", "expressions")
            first = [node.this] if isinstance(node.args.get("this"), exp.Expression) else []
            args = self.many([*first, *node.expressions], depth, agg)
            call = self.guard(impl, node)
            return lambda scope: call([a(scope) for a in args])

        return build

    @staticmethod
    def scoped(
        keys: tuple[str, ...], impl: Callable[..., Any], *, required: int = 0
    ) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        """Like ``function`` but ``impl`` also receives the scope (for time zone and clock)."""

        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
            self.only(node, *keys)
            args = tuple(
                self.need(node, key, depth, agg) if index < required else self.arg(node, key, depth, agg)
                for index, key in enumerate(keys)
            )
            call = self.guard(impl, node)
            return lambda scope: call(scope, *(None if a is None else a(scope) for a in args))

        return build

    def anonymous(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        name = self.name(node)
        builder = _ANONYMOUS.get(name)
        if builder is None:
            raise self.error(f"unknown function {name}", node)
        args = self.many(node.expressions, depth, agg)
        low, high = builder[0], builder[1]
        if not low <= len(args) <= high:
            raise self.error(f"{name} takes {low}..{high} arguments, got {len(args)}", node)
        call = self.guard(builder[2], node)
        return lambda scope: call(scope, *(a(scope) for a in args))

    def time_to_str(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, "this", "format")
        moment = self.need(node, "this", depth, agg)
        fmt_node = node.args.get("format")
        fmt_static = str(fmt_node.this) if isinstance(fmt_node, exp.Literal) and fmt_node.is_string else None
        fmt_fn = None if fmt_static is not None else self.need(node, "format", depth, agg)
        call = self.guard(_date_format, node)

        def run(scope: Scope) -> Any:
            if fmt_static is not None:
                return call(moment(scope), fmt_static, scope)
            assert fmt_fn is not None
            raw = mysql.text(fmt_fn(scope))
            return call(moment(scope), None if raw is None else mysql.normalise_mysql_format(raw), scope)

        return run

    def from_unixtime(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
        self.only(node, "this", "format")
        seconds = self.need(node, "this", depth, agg)
        fmt_node = node.args.get("format")
        fmt_static = str(fmt_node.this) if isinstance(fmt_node, exp.Literal) and fmt_node.is_string else None
        fmt_fn = None if fmt_node is None or fmt_static is not None else self.need(node, "format", depth, agg)
        call = self.guard(mysql.from_unixtime, node)

        def run(scope: Scope) -> Any:
            moment = call(seconds(scope), scope.ctx.zone)
            if fmt_node is None or moment is None:
                return moment
            if fmt_static is not None:
                return mysql.format_datetime(moment, fmt_static)
            assert fmt_fn is not None
            raw = mysql.text(fmt_fn(scope))
            return None if raw is None else mysql.format_datetime(moment, mysql.normalise_mysql_format(raw))

        return run

    def cast(self, node: exp.Expression, depth: int, agg: bool) -> Fn:
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
                return _cast_int(value)

        elif kind is T.DECIMAL:
            scale = int(str(params[1].this)) if len(params) > 1 and isinstance(params[1], exp.Literal) else 0

            def impl(value: Any, scope: Scope) -> Any:
                return _round(value, scale)

        elif kind is T.DATE:

            def impl(value: Any, scope: Scope) -> Any:
                moment = mysql.to_datetime(value, scope.ctx.zone)
                return None if moment is None else moment.date()

        elif kind is T.DATETIME:

            def impl(value: Any, scope: Scope) -> Any:
                return mysql.to_datetime(value, scope.ctx.zone)

        else:
            raise self.error(f"CAST to {to.sql(dialect='mysql')} is not supported", node)
        call = self.guard(impl, node)
        return lambda scope: call(inner(scope), scope)

    # -- aggregates over child rows -------------------------------------------------------

    @staticmethod
    def aggregate(
        combine: Callable[[list[Any]], Any],
    ) -> Callable[[_Compiler, exp.Expression, int, bool], Fn]:
        def build(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
            self.only(node, "this")
            argument = node.args.get("this")
            if not isinstance(argument, exp.Expression) or isinstance(argument, exp.Star):
                raise self.error(
                    f"{self.name(node)} needs a child-row field, e.g. {self.name(node)}({{{{details_list.qty}}}})",
                    node,
                )
            inner = self.compile(argument, depth + 1, True)
            call = self.guard(combine, node)
            if isinstance(argument, exp.Placeholder):
                return lambda scope: call(_flatten(inner(scope), []))
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
                        rows = _path(prefix)(scope)
                        values: list[Any] = []
                        for row in rows if isinstance(rows, list) else ():
                            _flatten(inner(scope.bind(prefix, row)), values)
                        return call(values)
                return call(_flatten(inner(scope), []))

            return per_row

        return build


# ----------------------------------------------------------------------------- implementations


def _str_args(*values: Any) -> list[str] | None:
    out = []
    for value in values:
        text = mysql.text(value)
        if text is None:
            return None
        out.append(text)
    return out


def _left(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    text, count = mysql.text(s), mysql.as_int(n)
    assert text is not None and count is not None
    return text[:count] if count > 0 else ""


def _right(s: Any, n: Any) -> Any:
    if s is None or n is None:
        return None
    text, count = mysql.text(s), mysql.as_int(n)
    assert text is not None and count is not None
    return text[-count:] if count > 0 else ""


def _substring(s: Any, pos: Any, length: Any = None) -> Any:
    if s is None or pos is None:
        return None
    text, start = mysql.text(s), mysql.as_int(pos)
    assert text is not None and start is not None
    if start == 0 or abs(start) > len(text):
        return ""
    begin = start - 1 if start > 0 else len(text) + start
    if length is None:
        return text[begin:]
    count = mysql.as_int(length)
    if count is None:
        return None
    return text[begin : begin + count] if count > 0 else ""


def _concat(values: list[Any]) -> Any:
    parts = _str_args(*values)
    return None if parts is None else mysql.cap("".join(parts))


def _concat_ws(values: list[Any]) -> Any:
    separator = mysql.text(values[0]) if values else None
    if separator is None:
        return None
    parts = [mysql.text(v) for v in values[1:] if v is not None]
    return mysql.cap(separator.join(p for p in parts if p is not None))


def _locate(haystack: Any, needle: Any, position: Any = None) -> Any:
    # sqlglot's StrPosition: this = the string searched, substr = what is looked for.
    args = _str_args(haystack, needle)
    if args is None:
        return None
    text, sub = args
    start = 1 if position is None else mysql.as_int(position)
    if start is None:
        return None
    if start < 1:
        return 0
    return text.find(sub, start - 1) + 1


def _replace(s: Any, old: Any, new: Any = None) -> Any:
    args = _str_args(s, old, "" if new is None else new)
    if args is None:
        return None
    text, before, after = args
    if not before:
        return text
    growth = text.count(before) * (len(after) - len(before))
    if len(text) + growth > mysql.MAX_STRING:
        raise mysql.ValueTooLarge(f"string result longer than {mysql.MAX_STRING} characters")
    return text.replace(before, after)


def _length_bytes(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else len(text.encode("utf-8"))


def _length_chars(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else len(text)


def _upper(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else text.upper()


def _lower(s: Any) -> Any:
    text = mysql.text(s)
    return None if text is None else text.lower()


def _trim(position: str | None) -> Callable[[Any, Any], Any]:
    def trim(s: Any, remove: Any = None) -> Any:
        text = mysql.text(s)
        strip = " " if remove is None else mysql.text(remove)
        if text is None or strip is None:
            return None
        if not strip:
            return text
        if position in (None, "BOTH", "LEADING"):
            while text.startswith(strip):
                text = text[len(strip) :]
        if position in (None, "BOTH", "TRAILING"):
            while text.endswith(strip):
                text = text[: -len(strip)]
        return text

    return trim


def _pad(left: bool) -> Callable[[Any, Any, Any], Any]:
    def pad(s: Any, length: Any, fill: Any = None) -> Any:
        text, width = mysql.text(s), mysql.as_int(length)
        filler = " " if fill is None else mysql.text(fill)
        if text is None or width is None or filler is None or width < 0:
            return None
        if width > mysql.MAX_STRING:
            raise mysql.ValueTooLarge(f"string result longer than {mysql.MAX_STRING} characters")
        if width <= len(text):
            return text[:width]
        if not filler:
            return None
        needed = width - len(text)
        padding = (filler * (needed // len(filler) + 1))[:needed]
        return padding + text if left else text + padding

    return pad


def _repeat(s: Any, times: Any) -> Any:
    text, count = mysql.text(s), mysql.as_int(times)
    if text is None or count is None:
        return None
    if count <= 0:
        return ""
    if len(text) * count > mysql.MAX_STRING:
        raise mysql.ValueTooLarge(f"string result longer than {mysql.MAX_STRING} characters")
    return text * count


def _substring_index(s: Any, delimiter: Any, count: Any) -> Any:
    args = _str_args(s, delimiter)
    n = mysql.as_int(count)
    if args is None or n is None:
        return None
    text, delim = args
    if not delim or n == 0:
        return ""
    parts = text.split(delim)
    return delim.join(parts[:n]) if n > 0 else delim.join(parts[n:])


def _round(value: Any, places: Any = None, mode: str = ROUND_HALF_UP) -> Any:
    number = mysql.num(value)
    digits = 0 if places is None else mysql.as_int(places)
    if number is None or digits is None:
        return None
    digits = max(min(digits, 30), -70)
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    try:
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=mode, context=mysql.DEC)
    except ArithmeticError:
        raise mysql.ValueTooLarge("numeric value out of range") from None
    if isinstance(number, float):
        return float(rounded)
    if isinstance(number, int) or digits <= 0:
        return mysql.bound_int(int(rounded))
    return rounded


def _truncate(value: Any, places: Any) -> Any:
    return _round(value, places, ROUND_DOWN)


def _abs(value: Any) -> Any:
    number = mysql.num(value)
    return None if number is None else abs(number)


def _ceil(value: Any) -> Any:
    number = mysql.num(value)
    if number is None:
        return None
    return mysql.bound_int(math.ceil(number))


def _floor(value: Any) -> Any:
    number = mysql.num(value)
    if number is None:
        return None
    return mysql.bound_int(math.floor(number))


def _pow(base: Any, exponent: Any) -> Any:
    a, b = mysql.num(base), mysql.num(exponent)
    if a is None or b is None:
        return None
    try:
        result = math.pow(float(a), float(b))
    except (OverflowError, ValueError):
        raise mysql.ValueTooLarge("numeric value out of range in POW") from None
    if not math.isfinite(result):
        raise mysql.ValueTooLarge("numeric value out of range in POW")
    return result


def _cast_int(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        number = mysql.num(value)
        assert number is not None
        return mysql.bound_int(int(number))  # strings truncate, as in MySQL
    return mysql.as_int(value)


def _extreme(pick_max: bool) -> Callable[[list[Any]], Any]:
    def pick(values: list[Any]) -> Any:
        if any(v is None for v in values):
            return None
        best = values[0]
        from datetime import UTC

        for value in values[1:]:
            order = mysql.compare(value, best, UTC)
            if order is not None and (order > 0 if pick_max else order < 0):
                best = value
        return best

    return pick


def _date_format(value: Any, fmt: str | None, scope: Scope) -> Any:
    moment = mysql.to_datetime(value, scope.ctx.zone)
    if moment is None or fmt is None:
        return None
    return mysql.format_datetime(moment, fmt)


def _to_date(scope: Scope, value: Any) -> Any:
    moment = mysql.to_datetime(value, scope.ctx.zone)
    return None if moment is None else moment.date()


def _to_datetime(scope: Scope, value: Any) -> Any:
    return mysql.to_datetime(value, scope.ctx.zone)


def _now(scope: Scope, *args: Any) -> Any:
    return scope.ctx.current_time().replace(tzinfo=None, microsecond=0)


def _curdate(scope: Scope) -> Any:
    return scope.ctx.current_time().date()


def _unix_timestamp(scope: Scope, value: Any = MISSING) -> Any:
    if value is MISSING:
        return int(scope.ctx.current_time().timestamp())
    moment = mysql.to_datetime(value, scope.ctx.zone)
    return None if moment is None else mysql.unix_timestamp(moment, scope.ctx.zone)


def _agg_sum(values: list[Any]) -> Any:
    total: Any = None
    for value in values:
        if value is None:
            continue
        number = mysql.py_number(value)
        if total is None:
            total = number
        elif type(total) is type(number) is Decimal:
            total = mysql.DEC.add(total, number)  # the common money case, without re-coercion
        else:
            total = mysql.add(total, number)
    return total


def _agg_avg(values: list[Any]) -> Any:
    present = [mysql.py_number(v) for v in values if v is not None]
    if not present:
        return None
    return mysql.div(_agg_sum(present), len(present))


def _agg_extreme(pick_max: bool) -> Callable[[list[Any]], Any]:
    pick = _extreme(pick_max)

    def run(values: list[Any]) -> Any:
        present = [mysql.py_number(v) if isinstance(v, float) else v for v in values if v is not None]
        return pick(present) if present else None

    return run


def _agg_count(values: list[Any]) -> Any:
    return sum(1 for v in values if v is not None)


# name -> (min args, max args, implementation(scope, *args))
_ANONYMOUS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "NOW": (0, 1, _now),
    "SYSDATE": (0, 1, _now),
    "UNIX_TIMESTAMP": (0, 1, _unix_timestamp),
}

_C = _Compiler
_HANDLERS: dict[type[exp.Expression], Callable[[_Compiler, exp.Expression, int, bool], Fn]] = {
    exp.Literal: _C.literal,
    exp.Null: _C.null,
    exp.Boolean: _C.boolean,
    exp.Placeholder: _C.placeholder,
    exp.Paren: _C.paren,
    exp.Neg: _C.unary(mysql.neg),
    exp.Not: _C.not_,
    exp.And: _C.and_,
    exp.Or: _C.or_,
    exp.Xor: _C.xor,
    exp.Add: _C.binary(mysql.add),
    exp.Sub: _C.binary(mysql.sub),
    exp.Mul: _C.binary(mysql.mul),
    exp.Div: _C.binary(mysql.div),
    exp.IntDiv: _C.binary(mysql.intdiv),
    exp.Mod: _C.binary(mysql.mod),
    exp.EQ: _C.comparison(lambda c: c == 0),
    exp.NEQ: _C.comparison(lambda c: c != 0),
    exp.GT: _C.comparison(lambda c: c > 0),
    exp.GTE: _C.comparison(lambda c: c >= 0),
    exp.LT: _C.comparison(lambda c: c < 0),
    exp.LTE: _C.comparison(lambda c: c <= 0),
    exp.NullSafeEQ: _C.null_safe_eq,
    exp.Is: _C.is_,
    exp.In: _C.in_,
    exp.Between: _C.between,
    exp.Like: _C.like,
    exp.Case: _C.case,
    exp.If: _C.if_,
    exp.Coalesce: _C.coalesce,
    exp.Nullif: _C.nullif,
    exp.Left: _C.function(("this", "expression"), _left),
    exp.Right: _C.function(("this", "expression"), _right),
    exp.Substring: _C.function(("this", "start", "length"), _substring, required=2),
    exp.Concat: _C.variadic(_concat),
    exp.ConcatWs: _C.variadic(_concat_ws),
    exp.StrPosition: _C.function(("this", "substr", "position"), _locate, required=2),
    exp.Replace: _C.function(("this", "expression", "replacement"), _replace, required=2),
    exp.Upper: _C.function(("this",), _upper),
    exp.Lower: _C.function(("this",), _lower),
    exp.Pad: _C.function(("this", "expression", "fill_pattern"), _pad(True), required=2),
    exp.Repeat: _C.function(("this", "times"), _repeat),
    exp.SubstringIndex: _C.function(("this", "delimiter", "count"), _substring_index),
    exp.Round: _C.function(("this", "decimals"), _round, required=1),
    exp.Trunc: _C.function(("this", "decimals"), _truncate),
    exp.Abs: _C.function(("this",), _abs),
    exp.Ceil: _C.function(("this",), _ceil),
    exp.Floor: _C.function(("this",), _floor),
    exp.Pow: _C.function(("this", "expression"), _pow),
    exp.Greatest: _C.variadic(_extreme(True)),
    exp.Least: _C.variadic(_extreme(False)),
    exp.UnixToTime: _C.from_unixtime,
    exp.TimeToStr: _C.time_to_str,
    exp.TsOrDsToTimestamp: _C.scoped(("this",), _to_datetime, required=1),
    exp.TsOrDsToDate: _C.scoped(("this",), _to_date, required=1),
    exp.CurrentTimestamp: _C.scoped((), _now),
    exp.CurrentDate: _C.scoped((), _curdate),
    exp.Anonymous: _C.anonymous,
    exp.Cast: _C.cast,
    exp.Sum: _C.aggregate(_agg_sum),
    exp.Avg: _C.aggregate(_agg_avg),
    exp.Max: _C.aggregate(_agg_extreme(True)),
    exp.Min: _C.aggregate(_agg_extreme(False)),
    exp.Count: _C.aggregate(_agg_count),
}


def _length(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    impl = _length_bytes if node.args.get("binary") else _length_chars
    return _C.function(("this",), impl)(self, node, depth, agg)


def _trim_handler(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    position = node.args.get("position")
    position_name = str(position).upper() if position else None
    return _C.function(("this", "expression"), _trim(position_name), required=1)(self, node, depth, agg)


def _pad_handler(self: _Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = bool(node.args.get("is_left"))
    return _C.function(("this", "expression", "fill_pattern"), _pad(left), required=2)(self, node, depth, agg)


_HANDLERS[exp.Length] = _length
_HANDLERS[exp.Trim] = _trim_handler
_HANDLERS[exp.Pad] = _pad_handler

#: Function names accepted inside ``_function`` (for docs and error messages).
SUPPORTED_FUNCTIONS = [
    "ABS",
    "AVG",
    "CASE",
    "CAST",
    "CEIL",
    "CEILING",
    "CHAR_LENGTH",
    "COALESCE",
    "CONCAT",
    "CONCAT_WS",
    "COUNT",
    "CURDATE",
    "CURRENT_DATE",
    "CURRENT_TIMESTAMP",
    "DATE",
    "DATE_FORMAT",
    "FLOOR",
    "FROM_UNIXTIME",
    "GREATEST",
    "IF",
    "IFNULL",
    "INSTR",
    "LCASE",
    "LEAST",
    "LEFT",
    "LENGTH",
    "LOCATE",
    "LOWER",
    "LPAD",
    "LTRIM",
    "MAX",
    "MIN",
    "MOD",
    "NOW",
    "NULLIF",
    "POW",
    "POWER",
    "REPEAT",
    "REPLACE",
    "RIGHT",
    "ROUND",
    "RPAD",
    "RTRIM",
    "SUBSTR",
    "SUBSTRING",
    "SUBSTRING_INDEX",
    "SUM",
    "SYSDATE",
    "TRIM",
    "TRUNCATE",
    "UCASE",
    "UNIX_TIMESTAMP",
    "UPPER",
]
