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

Errors name the field path, e.g. ``Model.FEntity[2].FQty``.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ferry.expr.errors import ExprError
from ferry.expr.parsers import compile_parser
from ferry.expr.paths import MISSING, Scope, compile_path
from ferry.expr.template import Template, compile_template
from ferry.expr.valuemap import compile_value_map
from ferry.expr.variables import Context, to_datetime, to_text

_DEFAULT_CONTEXT = Context()
_TABLE_KEY = re.compile(r"^\s*(?:\{\{\s*([^{}|]+?)\s*\}\}|([^\s{}|'\"]+))\s*$")


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
        name = item.get("field")
        if not isinstance(name, str) or not name:
            raise ExprError(f"a request item needs a 'field' name: {dict(item)!r}")
        children = item.get("children") or ()
        value_map = next(
            (item[k] for k in ("value_map", "valueMap", "mapping") if isinstance(item.get(k), Mapping)), None
        )
        return cls(
            field=name,
            type=item.get("type"),
            value=item.get("value"),
            children=tuple(
                child if isinstance(child, FieldNode) else cls.from_mapping(child) for child in children
            ),
            parser=item.get("parser") or None,
            value_map=value_map,
            required=bool(item.get("is_required") or item.get("required")),
            default=item.get("default", item.get("defaultValue")),
            label=item.get("label"),
        )


def field_nodes(items: Sequence[Mapping[str, Any] | FieldNode]) -> list[FieldNode]:
    """Build a tree from Qingyi items; flat items with ``parent`` (a field name or item ``id``) nest."""
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
            raise ExprError(f"request item {index} names an unknown parent {parent!r}")

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


# ----------------------------------------------------------------------------- type conversion

Converter = Callable[[Any, Context], Any]


def _empty(value: Any) -> bool:
    return value is None or value is MISSING or value == ""


