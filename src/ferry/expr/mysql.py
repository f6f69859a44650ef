"""MySQL value semantics for ``_function``: coercion, arithmetic, comparison, dates, LIKE.

Owns the behaviour of values inside an expression; :mod:`ferry.expr.function` owns the syntax.
Values are ``None`` (NULL), ``int``, ``Decimal``, ``float``, ``str``, ``datetime``/``date``
(naive, wall-clock in the context's zone, like a MySQL session time zone).

Deliberate choices (see docs/expressions.md):

* numeric strings become exact numbers (``'0.1' + '0.2'`` is ``0.3``, not MySQL's double
  ``0.30000000000000004``) because these expressions mostly compute money;
* ``/`` follows MySQL: NULL on division by zero, result scale = scale of the dividend + 4;
* string comparison is binary (case-sensitive), not MySQL's default case-insensitive collation;
* numbers are bounded: 65 significant digits (MySQL DECIMAL) and |exponent| < 1000;
  ``int`` results beyond 64 bits continue as Decimal. Strings are capped at ``MAX_STRING``.
"""

from __future__ import annotations

import calendar
import decimal
import functools
import math
import re
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from ferry.expr.errors import ExprError

MAX_STRING = 1_000_000
"""Longest string an expression may produce (characters)."""

DEC = decimal.Context(
    prec=65,
    rounding=ROUND_HALF_UP,
    Emax=999,
    Emin=-999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_INT64 = 1 << 63


class ValueTooLarge(ExprError):
    """A number or string outgrew the expression limits."""


def cap(text: str) -> str:
    if len(text) > MAX_STRING:
        raise ValueTooLarge(f"string result longer than {MAX_STRING} characters")
    return text


def bound_int(value: int) -> int | Decimal:
    if -_INT64 <= value < _INT64:
        return value
    try:
        return DEC.create_decimal(value)
    except decimal.Overflow:
        raise ValueTooLarge("numeric value out of range") from None


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
        if len(mantissa) > 70:
            raise ValueTooLarge(f"number {value[:40]!r}... has too many digits")
        if exponent:
            return _finite(float(mantissa + exponent))
        if "." in mantissa:
            return DEC.create_decimal(mantissa)
        return bound_int(int(mantissa))
    if isinstance(value, datetime):
        return int(value.strftime("%Y%m%d%H%M%S"))
    if isinstance(value, date):
        return int(value.strftime("%Y%m%d"))
    raise ExprError(f"cannot use a {type(value).__name__} value as a number")


def py_number(value: Any) -> int | Decimal | float | None:
    """``num`` for values that arrive from records: floats become exact decimals by their repr."""
    if type(value) is float:
        if not math.isfinite(value):
            return None
        return Decimal(repr(value))
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
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
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
    """An integer argument (lengths, positions): rounded like MySQL."""
    n = num(value)
    if n is None:
        return None
    if isinstance(n, int):
        return n
    if isinstance(n, float):
        return int(Decimal(repr(n)).to_integral_value(ROUND_HALF_UP))
    return int(n.to_integral_value(ROUND_HALF_UP))


# ----------------------------------------------------------------------------- arithmetic


def _decimal_op(op: Callable[[Any, Any], Decimal], a: Any, b: Any) -> Decimal:
    try:
        return op(a, b)
    except decimal.Overflow:
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

_DT_RE = re.compile(
    r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?)?\s*$"
)


