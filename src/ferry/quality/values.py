"""Reading the values a check looks at out of a record's content."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo


def dotted(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``a.b.c``), or None; a key containing dots is tried whole first."""
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def empty(value: Any) -> bool:
    """Empty as a form means it: None, blank text, DingTalk's "null", an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in ("", "null")
    if isinstance(value, list | dict | tuple):
        return len(value) == 0
    return False


def as_date(value: Any, tz: ZoneInfo) -> dt.date | None:
    """A business date from a date, a datetime, ISO text or epoch seconds/milliseconds, or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo is None else value.astimezone(tz)).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, tz).date()
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    if text.isdigit():
        return as_date(int(text), tz)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return as_date(parsed, tz)


def dingtalk_component(record: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The raw DingTalk form component called ``name`` (old and new API spellings), or None."""
    raw = record.get("_raw")
    if not isinstance(raw, Mapping):
        return None
    components = raw.get("form_component_values") or raw.get("formComponentValues") or []
    for c in components if isinstance(components, list) else []:
        if isinstance(c, Mapping) and (c.get("name") == name or c.get("bizAlias") == name):
            return c
    return None


def dingtalk_upper(record: Mapping[str, Any], name: str) -> str | None:
    """The 大写 text DingTalk keeps beside a MoneyField's value (``ext_value.upper``), or None."""
    c = dingtalk_component(record, name)
    if c is None:
        return None
    ext = c.get("ext_value", c.get("extValue"))
    if isinstance(ext, str):
        try:
            ext = json.loads(ext)
        except ValueError:
            return None
    upper = ext.get("upper") if isinstance(ext, Mapping) else None
    return str(upper) if upper else None


def dingtalk_approvers(record: Mapping[str, Any]) -> list[str]:
    """The user ids that agreed in a DingTalk instance's operation records."""
    raw = record.get("_raw")
    if not isinstance(raw, Mapping):
        return []
    found: list[str] = []
    for op in raw.get("operation_records") or raw.get("operationRecords") or []:
        if not isinstance(op, Mapping):
            continue
        result = str(op.get("operation_result") or op.get("result") or "").upper()
        kind = str(op.get("operation_type") or op.get("type") or "").upper()
        user = op.get("userid") or op.get("userId")
        if user and result == "AGREE" and kind != "START_PROCESS_INSTANCE":
            found.append(str(user))
    return found


__all__ = ["as_date", "dingtalk_approvers", "dingtalk_component", "dingtalk_upper", "dotted", "empty"]
