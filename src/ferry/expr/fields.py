"""Compiling request fields once, so that a record pays only for what depends on it.

Owns :func:`compile_field` and :func:`compile_children`, which :mod:`ferry.expr.request` builds
on. Each field's steps run in this order: render ``value`` -> ``default`` when None or '' ->
value map -> convert to ``type`` -> parser -> ``required`` check.

Folding (``fold=True``): a field whose value holds no placeholder runs its steps at compile
time and becomes a prebuilt value. An immutable one is shared; a dict or list is rebuilt from
prebuilt parts for every record, because callers may mutate a body; an object whose children
are partly constant is a prebuilt dict, copied per record, into which only the rendered children
are written (the written order is kept). A field is left to run per record whenever its result
could differ from one record or context to the next, or its steps fail on the constant (a time
type reads the zone, an empty required value depends on compat, a failing conversion is an
error per record), so folding never changes a value or an error.

Fusing: a field's steps are one closure that runs only the steps it has, and a wrapping parser
(``ConvertObjectParser``, so Kingdee's ``{"FNumber": code}``) is built inline rather than called.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from ferry.errors import FerryError
from ferry.expr.assemble import Plain, assemble
from ferry.expr.convert import CONTEXT_FREE, CONVERTERS, kind_of
from ferry.expr.errors import ExprError, LimitExceeded, shown, translate
from ferry.expr.limits import budget
from ferry.expr.parsers import parser_of, wrap_keys
from ferry.expr.paths import MISSING, Scope, compile_path
from ferry.expr.template import Template, compile_template
from ferry.expr.valuemap import value_map_of
from ferry.expr.variables import Context

if TYPE_CHECKING:
    from ferry.expr.request import FieldNode

Build = Callable[[Scope], Any]

_TABLE_KEY = re.compile(r"\s*(?:\{\{([^{}|]*)\}\}|([^\s{}|'\"]+))\s*")
_SCALARS = (str, int, float, bool, type(None), Decimal)
_NOTHING: Final[Any] = object()
_FOLD_CONTEXT = Context()


class Field:
    """A compiled field: ``build(scope)`` gives its value; ``constant`` fields were folded."""

    __slots__ = ("build", "constant", "plain", "value")

    def __init__(
        self, build: Build, constant: bool = False, value: Any = None, plain: Plain | None = None
    ) -> None:
        self.build = build
        self.constant = constant
        #: the prebuilt value of a constant field (handed out only through ``build``, which copies)
        self.value = value
        #: how to assemble the field inline, for a plain path with simple steps
        self.plain = plain


def located(exc: BaseException, where: str) -> BaseException:
    """The error to raise for ``exc`` escaping the field ``where``: the path is prefixed to the
    error's own; anything but a Ferry error is first translated into an ``ExprError``."""
    if not isinstance(exc, ExprError):
        if isinstance(exc, FerryError) or not isinstance(exc, Exception):
            return exc
        exc = translate(exc)
    inner = exc.field
    path = where if not inner else (f"{where}{inner}" if inner.startswith("[") else f"{where}.{inner}")
    return exc.replace(field=path)


def compile_field(node: FieldNode, fold: bool = True) -> Field:
    """Compile one node; errors carry field paths relative to this node (the caller prefixes it)."""
    kind = kind_of(node.type)
    if node.children:
        return _container(node, kind, fold)
    return _scalar(node, kind, fold)


# ----------------------------------------------------------------------------- objects and tables


def compile_children(children: Sequence[FieldNode], fold: bool = True) -> Field:
    """The object of ``children``, in the order written."""
    compiled = []
    for child in children:
        try:
            compiled.append((child.field, compile_field(child, fold)))
        except Exception as exc:
            raise located(exc, child.field) from None
    keys = [key for key, _ in compiled]
    if not fold or len(set(keys)) != len(keys):  # a repeated key: the last one written wins
        return Field(_sequential(tuple((key, field.build) for key, field in compiled)))
    if all(field.constant for _, field in compiled):
        value = {key: field.value for key, field in compiled}
        return Field(_copier(value), True, value)
    proto: dict[str, Any] = {}
    dynamic: list[tuple[str, Build, Plain | None]] = []
    for key, field in compiled:
        if field.constant and type(field.value) in _SCALARS:
            proto[key] = field.value
        else:
            proto[key] = None  # a place in the written order, filled per record
            dynamic.append((key, field.build, field.plain))
    return Field(assemble(proto, dynamic, located, _convert))


