"""What every page needs: the templates, what they all show, and the console's state.

:func:`render` fills a template with the request's user, language, CSRF token, the navigation and
the helpers templates use (``t`` to translate, ``when`` for times in a time zone, ``status_class``).
:func:`state` is the console's shared state (ledger, schemes, engine), set by the app factory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ferry.console.auth import User, csrf_token, current_user
from ferry.console.i18n import LANGUAGES, translator
from ferry.console.settings import ConsoleSettings

if TYPE_CHECKING:
    from ferry.console.pages import Page
    from ferry.engine.runner import Engine
    from ferry.scheme import Scheme
    from ferry.store import Ledger

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

#: statuses that need a person's attention, as the console colours them
ATTENTION = frozenset({"failed", "dead", "quarantined", "in_doubt", "held", "finishing"})


@dataclass
class ConsoleState:
    """What the pages read: the ledger, the schemes by id, and the engine when ``ferry serve`` runs."""

    ledger: Ledger
    settings: ConsoleSettings
    schemes: dict[str, Scheme] = field(default_factory=dict)
    engine: Engine | None = None
    pages: list[Page] = field(default_factory=list)

    def timezone(self, scheme_id: str | None = None) -> ZoneInfo:
        """The time zone to show a scheme's times in (its own), else the first scheme's, else Shanghai."""
        scheme = self.schemes.get(scheme_id or "") or next(iter(self.schemes.values()), None)
        return ZoneInfo(scheme.timezone if scheme is not None else "Asia/Shanghai")


def state(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def language(request: Request) -> str:
    lang = request.cookies.get("lang")
    return lang if lang in LANGUAGES else state(request).settings.language


def when(moment: dt.datetime | None, tz: ZoneInfo | None = None) -> str:
    """A time as people read it: wall-clock time in ``tz`` (the scheme's zone), to the second."""
    if moment is None:
        return ""
    return moment.astimezone(tz or ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")


def status_class(status: str) -> str:
    """A CSS class for a record or run status (colour by what it asks of a person)."""
    if status in ATTENTION or status in ("interrupted",):
        return "st-bad" if status in ("dead", "quarantined", "failed", "interrupted") else "st-warn"
    if status in ("written", "ok"):
        return "st-good"
    return "st-neutral"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` with what every page shows."""
    console = state(request)
    try:
        user: User | None = current_user(request)
    except Exception:
        user = None
    lang = language(request)
    context.setdefault("tz", console.timezone(context.get("scheme_id")))
    base = {
        "request": request,
        "user": user,
        "lang": lang,
        "languages": LANGUAGES,
        "t": translator(lang),
        "csrf": csrf_token(request),
        "nav": [p for p in console.pages if p.nav_path is not None],
        "when": when,
        "status_class": status_class,
    }
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


__all__ = ["ATTENTION", "TEMPLATES", "ConsoleState", "language", "render", "state", "status_class", "when"]
