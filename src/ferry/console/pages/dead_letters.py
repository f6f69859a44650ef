"""Dead letters and quarantine (死信与隔离): records that stopped (dead, quarantined, held), grouped by
what went wrong (the status, the error's kind and code, with an example reason), each group a link to
its records, which the records page can retry, skip or replay.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ferry.console.auth import User, current_user
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.web import render, state
from ferry.store import console_queries as q

router = APIRouter()
STOPPED = ("dead", "quarantined", "held")

add(
    "zh",
    {
        "Reasons by kind": "按原因分类",
        "Example reason": "示例原因",
        "Code": "错误码",
        "Count": "数量",
        "quality": "质量规则",
        "give_up": "放弃",
        "follow_up": "后续操作",
    },
)


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters(
    request: Request, user: Annotated[User, Depends(current_user)], scheme: str = ""
) -> HTMLResponse:
    console = state(request)
    groups, rows = await asyncio.gather(
        asyncio.to_thread(q.reasons_by_kind, console.ledger, scheme or None, STOPPED),
        asyncio.to_thread(
            q.find_records, console.ledger, q.RecordFilter(scheme=scheme or None, statuses=STOPPED), limit=50
        ),
    )

    def link(g: q.ReasonGroup) -> str:
        query = {
            "status": g.status,
            **({"scheme": scheme} if scheme else {}),
            **({"kind": g.kind} if g.kind else {}),
        }
        return "/records?" + urlencode(query)

    return render(
        request,
        "dead_letters.html",
        active="dead_letters",
        groups=groups,
        rows=rows,
        link=link,
        scheme=scheme,
        schemes=sorted(console.schemes),
        scheme_id=scheme or None,
    )


PAGE = Page(name="dead_letters", title="Dead letters", router=router, nav_path="/dead-letters", order=40)
