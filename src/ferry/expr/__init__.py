"""Ferry's expression language: templates, ``_function``, parsers, formats, conditions, lookups.

Owns everything that turns a scheme's declarative values into data for one record, with no
I/O: ``{{field}}``/``{VAR}`` templates with pipes, ``_function`` MySQL-flavoured expressions
(parsed with sqlglot, values bound as parameters, bounded work), parsers (解析器),
``formatResponse`` formats, ``condition`` filters, ``beatFlat``, static value maps (静态映射),
``_findCollection`` lookups and the request builder. Imports nothing else of Ferry's.

Every public entry point is total and bounded: for any input it returns or raises
:class:`ExprError` (a breached :class:`Limits` raises :class:`LimitExceeded`, one kind of
``ExprError``), within the limits carried by ``Context.limits`` (docs/expressions.md, "Limits").

Module map: ``template`` (front door), ``interpolate`` (text placeholders), ``function``
(``_function`` syntax, a package), ``mysql`` and ``mysqltime`` (its value semantics), ``like``
(SQL LIKE), ``variables`` (Context, system variables, time, pipes), ``paths`` (field paths and
scopes), ``lookup``, ``parsers``, ``formats``, ``condition``, ``flatten``, ``valuemap``,
``request`` (the builder) with ``fields`` (compiling fields, folding constants), ``steps`` (a
field's steps), ``assemble`` (objects as generated code) and ``convert`` (types), ``limits``
(Limits and the per-render budget), ``errors``.
"""

from ferry.expr.condition import Condition, Verdict, compile_condition
from ferry.expr.errors import ExprError, LimitExceeded
from ferry.expr.flatten import beat_flat
from ferry.expr.formats import apply_format, compile_format, compile_format_response, format_response
from ferry.expr.limits import Limits
from ferry.expr.lookup import Lookup, MemoryLookup
from ferry.expr.parsers import apply_parser, compile_parser
from ferry.expr.request import FieldNode, RequestBuilder, build_request, compile_request, field_nodes
from ferry.expr.template import Template, check, compile_template, render
from ferry.expr.valuemap import apply_value_map, compile_value_map
from ferry.expr.variables import Context

__all__ = [
    "Condition",
    "Context",
    "ExprError",
    "FieldNode",
    "LimitExceeded",
    "Limits",
    "Lookup",
    "MemoryLookup",
    "RequestBuilder",
    "Template",
    "Verdict",
    "apply_format",
    "apply_parser",
    "apply_value_map",
    "beat_flat",
    "build_request",
    "check",
    "compile_condition",
    "compile_format",
    "compile_format_response",
    "compile_parser",
    "compile_request",
    "compile_template",
    "compile_value_map",
    "field_nodes",
    "format_response",
    "render",
]
