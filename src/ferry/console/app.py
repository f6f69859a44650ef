"""The one HTTP app of ``ferry serve`` (and ``ferry console``): health, readiness, login, the pages.

:func:`create_app` builds it over a :class:`~ferry.console.web.ConsoleState`. ``ferry serve`` adds the
DingTalk event intake and ``/metrics`` through ``routers``; the pages are found by
:func:`ferry.console.pages.discover`.

- ``GET /healthz``: the process is up (always 200 while it answers).
- ``GET /readyz``: the ledger answers and the connections resolved (503 with the reasons otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.sessions import SessionMiddleware

from ferry.console.auth import LoginRequired, LoginThrottle, csrf_token, login_redirect, role_for, settings_of
from ferry.console.i18n import LANGUAGES
from ferry.console.pages import discover
from ferry.console.web import ConsoleState, render

STATIC = Path(__file__).parent / "static"

#: what readiness asks beyond the ledger: reasons the service is not ready (empty when it is)
Readiness = Callable[[], Awaitable[list[str]]]

_SECURITY_HEADERS = {
    # scripts and styles only from the console itself: no inline script, no third-party origin
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(("/login", "/records", "/runs")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def create_app(
    console: ConsoleState,
    *,
    readiness: Readiness | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The console app over ``console``'s ledger and schemes."""
    settings = console.settings
    app = FastAPI(title="Ferry", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.state.settings = settings
    app.state.throttle = LoginThrottle()
    console.pages = discover()
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="ferry_session",
        max_age=settings.session_max_age_s,
        same_site="strict",
        https_only=settings.base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        problems: list[str] = []
        try:
            await asyncio.to_thread(console.ledger.counts)
        except Exception as e:  # the ledger's own error text says what is wrong
            problems.append(f"ledger: {type(e).__name__}: {str(e)[:200]}")
        if readiness is not None:
            problems.extend(await readiness())
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/login", include_in_schema=False)
    async def login_form(request: Request, next: str = "/") -> Response:
        csrf_token(request)
        return render(request, "login.html", next=_safe_next(next), failed=None)

    @app.post("/login", include_in_schema=False)
    async def login(
        request: Request,
        name: Annotated[str, Form(max_length=80)],
        password: Annotated[str, Form(max_length=200)],
        csrf: Annotated[str, Form(max_length=100)] = "",
        next: Annotated[str, Form(max_length=500)] = "/",
    ) -> Response:
        throttle: LoginThrottle = request.app.state.throttle
        address = request.client.host if request.client else "?"
        expected = request.session.get("csrf")
        if not isinstance(expected, str) or csrf != expected:
            return render(
                request, "login.html", status_code=403, next=_safe_next(next), failed="Reload the page"
            )
        if throttle.blocked(address):
            return render(
                request,
                "login.html",
                status_code=429,
                next=_safe_next(next),
                failed="Too many failed logins; wait a minute",
            )
        role = role_for(settings_of(request), password)
        if role is None or not name.strip():
            throttle.failed(address)
            return render(
                request, "login.html", status_code=401, next=_safe_next(next), failed="Wrong password"
            )
        request.session.clear()
        request.session.update({"user": name.strip()[:80], "role": role})
        csrf_token(request)
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/lang/{code}", include_in_schema=False)
    async def switch_language(request: Request, code: str) -> Response:
        back = _safe_next(request.headers.get("referer", "/"), same_host=request.url.netloc)
        response = RedirectResponse(back, status_code=303)
        if code in LANGUAGES:
            response.set_cookie("lang", code, max_age=365 * 86400, samesite="strict", httponly=True)
        return response

    for page in console.pages:
        app.include_router(page.router)
    for router in routers:
        app.include_router(router)
    return app


def _safe_next(target: str, *, same_host: str | None = None) -> str:
    """Only a path on this console may follow a login (no open redirect to another site)."""
    if same_host and "://" in target:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        if parts.netloc != same_host:
            return "/"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


__all__ = ["Readiness", "create_app"]
