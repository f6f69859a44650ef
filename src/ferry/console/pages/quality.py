"""Data quality (数据质量): findings by rule over the month, records held for review (待复核) with their
age and release/reject for operators, top payees by findings, and Benford's first-digit test of the
month's amounts per scheme (a report, never a gate).

Charts are ECharts options in ``data-chart`` attributes, drawn by ``static/app.js`` (the CSP allows no
inline script). Release and reject are POSTs carrying the session's CSRF token, for operators only, and
record who, when and why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ferry.console import i18n
from ferry.console.auth import User, current_user, operator, verify_csrf
from ferry.console.pages import Page
from ferry.console.web import render, state
from ferry.errors import UsageError
from ferry.quality.report import report_of

router = APIRouter()

i18n.add(
    "zh",
    {
        "Quality": "数据质量",
        "All schemes": "全部方案",
        "Show": "查看",
        "Held for review": "待复核",
        "Scheme": "方案",
        "Why": "原因",
        "Waiting": "已等待",
        "Matches": "疑似重复于",
        "Decide": "处理",
        "reason": "原因",
        "Release": "放行",
        "Reject": "驳回",
        "Reject: it will never be sent?": "驳回后该单据将不会推送，确定吗？",
        "Nothing waits for review.": "没有待复核的单据。",
        "Findings by rule": "按规则统计的发现",
        "Top payees by findings": "发现最多的收款方",
        "none": "无",
        "Benford first-digit test": "本福特首位数字检验",
        "A report, never a gate: approval limits and fixed prices bend the digits of honest amounts.": (
            "仅作报告，不拦截单据：审批限额和固定价格会使正常金额的首位数字偏离。"
        ),
        "No amounts this month.": "本月没有金额。",
    },
)


def _findings_chart(report: dict[str, Any]) -> str:
    f = report["findings"]
    return json.dumps(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 40, "right": 16, "top": 32, "bottom": 28},
            "xAxis": {"type": "category", "data": f["days"]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {"name": rule, "type": "bar", "stack": "all", "data": counts}
                for rule, counts in f["by_rule"].items()
            ],
        },
        ensure_ascii=False,
    )


def _benford_chart(name: str, b: dict[str, Any]) -> str:
    return json.dumps(
        {
            "title": {
                "text": f"{name}: n={b['n']}, MAD {b['mad']:.4f} ({b['conformity']})",
                "textStyle": {"fontSize": 12},
            },
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 22},
            "grid": {"left": 40, "right": 16, "top": 52, "bottom": 28},
            "xAxis": {"type": "category", "data": [str(d) for d in range(1, 10)]},
            "yAxis": {"type": "value", "max": 0.4},
            "series": [
                {"name": "observed", "type": "bar", "data": [round(x, 4) for x in b["observed"]]},
                {"name": "Benford", "type": "line", "data": [round(x, 4) for x in b["expected"]]},
            ],
        },
        ensure_ascii=False,
    )


@router.get("/quality", response_class=HTMLResponse)
async def quality(
    request: Request,
    user: User = Depends(current_user),  # noqa: B008
    scheme: str | None = None,
    month: str | None = None,
) -> HTMLResponse:
    console = state(request)
    try:
        report = await asyncio.to_thread(
            report_of, console.ledger, scheme or None, month or None, dt.datetime.now(dt.UTC)
        )
    except UsageError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    return render(
        request,
        "quality.html",
        active="quality",
        report=report,
        scheme_id=scheme or "",
        schemes=sorted(console.schemes),
        findings_chart=_findings_chart(report),
        benford_charts=[(name, _benford_chart(name, b)) for name, b in report["benford"].items()],
        may_act=user.may_act,
    )


async def _decide(request: Request, user: User, record_id: int, action: str, reason: str) -> RedirectResponse:
    reason = reason.strip()
    if not reason:
        raise HTTPException(status_code=400, detail="say why (the reason is kept in the record's story)")
    ledger = state(request).ledger
    move = ledger.release_held if action == "release" else ledger.reject_held
    moved = await asyncio.to_thread(move, [record_id], user.name, reason[:2000])
    if not moved:
        raise HTTPException(status_code=409, detail=f"record {record_id} is not held (any more)")
    return RedirectResponse("/quality", status_code=303)


@router.post("/quality/release/{record_id}", dependencies=[Depends(verify_csrf)])
async def release(
    request: Request,
    record_id: int,
    reason: Annotated[str, Form()],
    user: User = Depends(operator),  # noqa: B008
) -> RedirectResponse:
    return await _decide(request, user, record_id, "release", reason)


@router.post("/quality/reject/{record_id}", dependencies=[Depends(verify_csrf)])
async def reject(
    request: Request,
    record_id: int,
    reason: Annotated[str, Form()],
    user: User = Depends(operator),  # noqa: B008
) -> RedirectResponse:
    return await _decide(request, user, record_id, "reject", reason)


PAGE = Page(name="quality", title="Quality", router=router, nav_path="/quality", order=40)
