"""Kingdee JSON values as the sandbox reads them: case-insensitive keys, booleans, base-data numbers, ids."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def norm(key: str) -> str:
    """A Kingdee key folded for comparison (keys are not case-significant)."""
    return key.casefold()


def get_ci(mapping: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """``mapping[key]`` with the key matched case-insensitively (Kingdee keys are not case-significant)."""
    if key in mapping:
        return mapping[key]
    folded = norm(key)
    for k, v in mapping.items():
        if norm(k) == folded:
            return v
    return default


def pop_ci(mapping: dict[str, Any], key: str) -> Any:
    """Remove and return ``key`` matched case-insensitively (``None`` if absent)."""
    folded = norm(key)
    for k in list(mapping):
        if norm(k) == folded:
            return mapping.pop(k)
    return None


def truthy(value: Any, default: bool = False) -> bool:
    """Kingdee booleans arrive as JSON booleans or as the strings ``"true"``/``"false"``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("true", "1", "yes")


def base_number(value: Any) -> str | None:
    """The number of a base-data reference ``{"FNumber": "..."}`` (or a bare string)."""
    if isinstance(value, Mapping):
        number = get_ci(value, "FNumber")
        return None if number in (None, "") else str(number)
    if value in (None, ""):
        return None
    return str(value)


def now_text() -> str:
    """Kingdee's date-time text form, ``2019-01-10T00:00:00``."""
    return dt.datetime.now().replace(microsecond=0).isoformat()


def split_ids(ids: Any) -> list[str]:
    """``Ids`` as a list of strings: ``"1,2"`` (the documented form) or a JSON array."""
    if ids is None or ids == "":
        return []
    if isinstance(ids, (list, tuple)):
        return [str(i).strip() for i in ids if str(i).strip()]
    return [s.strip() for s in str(ids).split(",") if s.strip()]


def as_float(value: Any) -> float:
    """A number from JSON (number or numeric string); 0 if absent."""
    if value in (None, ""):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