def _sequential(frozen: tuple[tuple[str, Build], ...]) -> Build:
    def build(scope: Scope) -> dict[str, Any]:
        out = {}
        key = ""
        try:
            for key, fn in frozen:
                out[key] = fn(scope)
        except Exception as exc:
            raise located(exc, key) from None
        return out

    return build


def _container(node: FieldNode, kind: str | None, fold: bool) -> Field:
    children = compile_children(node.children, fold)
    if kind != "array":
        return children
    table: str | None = None
    if isinstance(node.value, str) and node.value.strip():
        match = _TABLE_KEY.fullmatch(node.value)
        if not match or not (match.group(1) or match.group(2) or "").strip():
            raise ExprError(
                "array field with children needs a table key as value (e.g. details_list), "
                f"got {shown(node.value)}"
            )
        table = (match.group(1) or match.group(2)).strip()
    if table is None:
        if children.constant:
            value = [children.value]
            return Field(_copier(value), True, value)
        row = children.build
        return Field(lambda scope: [row(scope)])
    return Field(_rows(table, children.build, node.required))


def _rows(table: str, row: Build, required: bool) -> Build:
    get_rows = compile_path(table)
    what = f"the table {table!r}"

    def build_rows(scope: Scope) -> Any:
        rows = get_rows(scope)
        if rows is MISSING or rows is None:
            rows = []
        elif isinstance(rows, Mapping):
            rows = [rows]
        elif not isinstance(rows, list):
            raise ExprError(f"{table!r} is a {type(rows).__name__}, not a table of rows")
        if required and not rows and not scope.ctx.compat:
            raise ExprError(f"required table {table!r} has no rows")
        checks = budget()
        checks.items(len(rows), what)
        out = []
        # One child scope for all rows; its binding is swapped per row (rendering is synchronous).
        child = scope.bind(table, None)
        bound = child.rows
        assert bound is not None
        index = -1
        try:
            for item in rows:
                index += 1
                if index & 63 == 63:
                    checks.check_time()
                bound[table] = item
                out.append(row(child))
        except Exception as exc:
            raise located(exc, f"[{index}]") from None
        return out

    return build_rows


# ----------------------------------------------------------------------------- prebuilt values


