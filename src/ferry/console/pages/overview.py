"""Overview (总览): every scheme's health, last and next run, counts by status, today's totals, and a
chart of records written per hour over 7 days; refreshed in place when the ledger changes (the live
stream of :mod:`ferry.console.pages.live` makes htmx fetch ``/overview/live``, the same template without
the page around it; polling every ``REFRESH_S`` while the stream is down).

Health, from the source's schedule and the runs in the ledger: *failing* when the latest finished run
failed or was interrupted; *late* when the latest success is older than two schedule periods (or there
is none); *on time* otherwise; *never run* without any run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ferry.console.auth import User, current_user
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.pages.live import signature
from ferry.console.web import render, state, when
from ferry.store import RunRow
from ferry.store import console_queries as q

router = APIRouter()

#: how often the overview polls, in seconds, while its live stream is not open
REFRESH_S = 10
#: a success older than this many schedule periods makes a scheme late
LATE_PERIODS = 2

add(
    "zh",
    {
        "Documents written today": "今日写入单据",
        "Failures today": "今日失败",
        "Amount written today": "今日写入金额",
        "Error rate today": "今日错误率",
        "Live: changes show as they happen": "实时：变化即时显示",
        "no schedule": "未设定计划",
        "No schemes loaded": "未加载集成方案",
    },
)


@dataclass(frozen=True)
class SchemeHealth:
    id: str
    name: str
    health: str
    last: RunRow | None
    last_ok: RunRow | None
    next_at: dt.datetime | None
    counts: dict[str, int]
    totals: q.Totals
    chart: dict[str, Any]


def period_s(schedule: Any, now: dt.datetime, tz: ZoneInfo) -> float | None:
    """Seconds between two runs of ``schedule`` (an interval, or a cron's next two times)."""
    if schedule is None:
        return None
    if schedule.interval is not None:
        return float(schedule.interval)
    from croniter import croniter

    it = croniter(schedule.cron, now.astimezone(tz))
    first = it.get_next(dt.datetime)
    return float((it.get_next(dt.datetime) - first).total_seconds())


def next_run(schedule: Any, last: RunRow | None, now: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
    if schedule is None:
        return None
    if schedule.interval is not None:
        return (last.started_at if last else now) + dt.timedelta(seconds=float(schedule.interval))
    from croniter import croniter

    nxt: dt.datetime = croniter(schedule.cron, now.astimezone(tz)).get_next(dt.datetime)
    return nxt


def health_of(
    last: RunRow | None, finished: RunRow | None, ok: RunRow | None, period: float | None, now: dt.datetime
) -> str:
    if last is None:
        return "never run"
    if finished is not None and finished.status in ("failed", "interrupted"):
        return "failing"
    if period is not None and (
        ok is None or (now - ok.started_at).total_seconds() > LATE_PERIODS * period + 60
    ):
        return "late"
    return "on time"


def chart(per_hour: dict[dt.datetime, int], now: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    """The ECharts option: a bar per hour over the last 7 days, labelled in the scheme's time zone."""
    end = now.replace(minute=0, second=0, microsecond=0)
    hours = [end - dt.timedelta(hours=h) for h in range(7 * 24 - 1, -1, -1)]
    return {
        "grid": {"left": 40, "right": 12, "top": 16, "bottom": 28},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [h.astimezone(tz).strftime("%m-%d %H:00") for h in hours]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": "written", "data": [per_hour.get(h, 0) for h in hours]}],
    }


def scheme_health(console: Any, scheme_id: str, counts: dict[str, int], now: dt.datetime) -> SchemeHealth:
    scheme = console.schemes.get(scheme_id)
    tz = console.timezone(scheme_id)
    ledger = console.ledger
    last, finished, ok = q.last_runs(ledger, scheme_id)
    schedule = scheme.source.schedule if scheme is not None else None
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    amount_field = getattr(scheme, "amount_field", None) if scheme is not None else None
    return SchemeHealth(
        id=scheme_id,
        name=(scheme.name or scheme_id) if scheme is not None else scheme_id,
        health=health_of(last, finished, ok, period_s(schedule, now, tz), now),
        last=last,
        last_ok=ok,
        next_at=next_run(schedule, last, now, tz),
        counts=counts,
        totals=q.totals_since(ledger, scheme_id, today, amount_field),
        chart=chart(q.written_per_hour(ledger, scheme_id, now - dt.timedelta(days=7)), now, tz),
    )


async def _rows(request: Request) -> list[SchemeHealth]:
    console = state(request)
    now = dt.datetime.now(dt.UTC)
    counts = await asyncio.to_thread(q.counts_by_scheme, console.ledger)
    ids = sorted(set(console.schemes) | set(counts))
    return list(
        await asyncio.gather(
            *(asyncio.to_thread(scheme_health, console, s, counts.get(s, {}), now) for s in ids)
        )
    )


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
    return render(
        request,
        "overview.html",
        active="overview",
        live=await signature(request),
        rows=await _rows(request),
        partial=False,
        refresh_s=REFRESH_S,
        when_tz=_when_tz(request),
    )


@router.get("/overview/live", response_class=HTMLResponse)
async def overview_live(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
    return render(
        request,
        "overview.html",
        rows=await _rows(request),
        partial=True,
        refresh_s=REFRESH_S,
        when_tz=_when_tz(request),
    )


def _when_tz(request: Request) -> Any:
    console = state(request)

    def when_tz(moment: dt.datetime | None, scheme_id: str) -> str:
        return when(moment, console.timezone(scheme_id))

    return when_tz


PAGE = Page(name="overview", title="Overview", router=router, nav_path="/", order=10)
