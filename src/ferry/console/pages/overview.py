"""Overview (总览): every scheme with its counts by status.

The first page; the console issue grows it into health, throughput and today's totals.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ferry.console.auth import User, current_user
from ferry.console.pages import Page
from ferry.console.web import render, state

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, user: User = Depends(current_user)) -> HTMLResponse:  # noqa: B008
    console = state(request)
    ids = sorted(console.schemes)
    counts = await asyncio.gather(*(asyncio.to_thread(console.ledger.counts, s) for s in ids))
    rows = [{"id": s, "scheme": console.schemes[s], "counts": c} for s, c in zip(ids, counts, strict=True)]
    return render(request, "overview.html", active="overview", rows=rows)


PAGE = Page(name="overview", title="Overview", router=router, nav_path="/", order=10)
