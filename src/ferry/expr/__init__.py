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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The exports load on first use (PEP 562): the parsers pull in sqlglot, and a command that only names a
# default (`ferry expr --help`) or a module that needs one part should not pay for all of them.
if TYPE_CHECKING:
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

_EXPORTS = {
    "Condition": "ferry.expr.condition",
    "Verdict": "ferry.expr.condition",
    "compile_condition": "ferry.expr.condition",
    "ExprError": "ferry.expr.errors",
    "LimitExceeded": "ferry.expr.errors",
    "beat_flat": "ferry.expr.flatten",
    "apply_format": "ferry.expr.formats",
    "compile_format": "ferry.expr.formats",
    "compile_format_response": "ferry.expr.formats",
    "format_response": "ferry.expr.formats",
    "Limits": "ferry.expr.limits",
    "Lookup": "ferry.expr.lookup",
    "MemoryLookup": "ferry.expr.lookup",
    "apply_parser": "ferry.expr.parsers",
    "compile_parser": "ferry.expr.parsers",
    "FieldNode": "ferry.expr.request",
    "RequestBuilder": "ferry.expr.request",
    "build_request": "ferry.expr.request",
    "compile_request": "ferry.expr.request",
    "field_nodes": "ferry.expr.request",
    "Template": "ferry.expr.template",
    "check": "ferry.expr.template",
    "compile_template": "ferry.expr.template",
    "render": "ferry.expr.template",
    "apply_value_map": "ferry.expr.valuemap",
    "compile_value_map": "ferry.expr.valuemap",
    "Context": "ferry.expr.variables",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
