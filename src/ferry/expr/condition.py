"""``condition`` filters: which fetched records (and which of their child rows) are kept.

Owns :func:`compile_condition` and :class:`Verdict`. Shape: ``[[{field, logic, value}, ...], ...]``
-- clauses inside a group are ANDed, groups are ORed; an empty condition keeps everything.

Operators: ``eq`` (``eqv2`` is treated as ``eq``, an assumption), ``neq``, ``gt``, ``egt`` (>=),
``lt``, ``elt`` (<=), ``like``/``notlike`` (SQL LIKE when the value holds ``%``, otherwise
"contains"), ``between`` (``"a,b"`` inclusive), ``notnull``/``isnull`` (null = missing, None or
''). Comparison: numerically when both sides read as numbers, else as text. A value
``timestamp:1704067200`` (also inside ``between``) compares the field *as a point in time*
(date string, seconds or milliseconds) with those Unix seconds. Values may be templates
(``{{LAST_SYNC_TIME}}``).

Child rows: a clause whose path runs through a list (``details_list.qty``) is evaluated per
row: every group is evaluated once per row of that table with the row bound. Failing rows are
removed from the record; with ``strict_mode`` one failing row drops the whole record. A record
whose rows all fail is dropped. Outside a per-row evaluation (and for deeper tables) a path
through a list is true when *any* element satisfies the clause (``isnull`` is also true for an
empty list).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from ferry.expr.errors import ExprError, shown
from ferry.expr.interpolate import compile_text
from ferry.expr.like import like_matcher
from ferry.expr.limits import SHORT_TEXT, bounded, budget, total
from ferry.expr.mysql import check_digits
from ferry.expr.paths import MISSING, Scope, array_prefix, compile_path
from ferry.expr.variables import Context, to_datetime, to_text

OPERATORS = ("eq", "eqv2", "neq", "gt", "egt", "lt", "elt", "like", "notlike", "between", "notnull", "isnull")
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")
_TIMESTAMP = "timestamp:"
_DEFAULT_CONTEXT = Context()


class Verdict(NamedTuple):
    """The outcome for one record: the (possibly reduced) record, or None and why it was dropped."""

    record: dict[str, Any] | None
    reason: str | None
    removed_rows: int = 0


def _is_null(value: Any) -> bool:
    return value is None or value is MISSING or value == ""


def _number(value: Any) -> Decimal | None:
    """The exact number a value reads as, or None (text, NaN, bool...): NaN has no order."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return None if value.is_nan() else value
    if isinstance(value, float):
        return None if math.isnan(value) else Decimal(repr(value))
    if isinstance(value, str) and _NUMBER.match(value):
        if len(value) > 20:
            check_digits(value.strip(), value)
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - guarded by the regex
            return None
    return None


class _Operand:
    """A clause value: constant, template, or ``timestamp:N``."""

    def __init__(self, raw: Any, where: str) -> None:
        self.raw = raw
        self.timestamp: float | None = None
        self.render: Callable[[Scope], Any] | None = None
        if isinstance(raw, str) and raw.strip().startswith(_TIMESTAMP):
            number = _number(raw.strip()[len(_TIMESTAMP) :])
            if number is None or not -1e15 < number < 1e15:
                raise ExprError(f"{where}: {shown(raw)} needs Unix seconds after 'timestamp:'")
            self.timestamp = float(number)
        elif isinstance(raw, str) and "{" in raw:
            compiled = compile_text(raw)
            if not compiled.is_constant:
                self.render = compiled.render

    def value(self, scope: Scope) -> Any:
        if self.render is not None:
            value = self.render(scope)
            if type(value) is str and len(value) > SHORT_TEXT:
                budget().text(value, f"the value {shown(self.raw)}")
            return None if value is MISSING else value
        return self.raw


def _order(actual: Any, operand: _Operand, scope: Scope) -> int | None:
    """Sign of actual - operand, or None when they cannot be compared (NaN is not comparable)."""
    if _is_null(actual) or _is_nan(actual):
        return None
    if operand.timestamp is not None:
        moment = to_datetime(actual, scope.ctx.zone)
        if moment is None:
            return None
        seconds = moment.timestamp()
        return (seconds > operand.timestamp) - (seconds < operand.timestamp)
    wanted = operand.value(scope)
    if _is_null(wanted) or _is_nan(wanted):
        return None
    a, b = _number(actual), _number(wanted)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = to_text(actual), to_text(wanted)
    return (x > y) - (x < y)


