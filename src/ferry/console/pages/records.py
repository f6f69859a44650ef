"""Records (数据记录): filters (scheme, status, time), a search box that finds a record by any business key
(``Ledger.search``: source id, approval number, Kingdee bill number, target number, text in the content),
the error in the row, the unresolved view, and bulk actions (retry, skip, replay) on a selection or on
all matches.

An action never acts at once: the first POST shows how many records it will touch (and which it leaves
out, and why), the second, with ``confirm``, acts. Operators only; every POST carries the CSRF token;
the rules are :mod:`ferry.engine.steer`'s (the same as ``ferry records``), and each moved record's event
names who asked. When the console runs with an engine (``ferry serve``), a dispatch pass of the record's
scheme starts right after, so a retried record is written without waiting for the schedule; without one
(``ferry console``) the confirmation and the message after say who will (a running ``ferry serve``, or
the next scheduled pass), and a replay that must read a record again at the source is refused, saying why.

The list refreshes itself when the ledger changes (``/records/live``, see :mod:`ferry.console.pages.live`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ferry.console.auth import User, current_user, operator, verify_csrf
from ferry.console.i18n import add
from ferry.console.pages import Page
from ferry.console.pages.live import signature
from ferry.console.views import filter_query, record_filter
from ferry.console.web import ConsoleState, render, state
from ferry.engine import steer
from ferry.store import RecordRow
from ferry.store import console_queries as q

log = logging.getLogger(__name__)
router = APIRouter()
PAGE_SIZE = 50
#: at most this many records in one bulk action (a larger set: narrow the filter, or act again)
MAX_BULK = 5000
ACTIONS: tuple[steer.Action, ...] = ("retry", "skip", "replay")
#: said before and after an action where no engine runs (``ferry console``): the ledger moves, the
#: passes that act on it run elsewhere
NO_ENGINE = (
    "This console runs no passes (ferry console): a running ferry serve (or the next scheduled pass) "
    "picks these records up."
)
#: why a source-skipped record is refused a replay here (re-reading it needs an engine)
NO_REREAD = (
    "skipped because of its state at the source: a replay reads it again from the source, which this "
    "console cannot do (no engine: ferry console); replay it from a ferry serve console or with "
    "`ferry records replay`"
)
NOT_LOADED = (
    "skipped because of its state at the source: a replay reads it again with its scheme, which this "
    "console has not loaded"
)

add(
    "zh",
    {
        "Search by any key: approval number, Kingdee bill number, source id, text": "按任意编号搜索：审批编号、金蝶单据号、来源编号、内容",
        "{n} records match": "共 {n} 条匹配",
        "Selected": "所选记录",
        "All matches": "全部匹配记录",
        "Apply to": "作用于",
        "Confirm": "确认",
        "Cancel": "取消",
        "This will touch {n} records.": "此操作将影响 {n} 条记录。",
        "Left out": "不处理",
        "read again from the source first": "先从来源重新读取",
        "Nothing to do: no record here can take this action.": "无可操作的记录。",
        "Select records or choose all matches": "请选择记录或选择全部匹配记录",
        "{action}: {n} record(s) moved": "{action}：已处理 {n} 条记录",
        "Since": "起始时间",
        "Until": "截止时间",
        "Time": "时间",
        "draft": "草稿",
        "Only operators may act": "只有操作员可以执行操作",
        "The list changed; it refreshes once no record is ticked.": "列表已有变化；取消勾选后自动刷新。",
        NO_ENGINE: "此控制台不运行任何处理（ferry console）：正在运行的 ferry serve（或下一次计划处理）会接手这些记录。",
        NO_REREAD: "因来源状态而跳过：重放需要从来源重新读取，此控制台无法执行（无引擎：ferry console）；"
        "请在 ferry serve 的控制台或用 `ferry records replay` 重放",
        NOT_LOADED: "因来源状态而跳过：重放需要用其集成方案重新读取，此控制台未加载该方案",
    },
)


def _rows_for(console: ConsoleState, form: Any, tz: Any) -> list[RecordRow]:
    if form.get("scope") == "all":
        ids = q.matching_ids(console.ledger, record_filter(form, tz), limit=MAX_BULK)
    else:
        ids = [int(v) for v in form.getlist("id") if str(v).isdigit()][:MAX_BULK]
    return q.records_by_ids(console.ledger, ids)


async def _listing(request: Request) -> dict[str, Any]:
    """What the list shows for the request's filters and page (the page and its live part)."""
    console = state(request)
    params = request.query_params
    tz = console.timezone(params.get("scheme"))
    f = record_filter(params, tz)
    page = int(params.get("page", "0")) if params.get("page", "0").isdigit() else 0
    rows = await asyncio.to_thread(
        q.find_records, console.ledger, f, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE
    )
    more = len(rows) > PAGE_SIZE
    if f.find:
        # a search is counted from its own page (a second search would scan the content again)
        total = page * PAGE_SIZE + len(rows[:PAGE_SIZE])
    else:
        total = await asyncio.to_thread(q.count_records, console.ledger, f, cap=MAX_BULK * 20)
    return {
        "rows": rows[:PAGE_SIZE],
        "more": more,
        "page": page,
        "total": total,
        "total_more": more and bool(f.find),
        "filters": filter_query(params),
        "scheme_id": f.scheme,
    }


