"""A record's trace (记录追踪): its status and reason first, then the source payload, the rendered request,
every attempt with its outcome, every event with its reason, and the target document (id, number, draft
or not); ``/records/{id}/trace.json`` downloads the same as JSON.

The ledger keeps the latest request and response on the record and one event per attempt's outcome
(with its error or the document it made); the trace shows both. Every payload is redacted first.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from ferry.console.auth import User, current_user
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.views import pretty
from ferry.console.web import render, state
from ferry.observe.redact import redact_value
from ferry.store import EventRow, RecordRow
from ferry.store import console_queries as q

router = APIRouter()

add(
    "zh",
    {
        "Record": "记录",
        "Trace": "追踪",
        "Attempt": "第几次",
        "Outcome": "结果",
        "Target document": "目标单据",
        "Document id": "单据内码",
        "Document number": "单据编号",
        "Draft": "暂存草稿",
        "yes": "是",
        "no": "否",
        "none yet": "尚无",
        "Rendered request (latest attempt)": "请求内容（最近一次）",
        "Target response (latest attempt)": "目标响应（最近一次）",
        "Next attempt": "下次尝试",
        "Last error": "最近错误",
        "From": "从",
        "To": "到",
        "By": "操作人",
    },
)


def attempts(events: list[EventRow]) -> list[dict[str, Any]]:
    """One entry per outcome of a write (an event leaving ``writing``), numbered in order."""
    found: list[dict[str, Any]] = []
    for e in events:
        if e.from_status != "writing":
            continue
        d = e.detail or {}
        error = " ".join(
            str(d[k]) if k != "error_code" else f"code={d[k]}"
            for k in ("error_type", "error_code", "error_message")
            if d.get(k)
        )
        found.append(
            {
                "n": len(found) + 1,
                "at": e.at,
                "to": e.to_status,
                "reason": e.reason,
                "error": error,
                "target": d.get("target_number") or d.get("target_id"),
                "draft": bool(d.get("draft")),
            }
        )
    return found


def trace_dict(row: RecordRow, events: list[EventRow]) -> dict[str, Any]:
    """The trace as JSON, the story first; secrets masked."""
    story: dict[str, Any] = redact_value(
        {
            "id": row.id,
            "scheme": row.scheme,
            "source_id": row.source_id,
            "number": row.number,
            "status": row.status,
            "reason": row.reason,
            "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at,
            "last_error": {
                "type": row.last_error_type,
                "code": row.last_error_code,
                "message": row.last_error_message,
            }
            if row.last_error_type
            else None,
            "target": {"id": row.target_id, "number": row.target_number, "draft": row.draft},
            "source_payload": row.content,
            "request": row.request,
            "response": row.response,
            "events": [
                {"at": e.at, "from": e.from_status, "to": e.to_status, "reason": e.reason, "detail": e.detail}
                for e in events
            ],
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )
    return story


async def _load(request: Request, record_id: int) -> tuple[RecordRow, list[EventRow]]:
    ledger = state(request).ledger
    row, events = await asyncio.gather(
        asyncio.to_thread(ledger.get_by_id, record_id), asyncio.to_thread(q.record_events, ledger, record_id)
    )
    if row is None:
        raise HTTPException(404, f"no record with id {record_id}")
    return row, events


@router.get("/records/{record_id}", response_class=HTMLResponse)
async def trace(
    request: Request, record_id: int, user: Annotated[User, Depends(current_user)]
) -> HTMLResponse:
    row, events = await _load(request, record_id)
    return render(
        request,
        "trace.html",
        active="records",
        r=row,
        events=events,
        attempts=attempts(events),
        pretty=pretty,
        scheme_id=row.scheme,
    )


@router.get("/records/{record_id}/trace.json")
async def trace_json(
    request: Request, record_id: int, user: Annotated[User, Depends(current_user)]
) -> Response:
    row, events = await _load(request, record_id)
    body = json.dumps(trace_dict(row, events), ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="ferry-record-{row.id}.json"'},
    )


PAGE = Page(name="trace", title="Trace", router=router)
