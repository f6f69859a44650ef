"""``_function <expr>``: MySQL-flavoured expressions, parsed by sqlglot and compiled to closures.

Owns the syntax of ``_function``: scanning the text, binding every ``{{field}}``, quoted
``'{{field}}'``, ``{VAR}`` and ``_findCollection ... _endFind`` as a *parameter* (never splicing a
value into the expression text, so a value holding a quote stays a value), parsing once with
sqlglot's MySQL dialect, and compiling a whitelist of node types and functions into Python
closures. Value semantics (coercion, NULL, Decimal, dates, LIKE) live in :mod:`ferry.expr.mysql`.

Module map, along the data's path: ``scan`` (text -> SQL with parameters), ``parse`` (sqlglot,
parse errors, the result's shape), ``compiler`` (dispatch, leaves, operators), ``logic`` (AND/OR,
IN, LIKE, CASE...), ``shapes`` (how function calls are compiled), ``table`` (the whitelist), and
the implementations ``text``, ``numbers``, ``dates``, ``aggregate``.

Safety: nothing here can reach files, the network or Python objects: the only callables are
the ones in the whitelist. Work is bounded: the text length, parenthesis depth, AST node
count and depth, and every string result are capped, and LIKE cannot backtrack exponentially.
"""

from ferry.expr.function.compiler import MAX_DEPTH, MAX_NODES
from ferry.expr.function.parse import MAX_EXPRESSION_CHARS, CompiledFunction, compile_function, result_value
from ferry.expr.function.scan import MAX_PAREN_DEPTH
from ferry.expr.function.table import SUPPORTED_FUNCTIONS

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION_CHARS",
    "MAX_NODES",
    "MAX_PAREN_DEPTH",
    "SUPPORTED_FUNCTIONS",
    "CompiledFunction",
    "compile_function",
    "result_value",
]