def _detach(value: Any) -> Any:
    """A private deep copy of a JSON-like value, or ``_NOTHING`` if it holds anything else."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or kind is list or kind is tuple:
        items = value.items() if kind is dict else enumerate(value)
        copied: dict[Any, Any] = {}
        for key, item in items:
            detached = _detach(item)
            if detached is _NOTHING:
                return _NOTHING
            copied[key] = detached
        return copied if kind is dict else list(copied.values())
    return _NOTHING


def _copier(value: Any) -> Build:
    """A builder handing out a fresh copy of a detached value (scalars are shared)."""
    if type(value) is dict:
        if all(type(item) in _SCALARS for item in value.values()):
            return lambda scope: value.copy()
        parts = tuple((key, _copier(item)) for key, item in value.items())
        return lambda scope: {key: make(scope) for key, make in parts}
    if type(value) is list:
        if all(type(item) in _SCALARS for item in value):
            return lambda scope: value.copy()
        items = tuple(_copier(item) for item in value)
        return lambda scope: [make(scope) for make in items]
    return lambda scope: value


def _structure(value: Any, fold: bool) -> Field:
    """A value written as a number, list or object (not text); templates inside are rendered."""
    if isinstance(value, str):
        template = compile_template(value)
        if fold and template.kind == "constant":
            return Field(lambda scope: value, True, value)
        return Field(template.renderer())
    if isinstance(value, list | Mapping):
        pairs = list(value.items()) if isinstance(value, Mapping) else list(enumerate(value))
        parts = [(key, _structure(item, fold)) for key, item in pairs]
        if fold and all(part.constant for _, part in parts):
            detached = _detach(
                {key: part.value for key, part in parts}
                if isinstance(value, Mapping)
                else [part.value for _, part in parts]
            )
            if detached is not _NOTHING:
                return Field(_copier(detached), True, detached)
        if isinstance(value, Mapping):
            entries = tuple((key, part.build) for key, part in parts)
            return Field(lambda scope: {key: item(scope) for key, item in entries})
        items = tuple(part.build for _, part in parts)
        return Field(lambda scope: [item(scope) for item in items])
    return Field(lambda scope: value, True, value)


# ----------------------------------------------------------------------------- scalars


def _scalar(node: FieldNode, kind: str | None, fold: bool) -> Field:
    value = node.value
    template = compile_template(value) if isinstance(value, str) else None
    base: Field
    passes_table = False
    if template is None:
        base = _structure(value, fold)
    elif template.kind == "constant":
        text = template.text
        base = Field(lambda scope: text, True, text)
    else:
        base = Field(template.renderer())
    if kind == "array" and template is not None and template.kind == "constant":
        match = _TABLE_KEY.fullmatch(template.text)
        if match and match.group(2):
            # A bare table key on a childless array field passes the table through.
            get_table = compile_path(match.group(2))

            def table(scope: Scope) -> Any:
                rows = get_table(scope)
                return None if rows is MISSING else rows

            base = Field(table)
            passes_table = True
    steps = _Steps(node, kind, template)
    if fold and base.constant:
        folded = steps.fold(base.value)
        if folded is not _NOTHING:
            return Field(_copier(folded), True, folded)
    build = steps.chain(base.build, fuse=fold)
    plain = steps.plain(template, base.build) if fold and not passes_table else None
    return Field(build, plain=plain)


class _Steps:
    """The steps after rendering that one field uses, as flags and functions."""

    def __init__(self, node: FieldNode, kind: str | None, template: Template | None) -> None:
        self.kind = kind
        default = node.default
        self.has_default = default is not None and default != ""
        self.default_template = (
            compile_template(default) if self.has_default and isinstance(default, str) else None
        )
        self.default = default
        self.mapper = value_map_of(node.value_map) if node.value_map is not None else None
        self.converter = CONVERTERS[kind] if kind is not None else None
        # Values that already have the wanted type skip the converter (the common case); a
        # float is a ready number only when finite, which the closures check inline.
        self.ready: tuple[type, ...] = {
            "string": (str,),
            "int": (int,),
            "number": (int,),
            "bool": (bool,),
        }.get(kind or "", ())
        self.parser = parser_of(node.parser) if node.parser else None
        self.wrap = wrap_keys(node.parser) if node.parser else None
        self.required = node.required
        fields = template.fields if template is not None else ()
        self.detail = (
            f" ({', '.join('{{' + f + '}}' for f in fields)} missing or empty in the record)"
            if fields
            else ""
        )

    def plain(self, template: Template | None, render: Build) -> Plain | None:
        """How to assemble this field inline, when it is a bare ``{{path}}`` with simple steps."""
        if (
            template is None
            or template.kind != "field"
            or template.variables
            or "|" in template.text
            or not template.text.startswith("{{")
            or self.has_default
            or self.mapper is not None
            or (self.parser is not None and self.wrap is None)
        ):
            return None
        segments = tuple(template.fields[0].split("."))
        if len(segments) > 2 or not all(segments):
            return None
        return Plain(
            segments=segments,
            get=render,
            converter=self.converter,
            ready=self.ready,
            number=self.kind == "number",
            wrap=self.wrap,
            required=f"required field is empty{self.detail}" if self.required else None,
        )

    def fold(self, value: Any) -> Any:
        """The field's value for a constant ``value``, or ``_NOTHING`` if it must run per record."""
        try:
            if self.has_default and (value is None or value == ""):
                if self.default_template is not None:
                    if self.default_template.kind != "constant":
                        return _NOTHING
                    value = self.default_template.text
                else:
                    value = self.default
            if self.mapper is not None:
                value = self.mapper(value)
            if self.converter is not None and value is not None and type(value) not in self.ready:
                if self.kind not in CONTEXT_FREE:
                    return _NOTHING
                value = self.converter(value, _FOLD_CONTEXT)
            if self.parser is not None:
                value = self.parser(value)
            if self.required and (value is None or value == "" or value == []):
                return _NOTHING
            return _detach(value)
        except Exception:  # the steps fail on this constant: let every record report it
            return _NOTHING

    def chain(self, render: Build, *, fuse: bool) -> Build:
        """One closure running only the steps this field uses (flag tests are cheaper than calls)."""
        converter, parser, ready, number = self.converter, self.parser, self.ready, self.kind == "number"
        if not (self.has_default or self.mapper or self.required):
            if converter is None and parser is None:
                return render
            if converter is not None:
                if parser is None:
                    return _typed(render, converter, ready, number, None)
                if fuse and self.wrap is not None:
                    return _typed(render, converter, ready, number, self.wrap)
                return _typed_parsed(render, converter, ready, number, parser)
        return self._general(render)

    def _general(self, render: Build) -> Build:
        has_default, mapper, converter, parser, required = (
            self.has_default, self.mapper, self.converter, self.parser, self.required,
        )  # fmt: skip
        ready, detail, number = self.ready, self.detail, self.kind == "number"
        if self.default_template is not None:
            fallback = self.default_template.renderer()
        else:
            constant_default = self.default

            def fallback(scope: Scope) -> Any:
                return constant_default

        def build(scope: Scope) -> Any:
            v = render(scope)
            if has_default and (v is None or v == "" or v is MISSING):
                v = fallback(scope)
            if mapper is not None:
                v = mapper(v)
            if (
                converter is not None
                and v is not None
                and type(v) not in ready
                and not (number and type(v) is float and v - v == 0.0)
            ):
                v = _convert(converter, v, scope.ctx)
            if parser is not None:
                v = parser(v)
            if required and (v is None or v == "" or v == []) and not scope.ctx.compat:
                raise ExprError(f"required field is empty{detail}")
            return v

        return build


