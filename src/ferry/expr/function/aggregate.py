"""``_function`` aggregates over a child table's values: SUM, AVG, MAX, MIN, COUNT (NULLs skipped)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ferry.expr import mysql
from ferry.expr.function import numbers


def total(values: list[Any]) -> Any:
    """SUM: NULLs (and NaN, which MySQL has not) are skipped; JSON numbers add up exactly."""
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
