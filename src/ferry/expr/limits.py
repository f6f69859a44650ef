"""Bounded evaluation: the limits one rendering runs under, and the budget that enforces them.

Owns :class:`Limits` (a small value object with safe defaults, carried by ``Context.limits``)
and :class:`Budget` (one rendering's limits plus its deadline). Every public entry point of
:mod:`ferry.expr` opens a budget for the duration of the call (:func:`open_budget` /
:func:`close_budget`); the evaluator reads it with :func:`budget` on its slow paths only, so a
well-behaved record pays almost nothing.

Why: values come from upstream systems and are hostile, and rendering runs on the event loop,
where one slow record stalls every scheme. So each check happens *before* the work or the value
it guards (a ``CONCAT`` adds up its parts' lengths before joining them), and each breach raises
:class:`~ferry.expr.errors.LimitExceeded` naming the limit and the value, which compat mode never
turns into raw text. The defaults are far above realistic finance data (amounts with 2-6
decimals, Chinese text, tables of a few hundred rows); see docs/expressions.md, "Limits".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from ferry.errors import FerryError
from ferry.expr.errors import ExprError, LimitExceeded, translate

_T = TypeVar("_T")

# How much work (characters scanned, rows visited) may pass between two looks at the clock.
_WORK_PER_CLOCK_CHECK = 65_536

#: Texts up to this long are never measured against the limits (which are at least this large),
#: so the common short value costs one ``len()``.
SHORT_TEXT = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    """What one rendering may read, build and spend.

    ``max_text_chars``: the longest text value (from a record, a variable or a lookup) that the
    evaluator will look at. ``max_result_chars``: the longest text it will build (checked before
    building). ``max_items``: the most rows or list items it will read or build (a table, an
    aggregate's values, a split text). ``max_digits``: the most digits a number may have before
    its point, and the most significant digits read from a text, checked before any conversion.
    ``time_budget``: wall-clock seconds for one rendering (one record through a builder, a
    template, a condition or a format), looked at every so often inside the evaluator.
    """

    max_text_chars: int = 1_000_000
    max_result_chars: int = 1_000_000
    max_items: int = 10_000
    max_digits: int = 65
    time_budget: float = 1.0

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ExprError(f"Limits.{spec.name} must be a positive number, got {value!r}")
        for name in ("max_text_chars", "max_result_chars"):
            if getattr(self, name) < SHORT_TEXT:
                raise ExprError(f"Limits.{name} must be at least {SHORT_TEXT:,}: ordinary remarks are longer")

    @classmethod
    def unlimited(cls) -> Limits:
        """Limits too large to matter and no time budget (for benchmarks and trusted offline use)."""
        huge = 1 << 62
        return cls(huge, huge, huge, huge, math.inf)


DEFAULT_LIMITS = Limits()


class Budget:
    """One rendering's limits and deadline; the checks raise ``LimitExceeded`` naming the value."""

    __slots__ = ("_work", "deadline", "limits")

    def __init__(self, limits: Limits, deadline: float | None = None) -> None:
        self.limits = limits
        self.deadline = deadline if deadline is not None else time.monotonic() + limits.time_budget
        self._work = 0

    def check_time(self) -> None:
        """Raise once the rendering has run past its deadline."""
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"rendering took longer than its time budget of {self.limits.time_budget:g} s "
                "(Limits.time_budget)",
                limit="time_budget",
            )

    def spend(self, units: int) -> None:
        """Account for ``units`` of work (characters, rows); looks at the clock every so often."""
        self._work += units
        if self._work >= _WORK_PER_CLOCK_CHECK:
            self._work = 0
            self.check_time()

    def text(self, value: str, what: str) -> str:
        """``value`` if it is short enough to look at; ``what`` names it ("value of 付款金额")."""
        limit = self.limits.max_text_chars
        if len(value) > limit:
            raise LimitExceeded(
                f"{what} has {len(value):,} characters; the limit is {limit:,} (Limits.max_text_chars)",
                limit="max_text_chars",
            )
        self.spend(len(value) >> 4)
        return value

    def result(self, size: int, what: str) -> None:
        """Check the size of a text about to be built by ``what`` ("CONCAT", "|datetime")."""
        limit = self.limits.max_result_chars
        if size > limit:
            raise LimitExceeded(
                f"{what} would build {size:,} characters; the limit is {limit:,} (Limits.max_result_chars)",
                limit="max_result_chars",
            )
        self.spend(size >> 4)

    def items(self, count: int, what: str) -> None:
        """Check the number of rows or items about to be read or built."""
        limit = self.limits.max_items
        if count > limit:
            raise LimitExceeded(
                f"{what} has {count:,} items; the limit is {limit:,} (Limits.max_items)", limit="max_items"
            )
        self._work += count
        if self._work >= _WORK_PER_CLOCK_CHECK:
            self._work = 0
            self.check_time()

    def digits(self, count: int, what: str) -> None:
        """Check a number's digits before it is converted or computed with."""
        limit = self.limits.max_digits
        if count > limit:
            raise LimitExceeded(
                f"{what} has {count:,} digits; the limit is {limit:,} (Limits.max_digits)",
                limit="max_digits",
            )


# When nothing is open (a helper called directly), the default limits hold without a clock.
_UNTIMED = Budget(DEFAULT_LIMITS, deadline=math.inf)
_ACTIVE: ContextVar[Budget | None] = ContextVar("ferry_expr_budget", default=None)


def budget() -> Budget:
    """The budget of the rendering under way (default limits, no deadline, if none is)."""
    active = _ACTIVE.get()
    return _UNTIMED if active is None else active


def open_budget(limits: Limits) -> Token[Budget | None] | None:
    """Start a rendering's budget unless one with the same limits is already open (nested calls
    share the outer deadline). Pass the result to :func:`close_budget`."""
    active = _ACTIVE.get()
    if active is not None and active.limits is limits:
        return None
    return _ACTIVE.set(Budget(limits))


def close_budget(token: Token[Budget | None] | None) -> None:
    """End what :func:`open_budget` started."""
    if token is not None:
        _ACTIVE.reset(token)


def bounded(limits: Limits, work: Callable[..., _T], *args: Any) -> _T:
    """Run ``work(*args)`` as one rendering under ``limits``: nothing but an ``ExprError`` (or
    another part of Ferry's own error, such as a lookup's store failing) comes out of it."""
    token = open_budget(limits)
    try:
        return work(*args)
    except FerryError:
        raise
    except Exception as exc:
        raise translate(exc) from None
    finally:
        close_budget(token)


def total(work: Callable[..., _T], *args: Any) -> _T:
    """Run compile-time ``work(*args)`` so that only an ``ExprError`` comes out of it."""
    try:
        return work(*args)
    except FerryError:
        raise
    except Exception as exc:
        raise translate(exc) from None
