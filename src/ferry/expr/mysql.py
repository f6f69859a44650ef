"""MySQL value semantics for ``_function``: coercion, arithmetic, comparison, dates, LIKE.

Owns the behaviour of values inside an expression; :mod:`ferry.expr.function` owns the syntax
and :mod:`ferry.expr.mysqltime` the reading and formatting of dates.
Values are ``None`` (NULL), ``int``, ``Decimal``, ``float``, ``str``, ``datetime``/``date``
(naive, wall-clock in the context's zone, like a MySQL session time zone).

Deliberate choices (see docs/expressions.md):

* numeric strings become exact numbers (``'0.1' + '0.2'`` is ``0.3``, not MySQL's double
  ``0.30000000000000004``) because these expressions mostly compute money;
* ``/`` follows MySQL: NULL on division by zero, result scale = scale of the dividend + 4;
* string comparison is binary (case-sensitive), not MySQL's default case-insensitive collation;
* numbers are bounded: 65 significant digits (MySQL DECIMAL) and |exponent| < 1000;
  ``int`` results beyond 64 bits continue as Decimal; a number read from text may have at most
  ``Limits.max_digits`` digits. Strings built here are checked against
  ``Limits.max_result_chars`` before they are built (see :mod:`ferry.expr.limits`).
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from ferry.expr.errors import ExprError, LimitExceeded, shown
from ferry.expr.limits import DEFAULT_LIMITS, SHORT_TEXT, budget
from ferry.expr.mysqltime import to_datetime
from ferry.expr.variables import json_text

MAX_STRING = DEFAULT_LIMITS.max_result_chars
"""Longest string an expression may produce by default (characters; ``Limits.max_result_chars``)."""

DEC = decimal.Context(
    prec=65,
    rounding=ROUND_HALF_UP,
    Emax=999,
    Emin=-999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_INT64 = 1 << 63


class ValueTooLarge(LimitExceeded):
    """A number outgrew the DECIMAL range (65 digits, exponent below 1000) or ``Limits.max_digits``."""

    def __init__(self, message: str, *, limit: str = "max_digits", **where: Any) -> None:
        super().__init__(message, limit=limit, **where)


def room(size: int, what: str) -> None:
    """Check, before building it, that a text of ``size`` characters may be built by ``what``."""
    budget().result(size, what)


def bound_int(value: int) -> int | Decimal:
    if -_INT64 <= value < _INT64:
        return value
    try:
        return DEC.create_decimal(value)
    except decimal.Overflow:
        raise ValueTooLarge("numeric value out of range") from None


def admit(value: Any, source: str) -> Any:
    """A record value as it enters an expression, checked against the limits; ``source`` names it.

    Floats become exact decimals (NaN and infinities are NULL, as MySQL has no such numbers),
    as do non-finite decimals; a decimal beyond the DECIMAL range and a text longer than
    ``Limits.max_text_chars`` are refused before anything computes with them.
    """
    kind = type(value)
    if kind is str:
        if len(value) > SHORT_TEXT:
            budget().text(value, f"value of {source}")
        return value
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if kind is Decimal:
        if not value.is_finite():
            return None
        if not -999 <= value.adjusted() <= 999:
            raise ValueTooLarge(f"value of {source} is out of the DECIMAL range (exponent below 1000)")
    return value


# ----------------------------------------------------------------------------- coercion

_NUM_PREFIX = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+)?")


def num(value: Any) -> int | Decimal | float | None:
    """The number MySQL would read from ``value`` ('12abc' -> 12, 'abc' -> 0)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        return value
    if isinstance(value, str):
        match = _NUM_PREFIX.match(value)
        if not match:
            return 0
        mantissa, exponent = match.groups()
        if len(mantissa) > 20:
            check_digits(mantissa, value)
        if exponent:
            if len(exponent) > 6:  # beyond 1e±99999: certainly out of range (or zero)
                return _finite(float("inf") if exponent[1] != "-" else 0.0)
            return _finite(float(mantissa + exponent))
        if "." in mantissa:
            return DEC.create_decimal(mantissa)
        return bound_int(int(mantissa))
    if isinstance(value, datetime):
        return int(value.strftime("%Y%m%d%H%M%S"))
    if isinstance(value, date):
        return int(value.strftime("%Y%m%d"))
    raise ExprError(f"cannot use a {type(value).__name__} value as a number")


def check_digits(mantissa: str, source: Any) -> None:
    """Refuse a number text with more significant digits than ``Limits.max_digits``."""
    digits = len(mantissa.lstrip("+-").replace(".", "").lstrip("0"))
    limit = budget().limits.max_digits
    if digits > limit:
        raise ValueTooLarge(
            f"number {shown(source)} has {digits:,} digits; the limit is {limit:,} (Limits.max_digits)"
        )


def py_number(value: Any) -> int | Decimal | float | None:
    """``num`` for values that arrive from records: floats become exact decimals by their repr."""
    if type(value) is float:
        if not math.isfinite(value):
            return None
        return Decimal(repr(value))
    if type(value) is Decimal and not value.is_finite():
        return None
    return num(value)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueTooLarge("numeric value out of range")
    return value