def _is_nan(value: Any) -> bool:
    return (isinstance(value, float) and math.isnan(value)) or (isinstance(value, Decimal) and value.is_nan())


def _equal(actual: Any, operand: _Operand, scope: Scope) -> bool:
    if operand.timestamp is not None:
        return _order(actual, operand, scope) == 0
    wanted = operand.value(scope)
    if _is_null(actual) or _is_null(wanted):
        return _is_null(actual) and _is_null(wanted)
    if _is_nan(actual) or _is_nan(wanted):
        return False  # NaN equals nothing, itself included
    a, b = _number(actual), _number(wanted)
    if a is not None and b is not None:
        return a == b
    return to_text(actual) == to_text(wanted)


def _like(actual: Any, operand: _Operand, scope: Scope) -> bool:
    if _is_null(actual):
        return False
    pattern = to_text(operand.value(scope))
    subject = to_text(actual)
    if "%" in pattern:
        return like_matcher(pattern)(subject)
    return pattern in subject


@dataclass(frozen=True, slots=True)
class _Clause:
    field: str
    logic: str
    raw: Any
    get: Callable[[Scope], Any]
    test: Callable[[Any, Scope], bool]
    null_on_empty: bool
    what: str  # how a limit's message names the values

    def holds(self, scope: Scope) -> bool:
        actual = self.get(scope)
        if type(actual) is str:
            if len(actual) > SHORT_TEXT:
                budget().text(actual, f"value of {self.field}")
        elif isinstance(actual, list):
            if not actual:
                return self.null_on_empty
            budget().items(len(actual), self.what)
            return any(self.test(item, scope) for item in actual)
        return self.test(actual, scope)

    def describe(self, scope: Scope) -> str:
        actual = self.get(scope)
        was = "missing" if actual is MISSING else shown(actual)
        value = "" if self.logic in ("notnull", "isnull") else f" {shown(self.raw)}"
        return f"{self.field} {self.logic}{value} (was {was})"


def _compile_clause(spec: Mapping[str, Any], where: str) -> _Clause:
    field, logic = spec.get("field"), spec.get("logic")
    if not isinstance(field, str) or not field:
        raise ExprError(f"{where}: a clause needs a 'field'")
    if logic not in OPERATORS:
        raise ExprError(f"{where}: unknown logic {logic!r} (known: {', '.join(OPERATORS)})")
    raw = spec.get("value")
    test: Callable[[Any, Scope], bool]
    if logic in ("eq", "eqv2", "neq"):
        operand = _Operand(raw, where)
        negate = logic == "neq"

        def test(actual: Any, scope: Scope) -> bool:
            return bool(_equal(actual, operand, scope) != negate)

    elif logic in ("gt", "egt", "lt", "elt"):
        operand = _Operand(raw, where)
        accept = {"gt": (1,), "egt": (0, 1), "lt": (-1,), "elt": (-1, 0)}[logic]

        def test(actual: Any, scope: Scope) -> bool:
            return _order(actual, operand, scope) in accept

    elif logic in ("like", "notlike"):
        operand = _Operand(raw, where)
        negate = logic == "notlike"

        def test(actual: Any, scope: Scope) -> bool:
            return bool(_like(actual, operand, scope) != negate)

    elif logic == "between":
        bounds = raw if isinstance(raw, list | tuple) else str(raw or "").split(",")
        if len(bounds) != 2:
            raise ExprError(f'{where}: between needs two bounds, e.g. "1,10", got {raw!r}')
        low, high = (_Operand(b.strip() if isinstance(b, str) else b, where) for b in bounds)

        def test(actual: Any, scope: Scope) -> bool:
            a, b = _order(actual, low, scope), _order(actual, high, scope)
            return a is not None and b is not None and a >= 0 and b <= 0

    else:
        wants_null = logic == "isnull"

        def test(actual: Any, scope: Scope) -> bool:
            return bool(_is_null(actual) == wants_null)

    return _Clause(
        field, str(logic), raw, compile_path(field), test, logic == "isnull", f"the values of {field}"
    )


