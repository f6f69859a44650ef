"""A request field's steps after rendering, compiled into as few calls as the field needs.

Owns :class:`Steps` (default -> value map -> type -> parser -> required, as flags and functions),
the closures that run them (:meth:`Steps.chain`), their folding at compile time for a constant
value (:meth:`Steps.fold`) and the :class:`~ferry.expr.assemble.Plain` description of a plain
path field that :mod:`ferry.expr.assemble` inlines. A conversion that fails is an error, or in
compat mode the value as it is (Qingyi sends what it cannot convert); a breached limit is
always an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ferry.expr.assemble import Plain
from ferry.expr.convert import CONTEXT_FREE, CONVERTERS
from ferry.expr.errors import ExprError, LimitExceeded
from ferry.expr.parsers import parser_of, wrap_keys
from ferry.expr.paths import MISSING, Scope, compile_path
from ferry.expr.template import Template, compile_template
from ferry.expr.valuemap import value_map_of, value_map_table
from ferry.expr.variables import Context

if TYPE_CHECKING:
    from ferry.expr.request import FieldNode

Build = Callable[[Scope], Any]

#: What :meth:`Steps.fold` gives for a field that must run per record.
NOTHING: Final[Any] = object()
_FOLD_CONTEXT = Context()


class Steps:
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
        #: the map's table by text, for the inline path of a text value
        self.table = value_map_table(node.value_map) if node.value_map is not None else None
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

    def plain(self, template: Template | None) -> Plain | None:
        """How to assemble this field inline: a ``{{path}}`` (pipes allowed) with simple steps."""
        single = template.single if template is not None else None
        if single is None or single.is_variable or not single.source.startswith("{{") or self.has_default:
            return None
        segments = tuple(single.name.split("."))
        if len(segments) > 2 or not all(segments):
            return None
        return Plain(
            segments=segments,
            get=compile_path(single.name, missing=None),
            pipe=single.pipe,
            table=self.table,
            mapper=self.mapper,
            converter=self.converter,
            ready=self.ready,
            number=self.kind == "number",
            wrap=self.wrap,
            parser=self.parser if self.wrap is None else None,
            required=f"required field is empty{self.detail}" if self.required else None,
        )

    def fold(self, value: Any, detach: Callable[[Any], Any]) -> Any:
        """The field's value for a constant ``value`` (``detach``-ed), or ``NOTHING`` if it must run per record."""
        try:
            if self.has_default and (value is None or value == ""):
                if self.default_template is not None:
                    if self.default_template.kind != "constant":
                        return NOTHING
                    value = self.default_template.text
                else:
                    value = self.default
            if self.mapper is not None:
                value = self.mapper(value)
            if self.converter is not None and value is not None and type(value) not in self.ready:
                if self.kind not in CONTEXT_FREE:
                    return NOTHING
                value = self.converter(value, _FOLD_CONTEXT)
            if self.parser is not None:
                value = self.parser(value)
            if self.required and (value is None or value == "" or value == []):
                return NOTHING
            return detach(value)
        except Exception:  # the steps fail on this constant: let every record report it
            return NOTHING

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
                v = convert_value(converter, v, scope.ctx)
            if parser is not None:
                v = parser(v)
            if required and (v is None or v == "" or v == []) and not scope.ctx.compat:
                raise ExprError(f"required field is empty{detail}")
            return v

        return build


def convert_value(converter: Callable[[Any, Context], Any], value: Any, ctx: Context) -> Any:
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
            return convert_value(converter, v, scope.ctx)

        return typed
    if len(wrap) == 1:
        (key,) = wrap

        def typed_wrapped(scope: Scope) -> Any:
            v = render(scope)
            if v is None:
                return None
            if type(v) not in ready and not (number and type(v) is float and v - v == 0.0):
                v = convert_value(converter, v, scope.ctx)
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
            v = convert_value(converter, v, scope.ctx)
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
            v = convert_value(converter, v, scope.ctx)
        return parser(v)

    return typed_parsed
