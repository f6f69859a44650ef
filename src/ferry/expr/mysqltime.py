"""MySQL dates for ``_function``: reading a DATETIME argument and ``DATE_FORMAT``'s specifiers.

Owns :func:`to_datetime` (MySQL's reading: text ``YYYY-MM-DD[ hh:mm:ss[.f]]``, numbers as
``YYYYMMDD[hhmmss]``), :func:`format_datetime` (English names whatever the locale, the result's
size checked before it is built) and :func:`normalise_mysql_format` (a MySQL format string as
sqlglot translates a literal one). Text is read as a date only when at most 64 characters once
stripped, so no regular expression ever sees a long value.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from sqlglot.dialects.mysql import MySQL

from ferry.expr.limits import budget

_MAX_DATE_TEXT = 64
_DT_RE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?)?"
)


def to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    """MySQL's reading of a DATETIME argument (naive); numbers are YYYYMMDD[hhmmss] as in MySQL."""
    try:
        return _to_datetime(value, tz)
    except (ValueError, OverflowError, ArithmeticError):
        return None


def _to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        # A date is short: longer text is not one, and the pattern never sees it.
        stripped = value.strip()
        if len(stripped) > _MAX_DATE_TEXT:
            return None
        match = _DT_RE.fullmatch(stripped)
        if match:
            y, mo, d, h, mi, s, f = match.groups()
            return datetime(
                int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), int((f or "0").ljust(6, "0"))
            )
        if stripped.isascii() and stripped.isdigit():
            return _numeric_datetime(int(stripped))
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _numeric_datetime(value) if 10**7 <= value < 10**14 else None
    if isinstance(value, Decimal | float):
        if not math.isfinite(value) or not 1e7 <= value < 1e14:
            return None
        return _numeric_datetime(int(value))
    return None


def _numeric_datetime(number: int) -> datetime | None:
    """MySQL reads numbers as YYYYMMDD or YYYYMMDDhhmmss."""
    digits = str(number)
    if len(digits) == 8:
        return datetime.strptime(digits, "%Y%m%d")
    if len(digits) == 14:
        return datetime.strptime(digits, "%Y%m%d%H%M%S")
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

    Locale-independent (English names), unlike ``strftime``. The result's size is checked
    before it is built: a specifier gives at most 9 characters (``September``).
    """
    budget().result(len(fmt) + 7 * fmt.count("%"), "DATE_FORMAT")
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


# sqlglot's own translation walks a trie in Python (about 2.5 us a character); its mapping has
# only two-character keys, so one regular expression gives the same result in C.
_MYSQL_CODES: dict[str, str] = dict(MySQL.TIME_MAPPING)
_MYSQL_CODE = re.compile("%[" + "".join(re.escape(key[1]) for key in _MYSQL_CODES) + "]")
assert all(len(key) == 2 and key[0] == "%" for key in _MYSQL_CODES)


def normalise_mysql_format(fmt: str) -> str:
    """Translate a MySQL DATE_FORMAT string the way sqlglot does for literal formats."""
    return _MYSQL_CODE.sub(lambda match: _MYSQL_CODES[match.group()], fmt)
