"""How the ledger's rows are shown: as JSON for scripts, as text that fits 80 columns for people.

Every list and show command takes ``--json``; these helpers make one JSON shape per row kind, so a
script reads the same keys from ``records ls``, ``records show`` and ``runs ls``. Text output never
cuts a reason: long cells fold onto more lines.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import typer

from ferry.errors import UsageError

if TYPE_CHECKING:
    from ferry.store import EventRow, RecordRow, RunRow


def emit_json(value: Any) -> None:
    """One JSON document on stdout (UTF-8 text kept readable; datetimes as ISO 8601)."""
    typer.echo(json.dumps(value, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def when(moment: dt.datetime | None) -> str:
    """A time as people read it here: local wall-clock time to the second."""
    if moment is None:
        return ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def record_dict(row: RecordRow) -> dict[str, Any]:
    """A record as JSON: the story first (status, reason, errors), the payloads last."""
    return {
        "id": row.id,
        "scheme": row.scheme,
        "source_id": row.source_id,
        "number": row.number,
        "status": row.status,
        "reason": row.reason,
        "draft": row.draft,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": (
            {"type": row.last_error_type, "code": row.last_error_code, "message": row.last_error_message}
            if row.last_error_type
            else None
        ),
        "target_id": row.target_id,
        "target_number": row.target_number,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "request": row.request,
        "response": row.response,
        "content": row.content,
    }


def event_dict(event: EventRow) -> dict[str, Any]:
    return {
        "at": event.at,
        "from": event.from_status,
        "to": event.to_status,
        "reason": event.reason,
        "detail": event.detail,
    }


def run_dict(run: RunRow) -> dict[str, Any]:
    seconds = (run.ended_at - run.started_at).total_seconds() if run.ended_at else None
    return {
        "id": run.id,
        "scheme": run.scheme,
        "kind": run.kind,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "seconds": round(seconds, 3) if seconds is not None else None,
        "counts": run.counts or {},
        "error": run.error,
    }


def event_error(event: EventRow) -> str:
    """The error an attempt ended with, from the event's detail: ``type code=... message``."""
    detail = event.detail or {}
    parts = [
        str(detail["error_type"]) if detail.get("error_type") else "",
        f"code={detail['error_code']}" if detail.get("error_code") else "",
        str(detail["error_message"]) if detail.get("error_message") else "",
    ]
    return " ".join(p for p in parts if p)


def statuses(values: Sequence[str] | None, *, allowed: Iterable[str] | None = None) -> list[str] | None:
    """``--status dead --status failed`` or ``--status dead,failed``; an unknown status is a usage
    error that suggests the closest one and lists the valid ones (a typo must not find nothing)."""
    from ferry.connectors.spec import suggest
    from ferry.store import STATUSES

    if not values:
        return None
    valid = list(allowed if allowed is not None else STATUSES)
    wanted = list(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))
    for status in wanted:
        if status not in valid:
            raise UsageError(
                f"unknown status {status!r}{suggest(status, valid)}",
                hint=f"valid statuses: {', '.join(valid)}",
            )
    return wanted


def since(value: str | None, option: str = "--since") -> dt.datetime | None:
    """An ISO 8601 time from an option (UTC when it has no offset)."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option} must be an ISO 8601 time such as 2024-05-01T08:00:00+08:00, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


__all__ = [
    "emit_json",
    "event_dict",
    "event_error",
    "record_dict",
    "run_dict",
    "since",
    "statuses",
    "when",
]