def text(value: Any) -> str | None:
    """The string MySQL would make of ``value``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dict):
        return json_text(value)
    raise ExprError(f"cannot use a {type(value).__name__} value as text")


def truth(value: Any) -> bool | None:
    """MySQL truthiness: NULL stays unknown; numbers by != 0; strings by their number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    n = num(value)
    return n != 0


def as_int(value: Any) -> int | None:
    """An integer argument (lengths, positions, counts): rounded like MySQL, clamped to 64 bits."""
    n = num(value)
    if n is None:
        return None
    if isinstance(n, int):
        return n if -_INT64 <= n < _INT64 else (_INT64 if n > 0 else -_INT64)
    exact = Decimal(repr(n)) if isinstance(n, float) else n
    if not exact.is_finite():
        return None
    if exact.adjusted() > 18:  # beyond 64 bits; no need to build the integer
        return _INT64 if exact > 0 else -_INT64
    return int(exact.to_integral_value(ROUND_HALF_UP))


# ----------------------------------------------------------------------------- arithmetic


def _decimal_op(op: Callable[[Any, Any], Decimal], a: Any, b: Any) -> Decimal:
    try:
        return op(a, b)
    except ArithmeticError:  # Overflow, or DivisionImpossible for 1e300 % 7 at 65 digits
        raise ValueTooLarge("numeric value out of range") from None


def add(a: Any, b: Any) -> Any:
    a, b = num(a), num(b)
    if a is None or b is None:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return _finite(float(a) + float(b))
    if isinstance(a, int) and isinstance(b, int):
        return bound_int(a + b)
    return _decimal_op(DEC.add, a, b)


def sub(a: Any, b: Any) -> Any:
    a, b = num(a), num(b)
    if a is None or b is None:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return _finite(float(a) - float(b))
    if isinstance(a, int) and isinstance(b, int):
        return bound_int(a - b)
    return _decimal_op(DEC.subtract, a, b)


def mul(a: Any, b: Any) -> Any:
    a, b = num(a), num(b)
    if a is None or b is None:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return _finite(float(a) * float(b))
    if isinstance(a, int) and isinstance(b, int):
        return bound_int(a * b)
    return _decimal_op(DEC.multiply, a, b)


def _scale(value: int | Decimal) -> int:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return 0


def div(a: Any, b: Any) -> Any:
    """MySQL ``/``: NULL for x/0; exact operands give scale(a) + 4 decimals."""
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return _finite(float(a) / float(b))
    scale = min(_scale(a) + 4, 30)
    try:
        quotient = DEC.divide(a, b)
        return quotient.quantize(Decimal(1).scaleb(-scale), context=DEC)
    except (decimal.Overflow, decimal.InvalidOperation):
        raise ValueTooLarge("numeric value out of range") from None


def intdiv(a: Any, b: Any) -> Any:
    """MySQL ``DIV``: integer division truncating toward zero; NULL on zero."""
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return bound_int(q if (a >= 0) == (b >= 0) else -q)
    quotient = Decimal(repr(a)) if isinstance(a, float) else Decimal(a)
    divisor = Decimal(repr(b)) if isinstance(b, float) else Decimal(b)
    try:
        return int(DEC.divide(quotient, divisor).to_integral_value(ROUND_DOWN))
    except (decimal.Overflow, decimal.InvalidOperation):
        raise ValueTooLarge("numeric value out of range") from None


def mod(a: Any, b: Any) -> Any:
    """MySQL ``%``/``MOD``: the sign follows the dividend; NULL on zero."""
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(float(a), float(b))
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return _decimal_op(DEC.remainder, a, b)


def neg(a: Any) -> Any:
    a = num(a)
    if a is None:
        return None
    if isinstance(a, int):
        return bound_int(-a)
    if isinstance(a, Decimal):
        return DEC.minus(a)  # unary minus would round to the default context's 28 digits
    return -a


# ----------------------------------------------------------------------------- comparison


def compare(a: Any, b: Any, tz: tzinfo) -> int | None:
    """-1/0/1 like MySQL would compare; None when either side is NULL."""
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if isinstance(a, date) or isinstance(b, date):
        da, db = to_datetime(a, tz), to_datetime(b, tz)
        if da is None or db is None:
            return None
        return (da > db) - (da < db)
    x, y = num(a), num(b)
    if x is None or y is None:  # pragma: no cover - num() returns None only for None
        return None
    if isinstance(x, Decimal) and isinstance(y, float):
        x = float(x)
    elif isinstance(y, Decimal) and isinstance(x, float):
        y = float(y)
    return (x > y) - (x < y)  # type: ignore[operator]


# ----------------------------------------------------------------------------- dates


def from_unixtime(seconds: Any, tz: tzinfo) -> datetime | None:
    n = num(seconds)
    if n is None or n < 0:
        return None
    try:
        return datetime.fromtimestamp(float(n), tz).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None