def _convert(converter: Callable[[Any, Context], Any], value: Any, ctx: Context) -> Any:
    try:
        return converter(value, ctx)
    except LimitExceeded:
        raise
    except ExprError:
        if ctx.compat:
            return value  # Qingyi sends what it cannot convert as it is
        raise


def _typed(
    render: Build,
    converter: Callable[[Any, Context], Any],
    ready: tuple[type, ...],
    number: bool,
    wrap: tuple[str, ...] | None,
) -> Build:
    """A typed field, optionally wrapped by a parser's keys; the common shapes of a body."""
    if wrap is None:

        def typed(scope: Scope) -> Any:
            v = render(scope)
            if v is None or type(v) in ready or (number and type(v) is float and v - v == 0.0):
                return v
            return _convert(converter, v, scope.ctx)

        return typed
    if len(wrap) == 1:
        (key,) = wrap

        def typed_wrapped(scope: Scope) -> Any:
            v = render(scope)
            if v is None:
                return None
            if type(v) not in ready and not (number and type(v) is float and v - v == 0.0):
                v = _convert(converter, v, scope.ctx)
                if v is None:
                    return None
            return {key: v}

        return typed_wrapped
    outer, inner = wrap

    def typed_wrapped_twice(scope: Scope) -> Any:
        v = render(scope)
        if v is None:
            return None
        if type(v) not in ready and not (number and type(v) is float and v - v == 0.0):
            v = _convert(converter, v, scope.ctx)
            if v is None:
                return None
        return {outer: {inner: v}}

    return typed_wrapped_twice


def _typed_parsed(
    render: Build,
    converter: Callable[[Any, Context], Any],
    ready: tuple[type, ...],
    number: bool,
    parser: Callable[[Any], Any],
) -> Build:
    def typed_parsed(scope: Scope) -> Any:
        v = render(scope)
        if v is not None and type(v) not in ready and not (number and type(v) is float and v - v == 0.0):
            v = _convert(converter, v, scope.ctx)
        return parser(v)

    return typed_parsed
