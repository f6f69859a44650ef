"""Alerts (告警): firing, silenced and resolved alerts, the silences, what was sent, and each channel's
delivery log; operators set and end silences (CSRF-checked, with their name as the silence's author)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ferry.console.auth import User, current_user, operator, verify_csrf
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.web import render, state
from ferry.observe.alerts import AlertBook, Outbox
from ferry.observe.alerts.rules import seconds

router = APIRouter()

add(
    "zh",
    {
        "Alerts": "告警",
        "Firing": "告警中",
        "Silenced or inhibited": "已静默或被抑制",
        "Resolved": "已恢复",
        "Silences": "静默",
        "Sent messages": "已发送消息",
        "Delivery log": "投递日志",
        "Silence": "静默",
        "End": "结束",
        "for": "时长",
        "Matchers (label=value, space-separated)": "匹配条件（标签=值，空格分隔）",
        "Comment": "备注",
        "Nothing here.": "暂无。",
        "Since": "开始",
        "Until": "截止",
        "By": "设置人",
        "Channel": "渠道",
        "Status": "状态",
        "Error": "错误",
    },
)


def _snapshot(book: AlertBook, outbox: Outbox, now: dt.datetime) -> dict[str, Any]:
    firing = book.list_alerts("firing")
    deliveries = outbox.deliveries(limit=300)
    by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in deliveries:
        if len(by_channel[d["channel"]]) < 50:
            by_channel[d["channel"]].append(d)
    return {
        "firing": [a for a in firing if not a["muted"]],
        "muted": [a for a in firing if a["muted"]],
        "resolved": book.list_alerts("resolved", limit=100),
        "silences": book.silences(now),
        "sent": outbox.notifications(limit=100),
        "deliveries": dict(sorted(by_channel.items())),
    }


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, user: User = Depends(current_user)) -> HTMLResponse:  # noqa: B008
    book = AlertBook(state(request).ledger)
    now = dt.datetime.now(dt.UTC)
    data = await asyncio.to_thread(_snapshot, book, Outbox(book), now)
    return render(request, "alerts.html", active="alerts", **data)


@router.post("/alerts/silences", dependencies=[Depends(verify_csrf)])
async def add_silence(
    request: Request,
    matchers: str = Form(...),
    duration: str = Form("2h"),
    comment: str = Form(""),
    user: User = Depends(operator),  # noqa: B008
) -> RedirectResponse:
    pairs: dict[str, str] = {}
    for part in matchers.split():
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise HTTPException(status_code=400, detail=f"{part!r} is not label=value")
        pairs[key] = value
    if not pairs:
        raise HTTPException(status_code=400, detail="a silence needs at least one label=value")
    try:
        span = dt.timedelta(seconds=float(seconds(duration)))
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    now = dt.datetime.now(dt.UTC)
    book = AlertBook(state(request).ledger)
    await asyncio.to_thread(
        lambda: book.silence(pairs, now + span, by=f"console:{user.name}", comment=comment[:500], now=now)
    )
    return RedirectResponse("/alerts", status_code=303)


@router.post("/alerts/silences/{silence_id}/end", dependencies=[Depends(verify_csrf)])
async def end_silence(
    request: Request,
    silence_id: int,
    user: User = Depends(operator),  # noqa: B008
) -> RedirectResponse:
    book = AlertBook(state(request).ledger)
    await asyncio.to_thread(lambda: book.unsilence(silence_id, now=dt.datetime.now(dt.UTC)))
    return RedirectResponse("/alerts", status_code=303)


PAGE = Page(name="alerts", title="Alerts", router=router, nav_path="/alerts", order=60)
