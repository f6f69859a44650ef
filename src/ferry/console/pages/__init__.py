"""The console's pages. A page is one module here and one template in ``../templates``.

Each module exposes ``PAGE``, a :class:`Page` with its router; :func:`discover` finds them all, so adding
a page needs no list to edit. A page that shows in the navigation says so (``nav_path``) with its place
(``order``). Routes use :func:`ferry.console.web.render` for HTML and the dependencies of
:mod:`ferry.console.auth` for who may do what. A new page, whole::

    # pages/alerts.py
    router = APIRouter()
    add("zh", {"Alerts": "告警"})                      # its words, Chinese first (ferry.console.i18n)

    @router.get("/alerts", response_class=HTMLResponse)
    async def alerts(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        rows = await asyncio.to_thread(my_store_query, state(request).ledger)   # reads: a store function
        return render(request, "alerts.html", active="alerts", rows=rows)

    PAGE = Page(name="alerts", title="Alerts", router=router, nav_path="/alerts", order=50)

and ``templates/alerts.html`` extends ``base.html``. The rules the pages keep: no SQL in a page (a function
in :mod:`ferry.store.console_queries` or the page's own store module); an action is a POST with
``dependencies=[Depends(verify_csrf)]`` and ``Depends(operator)``, which writes who asked into the ledger's
events; payloads are shown through :func:`ferry.console.views.pretty` (secrets masked); no inline script
(the CSP forbids it): a chart is an element with its ECharts option in ``data-chart``, drawn by
``static/app.js``; a part that refreshes itself renders the same template with ``partial=True``
(``{% extends "partial.html" if partial else "base.html" %}``) for htmx to fetch when the live stream
says the ledger changed (:mod:`ferry.console.pages.live` shows the markup).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from fastapi import APIRouter


@dataclass(frozen=True)
class Page:
    """One page (or group of routes) of the console."""

    #: a short stable name, also the navigation key (``records``)
    name: str
    #: the English title (translated with ``t``)
    title: str
    router: APIRouter
    #: where the navigation link points; None keeps the page out of the navigation
    nav_path: str | None = None
    #: order in the navigation (lower first)
    order: int = 100


def discover() -> list[Page]:
    """Every page module's ``PAGE``, in navigation order."""
    found: list[Page] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        page = getattr(module, "PAGE", None)
        if isinstance(page, Page):
            found.append(page)
    return sorted(found, key=lambda p: (p.order, p.name))


__all__ = ["Page", "discover"]