class Condition:
    """A compiled ``condition``; :meth:`apply` decides per record."""

    def __init__(self, groups: tuple[tuple[_Clause, ...], ...], strict_mode: bool) -> None:
        self.groups = groups
        self.strict_mode = strict_mode
        self.fields = tuple(dict.fromkeys(c.field for g in groups for c in g))

    def holds(self, scope: Scope) -> bool:
        """Whether the record (with any bound rows) satisfies the condition."""
        if not self.groups:
            return True
        return any(all(clause.holds(scope) for clause in group) for group in self.groups)

    def explain(self, scope: Scope) -> str:
        parts = []
        for index, group in enumerate(self.groups, 1):
            failing = next((c for c in group if not c.holds(scope)), None)
            if failing is not None:
                label = f"group {index}: " if len(self.groups) > 1 else ""
                parts.append(label + failing.describe(scope))
        return "condition not met: " + "; ".join(parts)

    def apply(self, record: Mapping[str, Any], ctx: Context | None = None) -> Verdict:
        """Keep, reduce or drop one record; raises only ``ExprError`` (a breached limit included)."""
        context = ctx or _DEFAULT_CONTEXT
        return bounded(context.limits, self._apply, record, context)

    def _apply(self, record: Mapping[str, Any], ctx: Context) -> Verdict:
        if not isinstance(record, Mapping):
            raise ExprError(f"a condition applies to a record (an object), got {type(record).__name__}")
        if not self.groups:
            return Verdict(dict(record), None)
        scope = Scope(record, ctx)
        tables = list(dict.fromkeys(p for f in self.fields if (p := array_prefix(record, f)) is not None))
        if not tables:
            if self.holds(scope):
                return Verdict(dict(record), None)
            return Verdict(None, self.explain(scope))
        out: dict[str, Any] = dict(record)
        removed = 0
        for table in tables:
            rows = compile_path(table)(scope)
            if not isinstance(rows, list):  # pragma: no cover - array_prefix found a list
                continue
            checks = budget()
            if len(rows) > checks.limits.max_items:
                checks.items(len(rows), f"{table} (rows)")
            kept = []
            for index, row in enumerate(rows):
                if index & 63 == 63:
                    checks.check_time()
                row_scope = scope.bind(table, row)
                if self.holds(row_scope):
                    kept.append(row)
                elif self.strict_mode:
                    return Verdict(
                        None, f"strictMode: row {index} of {table} failed; {self.explain(row_scope)}"
                    )
            if not rows:
                if not self.holds(scope):
                    return Verdict(None, f"{table} has no rows; {self.explain(scope)}")
                continue
            if not kept:
                return Verdict(
                    None,
                    f"all {len(rows)} rows of {table} failed; {self.explain(scope.bind(table, rows[0]))}",
                )
            if len(kept) != len(rows):
                removed += len(rows) - len(kept)
                out = _replace(out, table.split("."), kept)
        return Verdict(out, None, removed)


def _replace(obj: Mapping[str, Any], segs: list[str], value: Any) -> dict[str, Any]:
    copy = dict(obj)
    if len(segs) == 1:
        copy[segs[0]] = value
    else:
        inner = copy.get(segs[0])
        copy[segs[0]] = _replace(inner if isinstance(inner, Mapping) else {}, segs[1:], value)
    return copy


def compile_condition(groups: Sequence[Any] | None, *, strict_mode: bool = False) -> Condition:
    """Compile a ``condition`` list (``[[clause, ...], ...]``; a flat ``[clause, ...]`` is one group)."""
    return total(_compile_condition, groups, strict_mode)


def _compile_condition(groups: Sequence[Any] | None, strict_mode: bool) -> Condition:
    if groups is not None and (not isinstance(groups, Sequence) or isinstance(groups, str)):
        raise ExprError(f"a condition is a list of groups of clauses, got {type(groups).__name__}")
    if not groups:
        return Condition((), strict_mode)
    if all(isinstance(item, Mapping) for item in groups):
        groups = [groups]
    compiled = []
    for g, group in enumerate(groups):
        if not isinstance(group, Sequence) or isinstance(group, str):
            raise ExprError(f"condition[{g}] must be a list of clauses")
        clauses = []
        for c, clause in enumerate(group):
            if not isinstance(clause, Mapping):
                raise ExprError(f"condition[{g}][{c}] must be an object with field, logic and value")
            clauses.append(_compile_clause(clause, f"condition[{g}][{c}]"))
        compiled.append(tuple(clauses))
    return Condition(tuple(compiled), strict_mode)
