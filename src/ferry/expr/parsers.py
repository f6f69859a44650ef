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

from ferry.expr.errors import ExprError
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
        raise ExprError(f"parser {spec.get('name')}: params must be a separator string, got {params!r}")
    return params


def _string_to_array(separator: str) -> Parser:
    def parse(value: Any) -> Any:
        if value is None or isinstance(value, list):
            return value
        text = to_text(value)
        if not text.strip():
            return []
        return text.split(separator)

    return parse


def _array_to_string(separator: str) -> Parser:
    def parse(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return separator.join(to_text(item) for item in value)
        return value

    return parse


def _convert_json(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        cleaned = value.replace("\r", "").replace("\n", "")
        if not cleaned.strip():
            return None
        try:
            value = json.loads(cleaned)
        except json.JSONDecodeError as exc:
            raise ExprError(f"ConvertJson: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if isinstance(value, list):
            return value
    if not isinstance(value, Mapping):
        raise ExprError(f"ConvertJson: expected a JSON object, got {type(value).__name__}")
    return [{"Key": int(key) if str(key).isdigit() else key, "Value": item} for key, item in value.items()]


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
    """A parser function from its scheme spec (a mapping, or just the name)."""
    if isinstance(spec, str):
        spec = {"name": spec}
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
    raise ExprError(f"unknown parser {name!r} (known: {', '.join(PARSER_NAMES)})")


def apply_parser(value: Any, spec: Mapping[str, Any] | str) -> Any:
    """Apply one parser to ``value`` (compiles the spec each call; use ``compile_parser`` in loops)."""
    return compile_parser(spec)(value)