@router.get("/records", response_class=HTMLResponse)
async def records_page(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
    live = await signature(request)  # before the reads: a change after them is pushed
    listing = await _listing(request)
    return render(
        request,
        "records.html",
        active="records",
        live=live,
        no_engine_text=NO_ENGINE,
        schemes=sorted(state(request).schemes),
        flash=request.session.pop("flash", None),
        **listing,
    )


@router.get("/records/live", response_class=HTMLResponse)
async def records_live(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
    """The list alone (count and table), for the page to swap in when the ledger changed."""
    return render(request, "records_live.html", **await _listing(request))


@router.post("/records/actions", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def records_action(request: Request, user: Annotated[User, Depends(operator)]) -> Response:
    console = state(request)
    form = await request.form()
    asked = form.get("action")
    if asked not in ACTIONS:
        raise HTTPException(400, f"unknown action {str(asked)[:20]!r}; one of {', '.join(ACTIONS)}")
    action: steer.Action = asked
    tz = console.timezone(str(form.get("scheme") or "") or None)
    rows = await asyncio.to_thread(_rows_for, console, form, tz)
    if not rows:
        request.session["flash"] = {"text": "Select records or choose all matches"}
        return RedirectResponse(_back(form), status_code=303)
    engine = console.engine
    rereadable = engine is not None and all(r.scheme in console.schemes for r in rows)
    if action == "replay":
        plan = steer.plan_replay(rows, steer.REPLAYABLE, can_reread=rereadable)
        chosen = plan.from_ledger + plan.from_source
        # the refusal says why here, not only that the record must be read again
        why_not = NO_REREAD if engine is None else NOT_LOADED
        source_skips = {r.id for r in rows if r.status == "skipped" and not steer.skipped_by_the_scheme(r)}
        left_out = [(i, why_not if i in source_skips else why) for i, why in plan.left_out]
    else:
        chosen = steer.touched(rows, action)
        picked = {r.id for r in chosen}
        left_out = [
            (r.id, steer.NOT_REPLAYABLE.get(r.status, f"status {r.status}"))
            for r in rows
            if r.id not in picked
        ]
        plan = None
    if form.get("confirm") != "yes":
        return render(
            request,
            "records.html",
            active="records",
            confirm={
                "action": action,
                "rows": chosen,
                "left_out": Counter(why for _, why in left_out).most_common(),
                "from_source": {r.id for r in plan.from_source} if plan else set(),
                "back": _back(form),
                "no_engine": engine is None,
            },
            filters=filter_query(form),
            scheme_id=str(form.get("scheme") or "") or None,
            no_engine_text=NO_ENGINE,
        )
    by = f"{user.name} (console)"
    moved = await asyncio.to_thread(_act, console, action, chosen, plan, by)
    if plan is not None and plan.from_source and engine is not None:
        by_scheme: dict[str, list[RecordRow]] = {}
        for r in plan.from_source:
            by_scheme.setdefault(r.scheme, []).append(r)
        for scheme_id, some in by_scheme.items():
            lines = await engine.reread(console.schemes[scheme_id], some, by=by)
            moved += sum(1 for line in lines if line.startswith("replayed"))
    log.info("console: %s asked %s on %d record(s), %d moved", user.name, action, len(chosen), moved)
    request.session["flash"] = {
        "text": "{action}: {n} record(s) moved",
        "action": action,
        "n": moved,
        "no_engine": engine is None and moved > 0,
    }
    if action != "skip":
        _dispatch_soon(console, {r.scheme for r in chosen})
    return RedirectResponse(_back(form), status_code=303)


def _act(
    console: ConsoleState, action: str, rows: list[RecordRow], plan: steer.ReplayPlan | None, by: str
) -> int:
    ids = [r.id for r in rows]
    if action == "retry":
        return steer.retry(console.ledger, ids, by=by)
    if action == "skip":
        return steer.skip(console.ledger, ids, by=by)
    assert plan is not None
    return len(steer.replay_from_ledger(console.ledger, plan.from_ledger, by=by))


#: dispatch passes started by actions, kept so they are not collected while they run
_PASSES: set[asyncio.Task[Any]] = set()


def _dispatch_soon(console: ConsoleState, scheme_ids: set[str]) -> None:
    """Start a dispatch pass of each scheme whose records were moved (only with an engine)."""
    if console.engine is None:
        return
    for scheme_id in sorted(scheme_ids):
        scheme = console.schemes.get(scheme_id)
        if scheme is None:
            continue
        task = asyncio.get_running_loop().create_task(console.engine.dispatch(scheme, trigger="console"))
        _PASSES.add(task)
        task.add_done_callback(_done)


def _done(task: asyncio.Task[Any]) -> None:
    _PASSES.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("console dispatch pass failed: %s", task.exception())


def _back(form: Any) -> str:
    from urllib.parse import urlencode

    query = filter_query(form)
    return "/records" + (f"?{urlencode(query)}" if query else "")


PAGE = Page(name="records", title="Records", router=router, nav_path="/records", order=30)
