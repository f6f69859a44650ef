"""Request field types: converting a rendered value to ``string``, ``int``, ``number``, ``bool``...

Owns the converters (:data:`CONVERTERS`), the type names a scheme may use (Chinese ones
included, :data:`TYPE_NAMES`) and :func:`kind_of`. A number is read exactly (``Decimal``) and
measured against ``Limits.max_digits`` *before* ``int()`` or ``float()`` sees it: ``int()`` of
``"1e9999999"`` would build a ten-million-digit integer. A number field never carries NaN or an
infinity to a target (JSON has neither, and an amount must be a number).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ferry.expr.errors import ExprError, LimitExceeded, shown
from ferry.expr.limits import SHORT_TEXT, budget
from ferry.expr.paths import MISSING
from ferry.expr.variables import Context, to_datetime, to_text

Converter = Callable[[Any, Context], Any]

# float() of a decimal beyond this gives an infinity; JSON cannot carry one.
_FLOAT_EXPONENT = 308


def _empty(value: Any) -> bool:
    return value is None or value is MISSING or value == ""


def _digits_in(text: str) -> int:
    return sum(text.count(digit) for digit in "0123456789")


def _decimal_of(value: Any) -> Decimal | None:
    """The exact number in ``value`` (text may use thousands separators), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value.bit_length() > 4 * budget().limits.max_digits:
            budget().digits(int(value.bit_length() * 0.30103) + 1, f"the number {shown(value)}")
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        if len(value) > SHORT_TEXT:
            budget().text(value, "the value")
        cleaned = value.strip().replace(",", "")
        if len(cleaned) > 24:
            budget().digits(_digits_in(cleaned), f"the number {shown(value)}")
        try:
            return Decimal(cleaned)
        except InvalidOperation:
            return None
    return None


def _finite(number: Decimal | None, value: Any, kind: str) -> Decimal:
    if number is None or not number.is_finite():
        raise ExprError(f"cannot convert {shown(value)} to {kind}")
    return number


def _magnitude(number: Decimal, value: Any) -> None:
    limit = budget().limits.max_digits
    before_point = number.adjusted() + 1
    if before_point > limit:
        raise LimitExceeded(
            f"{shown(value)} has {before_point:,} digits before the point; the limit is {limit:,} "
            "(Limits.max_digits)",
            limit="max_digits",
        )


def as_string(value: Any, ctx: Context) -> Any:
    """The value as text (numbers without a spurious '.0', objects as JSON)."""
    if value is None or isinstance(value, str):
        return value
    return to_text(value)


def as_int(value: Any, ctx: Context) -> Any:
    """A whole number; text and decimals must be whole (``'12.5'`` is an error, not 12)."""
    if _empty(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = _finite(_decimal_of(value), value, "an integer")
    _magnitude(number, value)
    if number != number.to_integral_value():
        raise ExprError(f"{shown(value)} is not a whole number")
    return int(number)


#: plain decimal text (an optional minus, at most 11 digits either side of one point): what amounts
#: usually are. Both roads round it the same (correctly), and it is short of every limit checked below.
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,11}(?:\.[0-9]{1,11})?")


def as_number(value: Any, ctx: Context) -> Any:
    """A JSON number: ints stay ints, whole numeric text becomes an int, the rest a float."""
    if type(value) is str and _PLAIN_NUMBER.fullmatch(value):
        # the common case, without the exact Decimal road (a tenth of a mapped record's time)
        return float(value) if "." in value else int(value)
    if _empty(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError(f"cannot convert {shown(value)} to a number: it is not finite")
        return value
    number = _finite(_decimal_of(value), value, "a number")
    _magnitude(number, value)
    exponent = number.as_tuple().exponent
    if isinstance(value, str) and "." not in value and "e" not in value.lower() and isinstance(exponent, int):
        return int(number)
    if number.adjusted() > _FLOAT_EXPONENT:  # pragma: no cover - max_digits is far below 308
        raise ExprError(f"cannot convert {shown(value)} to a number: it is out of range")
    return float(number)


_TRUE = {"true", "1", "yes", "y", "on", "是", "t"}
_FALSE = {"false", "0", "no", "n", "off", "否", "f"}


def as_bool(value: Any, ctx: Context) -> Any:
    """A boolean from true/false, 1/0, yes/no, 是/否 and similar."""
    if _empty(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    text = to_text(value)
    if len(text) > SHORT_TEXT:  # no boolean is spelt that long, however padded
        raise ExprError(f"cannot convert {shown(value)} to a boolean")
    text = text.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ExprError(f"cannot convert {shown(value)} to a boolean")


def _json(value: str, kind: str) -> Any:
    if len(value) > SHORT_TEXT:
        budget().text(value, f"the text read as {kind}")
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        raise LimitExceeded(f"the JSON read as {kind} is nested too deeply", limit="depth") from None


def as_object(value: Any, ctx: Context) -> Any:
    """An object, or JSON text of one."""
    if _empty(value):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        parsed = _json(value, "an object")
        if isinstance(parsed, dict):
            return parsed
    raise ExprError(f"cannot convert {shown(value)} to an object")


def as_array(value: Any, ctx: Context) -> Any:
    """A list: lists pass, JSON text of a list is read, '' is [], anything else is wrapped."""
    if value is None or value is MISSING:
        return None
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if value == "":
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        parsed = _json(value, "a list")
        if isinstance(parsed, list):
            return parsed
    return [value]


def _time(kind: str) -> Converter:
    def convert(value: Any, ctx: Context) -> Any:
        if _empty(value):
            return None
        moment = to_datetime(value, ctx.zone)
        if moment is None:
            raise ExprError(f"cannot read {shown(value)} as a {kind}")
        if kind == "datetime":
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        if kind == "date":
            return moment.strftime("%Y-%m-%d")
        if kind == "timestamp":
            return int(moment.timestamp())
        return round(moment.timestamp() * 1000)

    return convert


CONVERTERS: dict[str, Converter] = {
    "string": as_string,
    "int": as_int,
    "number": as_number,
    "bool": as_bool,
    "object": as_object,
    "array": as_array,
    "datetime": _time("datetime"),
    "date": _time("date"),
    "timestamp": _time("timestamp"),
    "timestamp_ms": _time("timestamp_ms"),
}
#: The converters that do not read the context (the time kinds need its zone).
CONTEXT_FREE = frozenset({"string", "int", "number", "bool", "object", "array"})

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


def kind_of(type_name: Any) -> str | None:
    """The converter name for a scheme's ``type`` (None when no type is given)."""
    if type_name in (None, ""):
        return None
    text = str(type_name).strip()
    kind = _TYPE_ALIASES.get(text) or _TYPE_ALIASES.get(text.lower())
    if kind is None:
        raise ExprError(
            f"unknown type {shown(type_name)} (known: string, int, integer, number, float, boolean, bool, "
            "object, array, datetime, date, timestamp, timestamp_ms)"
        )
    return kind
