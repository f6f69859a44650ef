"""``_function`` aggregates over a child table's values: SUM, AVG, MAX, MIN, COUNT (NULLs skipped)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ferry.expr import mysql
from ferry.expr.function import numbers


def total(values: list[Any]) -> Any:
    total: Any = None
    for value in values:
        if value is None:
            continue
        number = mysql.py_number(value)
        if total is None:
            total = number
        elif type(total) is type(number) is Decimal:
            total = mysql.DEC.add(total, number)  # the common money case, without re-coercion
        else:
            total = mysql.add(total, number)
    return total


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
