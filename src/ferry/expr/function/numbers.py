"""``_function`` number functions: ROUND, TRUNCATE, ABS, CEIL, FLOOR, POW, CAST AS SIGNED, GREATEST/LEAST."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from ferry.expr import mysql

# ROUND(x, d) for d in -70..30: the quantum 1E-d, made once.
_QUANTUM = {digits: Decimal(1).scaleb(-digits) for digits in range(-70, 31)}


def round_number(value: Any, places: Any = None, mode: str = ROUND_HALF_UP) -> Any:
    number = mysql.num(value)
    digits = 0 if places is None else places if type(places) is int else mysql.as_int(places)
    if number is None or digits is None:
        return None
    digits = max(min(digits, 30), -70)
    exact = (
        number
        if type(number) is Decimal
        else Decimal(repr(number))
        if isinstance(number, float)
        else Decimal(number)
    )
    try:
        rounded = exact.quantize(_QUANTUM[digits], rounding=mode, context=mysql.DEC)
    except ArithmeticError:
        raise mysql.ValueTooLarge("numeric value out of range") from None
    if isinstance(number, float):
        return float(rounded)
    if isinstance(number, int) or digits <= 0:
        return mysql.bound_int(int(rounded))
    return rounded


def truncate(value: Any, places: Any) -> Any:
    return round_number(value, places, ROUND_DOWN)


def absolute(value: Any) -> Any:
    number = mysql.num(value)
    if isinstance(number, Decimal):
        return mysql.DEC.abs(number)  # abs() would round to the default context's 28 digits
    return None if number is None else abs(number)


def ceil(value: Any) -> Any:
    number = mysql.num(value)
    if number is None:
        return None
    return mysql.bound_int(math.ceil(number))


def floor(value: Any) -> Any:
    number = mysql.num(value)
    if number is None:
        return None
    return mysql.bound_int(math.floor(number))


def power(base: Any, exponent: Any) -> Any:
    a, b = mysql.num(base), mysql.num(exponent)
    if a is None or b is None:
        return None
    try:
        result = math.pow(float(a), float(b))
    except (OverflowError, ValueError):
        raise mysql.ValueTooLarge("numeric value out of range in POW") from None
    if not math.isfinite(result):
        raise mysql.ValueTooLarge("numeric value out of range in POW")
    return result


def cast_int(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        number = mysql.num(value)
        assert number is not None
        return mysql.bound_int(int(number))  # strings truncate, as in MySQL
    return mysql.as_int(value)


def extreme(pick_max: bool) -> Callable[[list[Any]], Any]:
    def pick(values: list[Any]) -> Any:
        if any(v is None for v in values):
            return None
        best = values[0]
        from datetime import UTC

        for value in values[1:]:
            order = mysql.compare(value, best, UTC)
            if order is not None and (order > 0 if pick_max else order < 0):
                best = value
        return best

    return pick
