"""``_function`` time functions: DATE_FORMAT, DATE, NOW, CURDATE, UNIX_TIMESTAMP (clock and zone from the scope)."""

from __future__ import annotations

from typing import Any

from ferry.expr import mysqltime
from ferry.expr.paths import MISSING, Scope


def date_format(value: Any, fmt: str | None, scope: Scope) -> Any:
    moment = mysqltime.to_datetime(value, scope.ctx.zone)
    if moment is None or fmt is None:
        return None
    return mysqltime.format_datetime(moment, fmt)


def to_date(scope: Scope, value: Any) -> Any:
    moment = mysqltime.to_datetime(value, scope.ctx.zone)
    return None if moment is None else moment.date()


def to_datetime(scope: Scope, value: Any) -> Any:
    return mysqltime.to_datetime(value, scope.ctx.zone)


def now(scope: Scope, *args: Any) -> Any:
    return scope.ctx.current_time().replace(tzinfo=None, microsecond=0)


def curdate(scope: Scope) -> Any:
    return scope.ctx.current_time().date()


def unix_timestamp(scope: Scope, value: Any = MISSING) -> Any:
    if value is MISSING:
        return int(scope.ctx.current_time().timestamp())
    moment = mysqltime.to_datetime(value, scope.ctx.zone)
    return None if moment is None else mysqltime.unix_timestamp(moment, scope.ctx.zone)
