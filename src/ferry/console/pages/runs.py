"""Runs (运行记录): every collect, dispatch, reconcile and watch pass, filtered by scheme, kind and status,
with the error in the row; a run's detail lays its API calls on a timeline.

The ledger keeps, for a run, its span, counts and error, and for its scheme every API call (pages of the
source, batches to the target, answers that said "slow down") and every record transition; the detail
page shows those that fall within the run's span, so a throttled wait shows where it happened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from ferry.console.auth import User, current_user
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.web import render, state
from ferry.store import RunRow
from ferry.store import console_queries as q

router = APIRouter()
PAGE_SIZE = 50
KINDS = ("collect", "dispatch", "reconcile", "watch", "remedy")
RUN_STATUSES = ("running", "ok", "failed", "interrupted")

add(
    "zh",
    {
        "Run": "运行",
        "Counts": "计数",
        "Timeline": "时间线",
        "API calls": "接口调用",
        "Rate-limit waits": "限流等待",
        "Calls": "调用",
        "Latency": "耗时",
        "Record transitions": "记录状态变化",
        "Filter": "筛选",
        "Older": "更早",
        "Newer": "更新",
        "running": "运行中",
        "ok": "成功",
        "interrupted": "中断",
        "collect": "采集",
        "dispatch": "写入",
        "reconcile": "核对",
        "watch": "观察",
        "remedy": "补漏",
        "No runs": "没有运行记录",
        "Owner": "执行者",
        "Ended": "结束时间",
    },
)


@dataclass(frozen=True)
class Bar:
    """One API call on the timeline: where it starts and how wide it is, in % of the run's span."""

    left: float
    width: float
    css: str
    title: str


def seconds(run: RunRow) -> float | None:
    return (run.ended_at - run.started_at).total_seconds() if run.ended_at else None


@router.get("/runs", response_class=HTMLResponse)
async def runs_list(
    request: Request,
    user: Annotated[User, Depends(current_user)],
    scheme: str = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HTMLResponse:
    console = state(request)
    rows = await asyncio.to_thread(
        q.find_runs,
        console.ledger,
        scheme=scheme or None,
        kind=kind or None,
        status=status or None,
        limit=PAGE_SIZE + 1,
        offset=page * PAGE_SIZE,
    )
    return render(
        request,
        "runs.html",
        active="runs",
        runs=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        filters={"scheme": scheme, "kind": kind, "status": status},
        schemes=sorted(console.schemes),
        kinds=KINDS,
        run_statuses=RUN_STATUSES,
        seconds=seconds,
        scheme_id=scheme or None,
        run=None,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_detail(
    request: Request, run_id: int, user: Annotated[User, Depends(current_user)]
) -> HTMLResponse:
    console = state(request)
    run = await asyncio.to_thread(q.get_run, console.ledger, run_id)
    if run is None:
        raise HTTPException(404, f"no run with id {run_id}")
    await asyncio.to_thread(console.ledger.flush)
    calls, moves = await asyncio.gather(
        asyncio.to_thread(q.run_calls, console.ledger, run, _connections(console.schemes.get(run.scheme))),
        asyncio.to_thread(q.run_transitions, console.ledger, run),
    )
    end = run.ended_at or run.heartbeat_at or dt.datetime.now(dt.UTC)
    span = max((end - run.started_at).total_seconds(), 0.001)
    bars: dict[str, list[Bar]] = {}
    for c in calls:
        start = (c.at - dt.timedelta(milliseconds=c.latency_ms) - run.started_at).total_seconds()
        css = "wait" if c.status == "slow_down" else ("err" if c.status != "ok" else "")
        title = f"{c.api} {c.status} {c.latency_ms:.0f} ms" + (f" {c.error_code}" if c.error_code else "")
        bars.setdefault(f"{c.connection} · {c.api}", []).append(
            Bar(max(0.0, 100 * start / span), max(0.3, 100 * c.latency_ms / 1000 / span), css, title)
        )
    waits = [c for c in calls if c.status == "slow_down"]
    return render(
        request,
        "runs.html",
        active="runs",
        run=run,
        calls=calls,
        waits=waits,
        bars=bars,
        moves=moves,
        seconds=seconds,
        scheme_id=run.scheme,
    )


def _connections(scheme: Any) -> list[str]:
    """The connections a scheme's run calls: source, target and lookups."""
    if scheme is None:
        return []
    names = [scheme.source.connection, scheme.target.connection, *(e.connection for e in scheme.enrich)]
    return sorted({n for n in names if n})


PAGE = Page(name="runs", title="Runs", router=router, nav_path="/runs", order=20)
