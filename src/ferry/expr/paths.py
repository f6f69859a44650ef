"""Field paths (``a.b.c``, ``details_list.goods_no``) and the scope a value is rendered in.

Owns: the ``MISSING`` sentinel, :class:`Scope` (record + bound child rows + context) and
:func:`compile_path`, which turns a dotted path into a resolver closure once so that rendering
a record does no string splitting.

Resolution rules, in order, at each level of a mapping:

1. a child-row binding for the path so far wins (inside an array field's row, or in a
   per-row condition, ``details_list`` *is* that row);
2. the next segment as a key;
3. the whole rest of the path as one literal key (Kingdee query results use keys such as
   ``FMaterialId.FNumber``);
4. a list met on the way is either indexed by a numeric segment (``rows.0.qty``) or mapped
   over, giving the list of the remaining path's values per element (``None`` where absent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ferry.expr.variables import Context


class _Missing:
    """A path that resolves to nothing (distinct from a present ``None``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


class Scope:
    """One rendering: the record, the child rows bound so far (absolute path -> row), the context."""

    __slots__ = ("ctx", "record", "rows")

    def __init__(self, record: Mapping[str, Any], ctx: Context, rows: dict[str, Any] | None = None) -> None:
        self.record = record
        self.ctx = ctx
        # None rather than {} so the hot path can skip binding checks with one test.
        self.rows = rows or None

    def bind(self, prefix: str, row: Any) -> Scope:
        """A scope in which the array at ``prefix`` stands for one of its rows."""
        rows = dict(self.rows) if self.rows else {}
        rows[prefix] = row
        return Scope(self.record, self.ctx, rows)


Resolver = Callable[[Scope], Any]


def compile_path(path: str, missing: Any = MISSING) -> Resolver:
    """A closure returning the value at ``path`` in a scope, or ``missing`` (default ``MISSING``)."""
    segs = tuple(path.split("."))
    if len(segs) == 1:
        key = segs[0]

        def get_one(scope: Scope) -> Any:
            rows = scope.rows
            if rows is not None and key in rows:
                return rows[key]
            record = scope.record
            if type(record) is dict or isinstance(record, Mapping):
                return record.get(key, missing)
            return missing

        return get_one

    prefixes = tuple(".".join(segs[: i + 1]) for i in range(len(segs)))
    rests = tuple(".".join(segs[i:]) for i in range(len(segs)))

    if len(segs) == 2:
        # The common child-row case (details_list.goods_no): a fast path for plain dicts,
        # falling back to the general walk for anything unusual.
        head, tail, whole = segs[0], segs[1], path

        def get_two(scope: Scope) -> Any:
            rows = scope.rows
            if rows is not None:
                row = rows.get(head, MISSING)
                if row is not MISSING and type(row) is dict:
                    value = row.get(tail, MISSING)
                    if value is not MISSING:
                        return value
                    value = walk(scope.record, segs, prefixes, rests, rows, 0)
                    return missing if value is MISSING else value
            record = scope.record
            if type(record) is dict:
                inner = record.get(head, MISSING)
                if type(inner) is dict:
                    value = inner.get(tail, MISSING)
                    if value is not MISSING:
                        return value
                elif type(inner) is list and not tail.isdigit():
                    # Unbound child table: the list of that column's values.
                    return [
                        el.get(tail) if type(el) is dict else _none(walk(el, segs, prefixes, rests, rows, 1))
                        for el in inner
                    ]
                elif inner is MISSING and whole not in record:
                    return missing
            value = walk(record, segs, prefixes, rests, rows, 0)
            return missing if value is MISSING else value

        return get_two

    def get(scope: Scope) -> Any:
        value = walk(scope.record, segs, prefixes, rests, scope.rows, 0)
        return missing if value is MISSING else value

    return get


def _none(value: Any) -> Any:
    return None if value is MISSING else value


def walk(
    obj: Any,
    segs: tuple[str, ...],
    prefixes: tuple[str, ...],
    rests: tuple[str, ...],
    rows: dict[str, Any] | None,
    start: int,
) -> Any:
    """Resolve ``segs[start:]`` from ``obj``; see the module docstring for the rules."""
    n = len(segs)
    i = start
    while i < n:
        if rows is not None:
            bound = rows.get(prefixes[i], MISSING)
            if bound is not MISSING:
                obj = bound
                i += 1
                continue
        if type(obj) is dict or isinstance(obj, Mapping):
            value = obj.get(segs[i], MISSING)
            if value is MISSING:
                if i < n - 1:
                    return obj.get(rests[i], MISSING)
                return MISSING
            obj = value
        elif isinstance(obj, list):
            seg = segs[i]
            if seg.isdigit():
                index = int(seg)
                if index >= len(obj):
                    return MISSING
                obj = obj[index]
            else:
                mapped = []
                for element in obj:
                    value = walk(element, segs, prefixes, rests, rows, i)
                    mapped.append(None if value is MISSING else value)
                return mapped
        else:
            return MISSING
        i += 1
    return obj


def resolve(obj: Any, path: str) -> Any:
    """One-off resolution of ``path`` in ``obj`` (no bindings); ``MISSING`` when absent."""
    segs = tuple(path.split("."))
    prefixes = tuple(".".join(segs[: i + 1]) for i in range(len(segs)))
    rests = tuple(".".join(segs[i:]) for i in range(len(segs)))
    return walk(obj, segs, prefixes, rests, None, 0)


def array_prefix(record: Any, path: str, rows: dict[str, Any] | None = None) -> str | None:
    """The shortest prefix of ``path`` that is an unbound list in ``record`` (the child table it reaches)."""
    segs = path.split(".")
    obj = record
    for i, seg in enumerate(segs[:-1]):
        prefix = ".".join(segs[: i + 1])
        if rows is not None and prefix in rows:
            obj = rows[prefix]
            continue
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(seg, MISSING)
        if isinstance(obj, list):
            return prefix
    return None
