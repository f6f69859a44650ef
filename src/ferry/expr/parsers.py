"""Field parsers (解析器): ``{"name": ..., "params": ...}`` on a scheme field.

Owns :func:`apply_parser` and :func:`compile_parser`. Readings (Qingyi's own parser page):

* ``StringToArray`` (params: separator, default ``,``): ``"a,b"`` -> ``["a", "b"]``; an empty or
  blank string -> ``[]``; a list passes through; ``None`` stays ``None``.
* ``ArrayToString`` (params: separator, default ``,``): ``["a", "b"]`` -> ``"a,b"`` (items as
  text); a string passes through.
* ``ConvertJson``: a JSON text (newlines removed) or an object; an object's key/value pairs
  become ``[{"Key": k, "Value": v}, ...]`` (numeric keys as ints, as in Kingdee's multi-language
  ``FName``); a list passes through.
* ``ConvertObjectParser`` (params: key): ``x`` -> ``{key: x}`` (Kingdee ``{"FNumber": x}``).
* ``ConvertTwoStageObjectParser`` (``params1``/``params2``, or ``params`` as ``"a,b"`` or
  ``["a", "b"]``): ``x`` -> ``{params1: {params2: x}}``.

For the two wrapping parsers a ``None`` value stays ``None`` (no ``{"FNumber": null}``), so a
missing base-data code is left out rather than sent as an empty object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ferry.expr.errors import ExprError, LimitExceeded, shown
from ferry.expr.limits import DEFAULT_LIMITS, bounded, budget, total
from ferry.expr.variables import to_text

Parser = Callable[[Any], Any]

PARSER_NAMES = (
    "StringToArray",
    "ArrayToString",
    "ConvertJson",
    "ConvertObjectParser",
    "ConvertTwoStageObjectParser",
)


def _separator(spec: Mapping[str, Any]) -> str:
    params = spec.get("params")
    if params is None or params == "":
        return ","
    if not isinstance(params, str):
        raise ExprError(
            f"parser {shown(spec.get('name'))}: params must be a separator string, got {shown(params)}"
        )
    return params


def _string_to_array(separator: str) -> Parser:
    def parse(value: Any) -> Any:
        if value is None or isinstance(value, list):
            return value
        text = to_text(value)
        if not text.strip():
            return []
        checks = budget()
        checks.text(text, "the text given to StringToArray")
        # Counted before splitting: the list is what would be too large.
        checks.items(text.count(separator) + 1, "StringToArray's result")
        return text.split(separator)

    return parse


def _array_to_string(separator: str) -> Parser:
    def parse(value: Any) -> Any:
        if isinstance(value, list | tuple):
            checks = budget()
            checks.items(len(value), "the list given to ArrayToString")
            parts = [to_text(item) for item in value]
            checks.result(sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0), "ArrayToString")
            return separator.join(parts)
        return value

    return parse


def _convert_json(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        budget().text(value, "the text given to ConvertJson")
        cleaned = value.replace("\r", "").replace("\n", "")
        if not cleaned.strip():
            return None
        try:
            value = json.loads(cleaned)
        except json.JSONDecodeError as exc:
            raise ExprError(f"ConvertJson: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise LimitExceeded("ConvertJson: the JSON is nested too deeply", limit="depth") from None
        if isinstance(value, list):
            return value
    if not isinstance(value, Mapping):
        raise ExprError(f"ConvertJson: expected a JSON object, got {type(value).__name__}")
    budget().items(len(value), "the object given to ConvertJson")
    return [{"Key": _key(key), "Value": item} for key, item in value.items()]


def _key(key: Any) -> Any:
    # Kingdee's multi-language keys are numbers; only plain ASCII digits of a sensible length
    # become ints (int('²') raises, and int() of thousands of digits is refused).
    text = str(key)
    return int(text) if len(text) <= 18 and text.isascii() and text.isdigit() else key


def _wrap(*keys: str) -> Parser:
    def parse(value: Any) -> Any:
        if value is None:
            return None
        for key in reversed(keys):
            value = {key: value}
        return value

    return parse


def _two_stage_keys(spec: Mapping[str, Any]) -> tuple[str, str]:
    first, second = spec.get("params1"), spec.get("params2")
    if first is None and second is None:
        params = spec.get("params")
        if isinstance(params, str):
            pieces = [p.strip() for p in params.split(",")]
        elif isinstance(params, list | tuple):
            pieces = [str(p) for p in params]
        else:
            pieces = []
        if len(pieces) == 2:
            first, second = pieces
    if not first or not second:
        raise ExprError("ConvertTwoStageObjectParser needs params1 and params2 (the outer and inner keys)")
    return str(first), str(second)


def compile_parser(spec: Mapping[str, Any] | str) -> Parser:
    """A parser function from its scheme spec (a mapping, or just the name).

    The parser is an entry point of its own: applied to any value it raises only ``ExprError``.
    """
    inner = total(parser_of, spec)

    def parse(value: Any) -> Any:
        return bounded(DEFAULT_LIMITS, inner, value)

    return parse


def parser_of(spec: Mapping[str, Any] | str) -> Parser:
    """The bare parser for ``spec``, for callers that already run inside a rendering's budget."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ExprError(
            f"a parser is a name or an object with 'name' and 'params', got {type(spec).__name__}"
        )
    name = spec.get("name")
    if name == "StringToArray":
        return _string_to_array(_separator(spec))
    if name == "ArrayToString":
        return _array_to_string(_separator(spec))
    if name == "ConvertJson":
        return _convert_json
    if name == "ConvertObjectParser":
        key = spec.get("params")
        if not isinstance(key, str) or not key:
            raise ExprError("ConvertObjectParser needs params: the key to wrap the value in, e.g. 'FNumber'")
        return _wrap(key)
    if name == "ConvertTwoStageObjectParser":
        return _wrap(*_two_stage_keys(spec))
    raise ExprError(f"unknown parser {shown(name)} (known: {', '.join(PARSER_NAMES)})")


def wrap_keys(spec: Mapping[str, Any] | str) -> tuple[str, ...] | None:
    """The keys a wrapping parser nests a value in (``("FNumber",)``), or None for the others.

    The request builder uses it to build ``{"FNumber": value}`` inline instead of calling.
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        return None
    name = spec.get("name")
    if name == "ConvertObjectParser":
        key = spec.get("params")
        return (key,) if isinstance(key, str) and key else None
    if name == "ConvertTwoStageObjectParser":
        try:
            return _two_stage_keys(spec)
        except ExprError:
            return None
    return None


def apply_parser(value: Any, spec: Mapping[str, Any] | str) -> Any:
    """Apply one parser to ``value`` (compiles the spec each call; use ``compile_parser`` in loops)."""
    return compile_parser(spec)(value)
