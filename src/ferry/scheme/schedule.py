"""When a side runs: a 5-field cron expression or a fixed interval."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator

from ferry.scheme.base import FerryBlock

CRON_FIELDS = 5
_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_INTERVAL_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def check_cron(v: str) -> str:
    """``v`` if it is a valid 5-field cron expression, else a ValueError saying why."""
    parts = v.split()
    if len(parts) != CRON_FIELDS:
        raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {len(parts)}: {v!r}")
    from croniter import croniter

    try:
        valid = croniter.is_valid(v)
    except Exception:  # croniter raises its own errors for some malformed input
        valid = False
    if not valid:
        raise ValueError(f"invalid cron expression: {v!r}")
    return v


class Schedule(FerryBlock):
    """When a side runs: a 5-field cron expression or a fixed interval (``30s``, ``5m``, ``1h`` or seconds)."""

    cron: str | None = Field(default=None, validation_alias=AliasChoices("cron", "crontab"))
    interval: float | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return v if v is None else check_cron(v)

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = _INTERVAL_RE.match(v)
            if not m:
                raise ValueError(f"interval must look like 30s, 5m, 1h, 1d or a number of seconds, got {v!r}")
            return float(m.group(1)) * _INTERVAL_UNITS[m.group(2)]
        return v

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule has exactly one of 'cron' or 'interval'")
        if self.interval is not None and self.interval <= 0:
            raise ValueError("interval must be positive")
        return self


def schedule_shapes(v: Any) -> Any:
    """``"*/5 * * * *"`` or ``300`` as shorthands for ``{cron: ...}`` / ``{interval: ...}``."""
    if isinstance(v, str):
        return {"cron": v} if len(v.split()) == CRON_FIELDS else {"interval": v}
    if isinstance(v, int | float) and not isinstance(v, bool):
        return {"interval": v}
    return v


__all__ = ["CRON_FIELDS", "Schedule", "check_cron", "schedule_shapes"]
