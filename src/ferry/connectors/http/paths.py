"""Dotted paths into parsed JSON (``data.items``, ``result.0.id``): read, write, and find the record list."""

from __future__ import annotations

from typing import Any

from ferry.connectors.errors import GiveUp

_MISSING: Any = object()


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """The value at dotted ``path`` (digits index lists); ``default`` when any step is missing.

    An empty path is the data itself.
    """
    if not path:
        return data
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            i = int(part)
            if not -len(cur) <= i < len(cur):
                return default
            cur = cur[i]
        else:
            return default
    return cur


def has_path(data: Any, path: str | None) -> bool:
    return get_path(data, path, _MISSING) is not _MISSING


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` in ``data``, creating objects on the way (``page.num`` -> ``{"page": {"num": v}}``)."""
    parts = path.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def records_at(data: Any, path: str | None, *, api: str | None = None) -> list[Any]:
    """The record list at ``path`` (empty path: the response itself).

    An explicit ``null`` there is an empty page. A *missing* key is an error, not an empty page: a typo in
    ``records_path`` must not look like "no records" (that is how documents get missed).
    """
    value = get_path(data, path, _MISSING)
    where = f"records_path {path!r}" if path else "the response"
    if value is _MISSING:
        keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise GiveUp(f"{where} not found in the response (it has: {keys})", api=api)
    if value is None:
        return []
    if isinstance(value, dict) and not path:
        raise GiveUp(
            "the response is an object, not a list of records; set records_path "
            f"(keys: {', '.join(sorted(value))})",
            api=api,
        )
    if not isinstance(value, list):
        raise GiveUp(f"{where} is a {type(value).__name__}, not a list of records", api=api)
    # an item that is not an object is handed on as it is: the engine quarantines that one record
    # with the reason, and the rest of the page is stored (one bad record never stops a scheme)
    return value


__all__ = ["get_path", "has_path", "records_at", "set_path"]