def to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    """MySQL's reading of a DATETIME argument (naive); numbers are YYYYMMDD[hhmmss] as in MySQL."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        match = _DT_RE.match(value)
        if match:
            y, mo, d, h, mi, s, f = match.groups()
            try:
                return datetime(
                    int(y),
                    int(mo),
                    int(d),
                    int(h or 0),
                    int(mi or 0),
                    int(s or 0),
                    int((f or "0").ljust(6, "0")),
                )
            except ValueError:
                return None
        stripped = value.strip()
        if not stripped.isdigit():
            return None
        return _numeric_datetime(int(stripped))
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal | float):
        return _numeric_datetime(int(value))
    return None


def _numeric_datetime(number: int) -> datetime | None:
    """MySQL reads numbers as YYYYMMDD or YYYYMMDDhhmmss."""
    digits = str(number)
    try:
        if len(digits) == 8:
            return datetime.strptime(digits, "%Y%m%d")
        if len(digits) == 14:
            return datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return None


def from_unixtime(seconds: Any, tz: tzinfo) -> datetime | None:
    n = num(seconds)
    if n is None or n < 0:
        return None
    try:
        return datetime.fromtimestamp(float(n), tz).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None


def unix_timestamp(value: datetime, tz: tzinfo) -> int:
    return int(value.replace(tzinfo=tz).timestamp())


_FORMAT_CODE = re.compile(r"%(-?)(.)", re.S)
_MONTHS = tuple(calendar.month_name)
_MONTHS_ABBR = tuple(calendar.month_abbr)
_DAYS = tuple(calendar.day_name)
_DAYS_ABBR = tuple(calendar.day_abbr)


def _suffix(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def format_datetime(moment: datetime | date, fmt: str) -> str:
    """Format with sqlglot-normalised MySQL codes (``%i`` has already become ``%M`` etc.).

    Locale-independent (English names), unlike ``strftime``.
    """
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)

    def code(match: re.Match[str]) -> str:
        dash, letter = match.groups()
        m = moment
        if dash:
            plain = {"m": m.month, "d": m.day, "H": m.hour, "I": (m.hour % 12) or 12}.get(letter)
            return str(plain) if plain is not None else letter
        if letter == "Y":
            return f"{m.year:04d}"
        if letter == "y":
            return f"{m.year % 100:02d}"
        if letter == "m":
            return f"{m.month:02d}"
        if letter == "d":
            return f"{m.day:02d}"
        if letter == "H":
            return f"{m.hour:02d}"
        if letter == "I":
            return f"{(m.hour % 12) or 12:02d}"
        if letter == "M":
            return f"{m.minute:02d}"
        if letter == "S":
            return f"{m.second:02d}"
        if letter == "f":
            return f"{m.microsecond:06d}"
        if letter == "p":
            return "AM" if m.hour < 12 else "PM"
        if letter == "B":
            return _MONTHS[m.month]
        if letter == "b":
            return _MONTHS_ABBR[m.month]
        if letter == "A":
            return _DAYS[m.weekday()]
        if letter == "a":
            return _DAYS_ABBR[m.weekday()]
        if letter == "j":
            return f"{m.timetuple().tm_yday:03d}"
        if letter == "D":
            return f"{m.day}{_suffix(m.day)}"
        if letter == "w":
            return str((m.weekday() + 1) % 7)
        if letter == "%":
            return "%"
        # MySQL prints an unknown specifier's letter without the '%'.
        return letter

    return _FORMAT_CODE.sub(code, fmt)


@functools.lru_cache(maxsize=256)
def normalise_mysql_format(fmt: str) -> str:
    """Translate a MySQL DATE_FORMAT string the way sqlglot does for literal formats."""
    from sqlglot.dialects.mysql import MySQL
    from sqlglot.time import format_time

    return format_time(fmt, MySQL.TIME_MAPPING, MySQL.TIME_TRIE) or ""


# ----------------------------------------------------------------------------- LIKE


@functools.lru_cache(maxsize=512)
def like_matcher(pattern: str, escape: str = "\\") -> Callable[[str], bool]:
    """A matcher for a SQL LIKE pattern (``%`` any run, ``_`` one character), case-sensitive.

    Works segment by segment with fixed-width regexes, so time is bounded by
    len(text) * len(pattern) with no backtracking blow-up.
    """
    segments: list[list[str | None]] = [[]]  # None stands for '_'
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape and i + 1 < len(pattern):
            segments[-1].append(pattern[i + 1])
            i += 2
            continue
        if ch == "%":
            segments.append([])
        elif ch == "_":
            segments[-1].append(None)
        else:
            segments[-1].append(ch)
        i += 1
    compiled = [
        (re.compile("".join("." if c is None else re.escape(c) for c in seg), re.S), len(seg))
        for seg in segments
    ]

    if len(compiled) == 1:
        only = compiled[0][0]
        return lambda subject: only.fullmatch(subject) is not None

    first, *middle, last = compiled

    def match(subject: str) -> bool:
        regex, width = first
        if not regex.match(subject):
            return False
        pos = width
        for regex, _ in middle:
            found = regex.search(subject, pos)
            if found is None:
                return False
            pos = found.end()
        regex, width = last
        tail = len(subject) - width
        return tail >= pos and regex.fullmatch(subject, tail) is not None

    return match
