"""``_function`` aggregates over a child table's values: SUM, AVG, MAX, MIN, COUNT (NULLs skipped)."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ferry.expr import mysql
from ferry.expr.function import numbers

# The money fast path: JSON numbers below 1e9 with at most 6 decimals, added as integers of
# millionths. Below 1e9 a double's spacing is under 1e-6, so the one decimal of at most 6 places
# that rounds to it is what repr() prints, and the sum equals Decimal(repr(x)) added up.
_MILLION = 10**6


def _money_total(values: list[Any]) -> Decimal | None:
    """SUM of such floats (None skipped) with Decimal(repr())'s exponent, or None to go the slow way."""
    scaled = []
    for value in values:
        if type(value) is float:
            if not -1e9 < value < 1e9:
                return None
            micros = round(value * 1e6)
            if micros / 1e6 != value:
                return None
            scaled.append(micros)
        elif value is not None:
            return None
    whole = sum(scaled)
    if not scaled or whole == 0:  # no values, or a zero whose sign the slow way keeps
        return None
    # The most decimals any value has (repr writes 3000.0 with one), from the common factor of 10.
    common = math.gcd(*scaled, _MILLION)
    places = 6
    while places > 1 and common % 10 == 0:
        common //= 10
        places -= 1
    return Decimal(whole // 10 ** (6 - places)).scaleb(-places)


def total(values: list[Any]) -> Any:
    """SUM: NULLs (and NaN, which MySQL has not) are skipped; JSON numbers add up exactly."""
    fast = _money_total(values)
    if fast is not None:
        return fast
    acc: Any = None
    add = mysql.DEC.add
    for value in values:
        if type(value) is float:
            if value - value != 0.0:  # NaN or an infinity
                continue
            number: Any = Decimal(repr(value))  # the common money case, inline
        elif value is None:
            continue
        else:
            number = mysql.py_number(value)
            if number is None:
                continue
        if acc is None:
            acc = number
        elif type(acc) is Decimal and type(number) is Decimal:
            acc = add(acc, number)
        else:
            acc = mysql.add(acc, number)
    return acc


def average(values: list[Any]) -> Any:
    present = [mysql.py_number(v) for v in values if v is not None]
    if not present:
        return None
    return mysql.div(total(present), len(present))


def extreme(pick_max: bool) -> Callable[[list[Any]], Any]:
    pick = numbers.extreme(pick_max)

    def run(values: list[Any]) -> Any:
        present = [mysql.py_number(v) if isinstance(v, float) else v for v in values if v is not None]
        return pick(present) if present else None

    return run


def count(values: list[Any]) -> Any:
    return sum(1 for v in values if v is not None)