def _decimal_of(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    return None


def _as_string(value: Any, ctx: Context) -> Any:
    if value is None or isinstance(value, str):
        return value
    return to_text(value)


def _as_int(value: Any, ctx: Context) -> Any:
    if _empty(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = _decimal_of(value)
    if number is None or not number.is_finite():
        raise ExprError(f"cannot convert {value!r} to an integer")
    if number != number.to_integral_value():
        raise ExprError(f"{value!r} is not a whole number")
    return int(number)


def _as_number(value: Any, ctx: Context) -> Any:
    if _empty(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    number = _decimal_of(value)
    if number is None or not number.is_finite():
        raise ExprError(f"cannot convert {value!r} to a number")
    exponent = number.as_tuple().exponent
    if isinstance(value, str) and "." not in value and "e" not in value.lower() and isinstance(exponent, int):
        return int(number)
    return float(number)


_TRUE = {"true", "1", "yes", "y", "on", "是", "t"}
_FALSE = {"false", "0", "no", "n", "off", "否", "f"}


def _as_bool(value: Any, ctx: Context) -> Any:
    if _empty(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    text = to_text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ExprError(f"cannot convert {value!r} to a boolean")


def _as_object(value: Any, ctx: Context) -> Any:
    if _empty(value):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise ExprError(f"cannot convert {value!r} to an object")


def _as_array(value: Any, ctx: Context) -> Any:
    if value is None or value is MISSING:
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if value == "":
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    return [value]


def _time(kind: str) -> Converter:
    def convert(value: Any, ctx: Context) -> Any:
        if _empty(value):
            return None
        moment = to_datetime(value, ctx.zone)
        if moment is None:
            raise ExprError(f"cannot read {value!r} as a {kind}")
        if kind == "datetime":
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        if kind == "date":
            return moment.strftime("%Y-%m-%d")
        if kind == "timestamp":
            return int(moment.timestamp())
        return round(moment.timestamp() * 1000)

    return convert


_CONVERTERS: dict[str, Converter] = {
    "string": _as_string,
    "int": _as_int,
    "number": _as_number,
    "bool": _as_bool,
    "object": _as_object,
    "array": _as_array,
    "datetime": _time("datetime"),
    "date": _time("date"),
    "timestamp": _time("timestamp"),
    "timestamp_ms": _time("timestamp_ms"),
}
_TYPE_ALIASES = {
    "string": "string", "str": "string", "text": "string", "varchar": "string", "字符串": "string",
    "int": "int", "integer": "int", "long": "int", "bigint": "int", "整型": "int",
    "number": "number", "float": "number", "double": "number", "decimal": "number", "numeric": "number",
    "浮点数": "number",
    "boolean": "bool", "bool": "bool", "布尔": "bool",
    "object": "object", "json": "object", "dict": "object", "子表对象": "object",
    "array": "array", "list": "array", "多行分录": "array",
    "datetime": "datetime", "长日期时间": "datetime",
    "date": "date", "短日期": "date",
    "timestamp": "timestamp", "时间戳": "timestamp", "时间戳(秒)": "timestamp",
    "timestamp_ms": "timestamp_ms", "时间戳(毫秒)": "timestamp_ms",
}  # fmt: skip
TYPE_NAMES = tuple(sorted(_TYPE_ALIASES))


def _type_of(node: FieldNode) -> str | None:
    if node.type in (None, ""):
        return None
    kind = _TYPE_ALIASES.get(str(node.type).strip()) or _TYPE_ALIASES.get(str(node.type).strip().lower())
    if kind is None:
        raise ExprError(
            f"unknown type {node.type!r} (known: string, int, integer, number, float, boolean, bool, "
            "object, array, datetime, date, timestamp, timestamp_ms)"
        )
    return kind


# ----------------------------------------------------------------------------- compiling

Build = Callable[[Scope], Any]


def _located(exc: ExprError, where: str) -> ExprError:
    field_path = (
        where
        if not exc.field
        else (f"{where}{exc.field}" if exc.field.startswith("[") else f"{where}.{exc.field}")
    )
    return ExprError(exc.message, text=exc.text, position=exc.position, field=field_path)


def _template(value: Any) -> Template | None:
    if not isinstance(value, str):
        return None
    return compile_template(value)


def _compile_node(node: FieldNode) -> Build:
    """Compile one node; errors carry field paths relative to this node (the caller prefixes it)."""
    kind = _type_of(node)
    if node.children:
        return _compile_container(node, kind)
    return _compile_scalar(node, kind)


def _compile_children(children: Sequence[FieldNode]) -> Callable[[Scope], dict[str, Any]]:
    compiled = []
    for child in children:
        try:
            compiled.append((child.field, _compile_node(child)))
        except ExprError as exc:
            raise _located(exc, child.field) from None
    frozen = tuple(compiled)

    def build(scope: Scope) -> dict[str, Any]:
        out = {}
        key = ""
        try:
            for key, fn in frozen:
                out[key] = fn(scope)
        except ExprError as exc:
            raise _located(exc, key) from None
        return out

    return build


def _compile_container(node: FieldNode, kind: str | None) -> Build:
    children = _compile_children(node.children)
    required = node.required
    if kind != "array":

        def build_object(scope: Scope) -> Any:
            return children(scope)

        return build_object

    table: str | None = None
    if isinstance(node.value, str) and node.value.strip():
        match = _TABLE_KEY.match(node.value)
        if not match:
            raise ExprError(
                f"array field with children needs a table key as value (e.g. details_list), got {node.value!r}"
            )
        table = (match.group(1) or match.group(2)).strip()
    if table is None:

        def build_single(scope: Scope) -> Any:
            return [children(scope)]

        return build_single

    get_rows = compile_path(table)
    table_path = table

    def build_rows(scope: Scope) -> Any:
        rows = get_rows(scope)
        if rows is MISSING or rows is None:
            rows = []
        elif isinstance(rows, Mapping):
            rows = [rows]
        elif not isinstance(rows, list):
            raise ExprError(f"{table_path!r} is a {type(rows).__name__}, not a table of rows")
        if required and not rows and not scope.ctx.compat:
            raise ExprError(f"required table {table_path!r} has no rows")
        out = []
        # One child scope for all rows; its binding is swapped per row (rendering is synchronous).
        child = scope.bind(table_path, None)
        bound = child.rows
        assert bound is not None
        index = -1
        try:
            for row in rows:
                index += 1
                bound[table_path] = row
                out.append(children(child))
        except ExprError as exc:
            raise _located(exc, f"[{index}]") from None
        return out

    return build_rows


def _constant(value: Any) -> Build:
    def constant(scope: Scope) -> Any:
        return value

    return constant


def _structure(value: Any) -> Build:
    """A renderer for a constant that may contain templates inside lists and objects."""
    if isinstance(value, str):
        return compile_template(value).renderer()
    if isinstance(value, list):
        items = tuple(_structure(item) for item in value)
        return lambda scope: [item(scope) for item in items]
    if isinstance(value, Mapping):
        entries = tuple((key, _structure(item)) for key, item in value.items())
        return lambda scope: {key: item(scope) for key, item in entries}
    return _constant(value)


def _compile_scalar(node: FieldNode, kind: str | None) -> Build:
    """Compose the per-field steps into a chain of closures (only the steps this field uses)."""
    value = node.value
    template = _template(value)
    fn: Build
    if template is None:
        # Numbers and booleans are used as written; lists and objects may hold templates.
        fn = _structure(value)
    elif template.kind == "constant":
        fn = _constant(template.text)
    else:
        fn = template.renderer()

    if kind == "array" and isinstance(value, str) and template is not None and template.kind == "constant":
        match = _TABLE_KEY.match(value)
        if match and match.group(2):
            # A bare table key on a childless array field passes the table through.
            get_table = compile_path(match.group(2))

            def table(scope: Scope) -> Any:
                rows = get_table(scope)
                return None if rows is MISSING else rows

            fn = table

    return _steps(node, kind, fn, template)


def _steps(node: FieldNode, kind: str | None, render: Build, template: Template | None) -> Build:
    """One closure running only the steps this field uses (flag tests are cheaper than calls)."""
    has_default = node.default is not None and node.default != ""
    default_template = _template(node.default) if has_default else None
    fallback = default_template.renderer() if default_template is not None else _constant(node.default)
    mapper = compile_value_map(node.value_map) if node.value_map is not None else None
    converter = _CONVERTERS[kind] if kind is not None else None
    # Values that already have the wanted type skip the converter (the common case).
    ready: tuple[type, ...] = {"string": (str,), "int": (int,), "number": (int, float), "bool": (bool,)}.get(
        kind or "", ()
    )
    parser = compile_parser(node.parser) if node.parser else None
    required = node.required
    fields = template.fields if template is not None else ()
    detail = (
        f" ({', '.join('{{' + f + '}}' for f in fields)} missing or empty in the record)" if fields else ""
    )

    if not (has_default or mapper or converter or parser or required):
        return render
    if not (has_default or mapper or required):
        # The common shapes: a typed field, optionally wrapped by a parser.
        if parser is None:
            assert converter is not None

            def typed(scope: Scope) -> Any:
                v = render(scope)
                if v is None or type(v) in ready:
                    return v
                try:
                    return converter(v, scope.ctx)
                except ExprError:
                    if scope.ctx.compat:
                        return v
                    raise

            return typed
        if converter is not None:

            def typed_parsed(scope: Scope) -> Any:
                v = render(scope)
                if v is not None and type(v) not in ready:
                    try:
                        v = converter(v, scope.ctx)
                    except ExprError:
                        if not scope.ctx.compat:
                            raise
                return parser(v)

            return typed_parsed

    def build(scope: Scope) -> Any:
        v = render(scope)
        if has_default and (v is None or v == "" or v is MISSING):
            v = fallback(scope)
        if mapper is not None:
            v = mapper(v)
        if converter is not None and v is not None and type(v) not in ready:
            try:
                v = converter(v, scope.ctx)
            except ExprError:
                if not scope.ctx.compat:
                    raise
        if parser is not None:
            v = parser(v)
        if required and (v is None or v == "" or v == []) and not scope.ctx.compat:
            raise ExprError(f"required field is empty{detail}")
        return v

    return build


class RequestBuilder:
    """A compiled field list; :meth:`build` renders one record into a request body."""

    def __init__(self, nodes: Sequence[FieldNode]) -> None:
        self.nodes = tuple(nodes)
        self._build = _compile_children(self.nodes)

    def build(self, record: Mapping[str, Any], ctx: Context | None = None) -> dict[str, Any]:
        return self._build(Scope(record, ctx or _DEFAULT_CONTEXT))


def _nodes(nodes: Sequence[FieldNode | Mapping[str, Any]]) -> list[FieldNode]:
    if all(isinstance(n, FieldNode) for n in nodes):
        return [n for n in nodes if isinstance(n, FieldNode)]
    return field_nodes(nodes)


def compile_request(nodes: Sequence[FieldNode | Mapping[str, Any]]) -> RequestBuilder:
    """Compile a field list once (FieldNodes or Qingyi item dicts); reuse the builder per record."""
    return RequestBuilder(_nodes(nodes))


_NODE_CACHE: weakref.WeakKeyDictionary[FieldNode, Build] = weakref.WeakKeyDictionary()


def build_request(
    nodes: Sequence[FieldNode | Mapping[str, Any]], record: Mapping[str, Any], ctx: Context | None = None
) -> dict[str, Any]:
    """Render ``nodes`` for one record. FieldNodes are compiled once and cached by identity."""
    scope = Scope(record, ctx or _DEFAULT_CONTEXT)
    out: dict[str, Any] = {}
    for node in _nodes(nodes):
        fn = _NODE_CACHE.get(node)
        if fn is None:
            try:
                fn = _compile_node(node)
            except ExprError as exc:
                raise _located(exc, node.field) from None
            _NODE_CACHE[node] = fn
        try:
            out[node.field] = fn(scope)
        except ExprError as exc:
            raise _located(exc, node.field) from None
    return out


build = build_request
