"""The request builder: scheme field lists -> the request body for one record.

Owns :class:`FieldNode`, :func:`field_nodes` (from Qingyi ``request`` items, nested with
``children`` or flat with ``parent``), :func:`compile_request` and :func:`build_request`.

Per field, in this order: render ``value`` (a template) -> ``default`` when the result is None
or '' -> static value map (静态映射) -> convert to ``type`` -> parser (解析器) -> ``required``
check. Parsers run after the type so that a ``string`` Kingdee code wrapped by
``ConvertObjectParser`` becomes ``{"FNumber": "..."}``.

Containers:

* ``object`` with children -> a dict of the children, in the order written;
* ``array`` with children and a table key as value (``details_list``, no braces, or
  ``{{details_list}}``) -> one dict per row of that table, children rendered with the row bound,
  so ``{{details_list.goods_no}}`` is that row's value; a missing table gives ``[]``;
* ``array`` with children and no value -> a single row rendered from the header.

Errors name the field path, e.g. ``Model.FEntity[2].FQty``. Building is total: for any record
it returns a body or raises ``ExprError`` within the context's limits (a table may have at most
``Limits.max_items`` rows). Compiling folds what does not depend on the record (see
:mod:`ferry.expr.fields`); the result of ``build`` is always a fresh body the caller may mutate.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferry.errors import FerryError
from ferry.expr.errors import ExprError, shown, translate
from ferry.expr.fields import Build, compile_children, compile_field, located
from ferry.expr.limits import bounded, close_budget, open_budget, total
from ferry.expr.paths import Scope
from ferry.expr.variables import Context

_DEFAULT_CONTEXT = Context()


@dataclass(frozen=True, eq=False)
class FieldNode:
    """One field of a request (or response) list."""

    field: str
    type: str | None = None
    value: Any = None
    children: tuple[FieldNode, ...] = ()
    parser: Mapping[str, Any] | str | None = None
    value_map: Mapping[str, Any] | None = None
    required: bool = False
    default: Any = None
    label: str | None = None

    @classmethod
    def from_mapping(cls, item: Mapping[str, Any]) -> FieldNode:
        """From a Qingyi item: ``field, type, value, children, parser, is_required, default, label``.

        A static map may be given as ``value_map``/``valueMap``/``mapping`` (an object).
        """
        return total(cls._from_mapping, item, 0)

    @classmethod
    def _from_mapping(cls, item: Mapping[str, Any], depth: int) -> FieldNode:
        if not isinstance(item, Mapping):
            raise ExprError(f"a request item is an object with a 'field', got {type(item).__name__}")
        if depth > 50:
            raise ExprError("request items nest more than 50 levels")
        name = item.get("field")
        if not isinstance(name, str) or not name:
            raise ExprError(f"a request item needs a 'field' name: {shown(dict(item))}")
        children = item.get("children") or ()
        if not isinstance(children, Sequence) or isinstance(children, str):
            raise ExprError(f"the children of {name!r} must be a list of items")
        value_map = next(
            (item[k] for k in ("value_map", "valueMap", "mapping") if isinstance(item.get(k), Mapping)), None
        )
        return cls(
            field=name,
            type=item.get("type"),
            value=item.get("value"),
            children=tuple(
                child if isinstance(child, FieldNode) else cls._from_mapping(child, depth + 1)
                for child in children
            ),
            parser=item.get("parser") or None,
            value_map=value_map,
            required=bool(item.get("is_required") or item.get("required")),
            default=item.get("default", item.get("defaultValue")),
            label=item.get("label"),
        )


def field_nodes(items: Sequence[Mapping[str, Any] | FieldNode]) -> list[FieldNode]:
    """Build a tree from Qingyi items; flat items with ``parent`` (a field name or item ``id``) nest."""
    return total(_field_nodes, items)


def _field_nodes(items: Sequence[Mapping[str, Any] | FieldNode]) -> list[FieldNode]:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ExprError(f"request items are a list, got {type(items).__name__}")
    parents: dict[int, str | None] = {}
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            parent = item.get("parent")
            parents[index] = str(parent) if parent not in (None, "") else None
        else:
            parents[index] = None
    if all(p is None for p in parents.values()):
        return [item if isinstance(item, FieldNode) else FieldNode.from_mapping(item) for item in items]

    keys: dict[str, int] = {}
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            for key in (item.get("id"), item.get("field")):
                if key not in (None, ""):
                    keys.setdefault(str(key), index)
    kids: dict[int, list[int]] = {}
    roots = []
    for index in range(len(items)):
        parent = parents[index]
        if parent is None:
            roots.append(index)
        elif parent in keys:
            kids.setdefault(keys[parent], []).append(index)
        else:
            raise ExprError(f"request item {index} names an unknown parent {shown(parent)}")

    def make(index: int, depth: int) -> FieldNode:
        if depth > 50:
            raise ExprError("request items nest more than 50 levels (a parent cycle?)")
        item = items[index]
        node = item if isinstance(item, FieldNode) else FieldNode.from_mapping(item)
        extra = tuple(make(k, depth + 1) for k in kids.get(index, ()))
        if extra:
            node = FieldNode(
                node.field, node.type, node.value, node.children + extra, node.parser,
                node.value_map, node.required, node.default, node.label,
            )  # fmt: skip
        return node

    return [make(index, 0) for index in roots]


# ----------------------------------------------------------------------------- building


class RequestBuilder:
    """A compiled field list; :meth:`build` renders one record into a request body.

    ``fold=False`` compiles every field to run per record, as before folding existed; it gives
    the same bodies and errors, and serves benchmarks and debugging.
    """

    def __init__(self, nodes: Sequence[FieldNode], *, fold: bool = True) -> None:
        self.nodes = tuple(nodes)
        self._build = total(compile_children, self.nodes, fold).build

    def build(self, record: Mapping[str, Any], ctx: Context | None = None) -> dict[str, Any]:
        """The request body for ``record``; raises only ``ExprError`` (with the field path)."""
        context = ctx or _DEFAULT_CONTEXT
        token = open_budget(context.limits)
        try:
            body: dict[str, Any] = self._build(Scope(record, context))
            return body
        except FerryError:
            raise
        except Exception as exc:
            raise translate(exc) from None
        finally:
            close_budget(token)


def _nodes(nodes: Sequence[FieldNode | Mapping[str, Any]]) -> list[FieldNode]:
    if not isinstance(nodes, Sequence) or isinstance(nodes, str):
        raise ExprError(f"a request is a list of fields, got {type(nodes).__name__}")
    if all(isinstance(n, FieldNode) for n in nodes):
        return [n for n in nodes if isinstance(n, FieldNode)]
    return field_nodes(nodes)


def compile_request(nodes: Sequence[FieldNode | Mapping[str, Any]], *, fold: bool = True) -> RequestBuilder:
    """Compile a field list once (FieldNodes or Qingyi item dicts); reuse the builder per record."""
    return RequestBuilder(total(_nodes, nodes), fold=fold)


_NODE_CACHE: weakref.WeakKeyDictionary[FieldNode, Build] = weakref.WeakKeyDictionary()


def build_request(
    nodes: Sequence[FieldNode | Mapping[str, Any]], record: Mapping[str, Any], ctx: Context | None = None
) -> dict[str, Any]:
    """Render ``nodes`` for one record. FieldNodes are compiled once and cached by identity."""
    context = ctx or _DEFAULT_CONTEXT
    return bounded(context.limits, _build_request, nodes, record, context)


def _build_request(
    nodes: Sequence[FieldNode | Mapping[str, Any]], record: Mapping[str, Any], ctx: Context
) -> dict[str, Any]:
    scope = Scope(record, ctx)
    out: dict[str, Any] = {}
    for node in _nodes(nodes):
        fn = _NODE_CACHE.get(node)
        if fn is None:
            try:
                fn = compile_field(node).build
            except Exception as exc:
                raise located(exc, node.field) from None
            _NODE_CACHE[node] = fn
        try:
            out[node.field] = fn(scope)
        except Exception as exc:
            raise located(exc, node.field) from None
    return out


build = build_request
