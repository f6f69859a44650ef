"""What several pages share: reading the records filter from a query string, and payloads shown safely.

Times typed into a filter (``2026-12-01`` or ``2026-12-01T09:30``) are wall-clock times in the scheme's
time zone, as the pages show them. Every payload shown or downloaded goes through
:func:`ferry.observe.redact.redact_value` first: no registered secret reaches a page.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request

from ferry.observe.redact import redact_value
from ferry.store import STATUSES
from ferry.store.console_queries import UNRESOLVED, RecordFilter

#: the status filter's shorthand for the unresolved view
UNRESOLVED_VIEW = "unresolved"


def parse_time(text: str | None, tz: ZoneInfo) -> dt.datetime | None:
    """A filter's time, in ``tz`` when it names none; a 400 that says the format when it is not one."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            400, f"not a time: {text[:40]!r} (write 2026-12-01 or 2026-12-01T09:30)"
        ) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_statuses(text: str | None) -> tuple[str, ...] | None:
    """``failed,dead`` or ``unresolved``; an unknown status is a 400 naming the known ones."""
    text = (text or "").strip()
    if not text:
        return None
    if text == UNRESOLVED_VIEW:
        return UNRESOLVED
    wanted = tuple(s.strip() for s in text.split(",") if s.strip())
    wrong = [s for s in wanted if s not in STATUSES]
    if wrong:
        raise HTTPException(400, f"unknown status {', '.join(wrong)[:80]}; known: {', '.join(STATUSES)}")
    return wanted


def record_filter(values: Any, tz: ZoneInfo) -> RecordFilter:
    """The records filter from a query string or a form (``scheme``, ``status``, ``since``, ``until``, ``q``)."""
    return RecordFilter(
        scheme=(values.get("scheme") or "").strip() or None,
        statuses=parse_statuses(values.get("status")),
        since=parse_time(values.get("since"), tz),
        until=parse_time(values.get("until"), tz),
        find=(values.get("q") or "").strip()[:200] or None,
        kind=values.get("kind") if values.get("kind") is not None else None,
    )


def filter_query(values: Any) -> dict[str, str]:
    """The filter's own fields of a query string or form, to carry into links and forms."""
    return {
        k: str(values.get(k)) for k in ("scheme", "status", "since", "until", "q", "kind") if values.get(k)
    }


def pretty(value: Any) -> str:
    """``value`` as indented JSON for a person, secrets masked."""
    return json.dumps(redact_value(value), ensure_ascii=False, indent=2, default=str)


def scheme_tz(request: Request, scheme: str | None) -> ZoneInfo:
    from ferry.console.web import state

    return state(request).timezone(scheme)


__all__ = [
    "UNRESOLVED_VIEW",
    "filter_query",
    "parse_statuses",
    "parse_time",
    "pretty",
    "record_filter",
    "scheme_tz",
]
