"""Static value maps (静态映射): translate a rendered value through a fixed table.

Owns :func:`apply_value_map` and :func:`compile_value_map`. ``{"A": "101", "B": "102"}`` maps
by the value's text (JSON keys are strings, so ``1`` and ``"1"`` both match ``"1"``). A value not
in the map is returned unchanged unless a ``default`` is given; ``None`` is mapped only when the
map has an entry for ``""``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ferry.expr.errors import ExprError
from ferry.expr.limits import DEFAULT_LIMITS, bounded, budget, total
from ferry.expr.variables import to_text

_NO_DEFAULT: Final[Any] = object()


def compile_value_map(mapping: Mapping[Any, Any], default: Any = _NO_DEFAULT) -> Callable[[Any], Any]:
    """A function applying ``mapping`` (keys compared as text); it raises only ``ExprError``."""
    inner = total(value_map_of, mapping, default)

    def apply(value: Any) -> Any:
        return bounded(DEFAULT_LIMITS, inner, value)

    return apply


def value_map_table(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """The map by the text of its keys: a text value ``v`` maps to ``table.get(v, v)``."""
    if not isinstance(mapping, Mapping):
        raise ExprError(f"a value map is an object of value -> replacement, got {type(mapping).__name__}")
    return {to_text(key): value for key, value in mapping.items()}


def value_map_of(mapping: Mapping[Any, Any], default: Any = _NO_DEFAULT) -> Callable[[Any], Any]:
    """The bare mapping function, for callers that already run inside a rendering's budget."""
    table = value_map_table(mapping)
    has_default = default is not _NO_DEFAULT

    def apply(value: Any) -> Any:
        if isinstance(value, list):
            budget().items(len(value), "the list given to a value map")
            return [apply(item) for item in value]
        key = to_text(value)
        if key in table:
            return table[key]
        return default if has_default else value

    return apply


def apply_value_map(value: Any, mapping: Mapping[Any, Any], default: Any = _NO_DEFAULT) -> Any:
    """Map one value (a list is mapped element by element)."""
    return compile_value_map(mapping, default)(value)
