"""API 资产: how each API of each connection is used, and where each quota stands.

Per API over a period: calls, metered, errors by code, throttles, p50/p95/p99 latency; charts (calls per
hour stacked by API, latency percentiles, errors by code, DingTalk's quota burn-down with the forecast
line, drawn by ``static/apis.js`` from the page's JSON); the quota advice; a drill-down from an API to
its latest calls and the records worked on at the time of each.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ferry.console.auth import User, current_user
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.web import ConsoleState, render, state
from ferry.observe.usage import ConnectionInfo, api_report, connection_infos, month_bounds
from ferry.observe.usage import quota as advice

router = APIRouter()

PERIODS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}

add(
    "zh",
    {
        "API assets": "API 资产",
        "Period": "时间范围",
        "Calls": "调用次数",
        "Metered": "计量调用",
        "Errors": "错误",
        "Throttled": "限流",
        "Connection": "连接",
        "Quota": "额度",
        "Used": "已用",
        "Left": "剩余",
        "Forecast": "月末预测",
        "Runs out on": "预计用尽日期",
        "Advice": "建议",
        "Calls per hour by API": "每小时调用次数（按 API）",
        "Latency percentiles (ms)": "延迟分位数（毫秒）",
        "Errors by code": "错误码分布",
        "Quota burn-down": "额度消耗",
        "Latest calls": "最近调用",
        "Records worked on at that time": "当时处理的记录",
        "No API calls in this period": "该时间段内没有 API 调用",
        "Logins": "登录次数",
        "Sessions lost": "会话失效",
        "Concurrency step-downs": "并发降级",
        "Declared limits": "声明的限额",
        "month": "本月",
        advice.ON_TRACK: "额度充足：预计月末用 {forecast} 次，额度 {allowance} 次",
        advice.RUNS_OUT: "按当前速度，额度将在 {day} 日（{when}）用尽；已用 {used} / {allowance}，每天约 {per_day} 次计量调用",
        advice.POLL_LESS: "把轮询间隔从 {current} 调到 {minutes} min 即可留在额度内（每天最多 {keep} 次计量调用）",
        advice.EVENTS_ON: "开启钉钉事件推送（HTTP 推送或 Stream 模式），轮询改为每小时一次作为兜底",
        advice.ASK_MORE: "减少轮询也不够：请向钉钉申请更高的调用额度",
    },
)


def _infos(console: ConsoleState) -> dict[str, ConnectionInfo]:
    connections = console.engine.connections if console.engine is not None else {}
    return connection_infos(connections, console.schemes.values())


def _period(value: str) -> tuple[str, dt.timedelta | None]:
    if value == "month":
        return value, None
    return (value, PERIODS[value]) if value in PERIODS else ("24h", PERIODS["24h"])


def _report(console: ConsoleState, period: str, connection: str | None) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    name, span = _period(period)
    since = month_bounds(now)[0] if span is None else now - span
    ledger = console.ledger
    ledger.rollup_api_calls(now=now)
    report = api_report(ledger, _infos(console), since=since, now=now, connection=connection or None)
    data = report.as_dict()
    data["series"] = report.series()
    data["period"] = name
    return data


@router.get("/apis", response_class=HTMLResponse)
async def apis(
    request: Request,
    period: str = "24h",
    connection: str | None = Query(default=None, max_length=100),
    user: User = Depends(current_user),  # noqa: B008
) -> HTMLResponse:
    console = state(request)
    data = await asyncio.to_thread(_report, console, period, connection)
    return render(
        request,
        "apis.html",
        active="apis",
        data=data,
        periods=[*PERIODS, "month"],
        connection=connection or "",
        # for static/apis.js; json.dumps escapes nothing HTML needs, so "<" is escaped by hand
        chart_data=json.dumps(data, ensure_ascii=False, default=str).replace("<", "\\u003c"),
    )


@router.get("/apis/calls", response_class=HTMLResponse)
async def api_calls(
    request: Request,
    connection: str = Query(max_length=100),
    api: str = Query(max_length=200),
    errors: bool = False,
    user: User = Depends(current_user),  # noqa: B008
) -> HTMLResponse:
    console = state(request)

    def load() -> list[dict[str, Any]]:
        rows = console.ledger.recent_calls(connection, api, limit=50, errors_only=errors)
        found = []
        for c in rows:
            window = dt.timedelta(milliseconds=c.latency_ms) + dt.timedelta(seconds=1)
            records = console.ledger.records_active_between(
                c.scheme, c.at - dt.timedelta(seconds=1), c.at + window, limit=10
            )
            found.append({"call": c, "records": records})
        return found

    calls = await asyncio.to_thread(load)
    return render(
        request, "apis.html", active="apis", drill={"connection": connection, "api": api, "calls": calls}
    )


PAGE = Page(name="apis", title="API assets", router=router, nav_path="/apis", order=60)
