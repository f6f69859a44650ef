"""Who is using the console, and what they may do: login, two roles, CSRF on every action.

- A login is a name (for the audit trail: every action is written to the ledger with it) and a
  password; the password decides the role: the operator password gives ``operator`` (may act), the
  viewer password ``viewer`` (may only look). Compared in constant time; repeated failures from one
  address are slowed down.
- The session is a signed cookie (Starlette's SessionMiddleware): HttpOnly, SameSite=Strict, Secure
  when the console is served over https, limited in time.
- Every state-changing request carries the session's CSRF token (a form field ``csrf`` or the
  ``X-CSRF-Token`` header htmx sends); without it the request is refused.
- With no password configured (loopback only, see :mod:`.settings`) everyone is the operator "local".
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ferry.console.settings import ConsoleSettings

Role = Literal["viewer", "operator"]

#: failed logins from one address within this many seconds ...
FAILED_WINDOW_S = 60.0
#: ... above this count are refused until the window passes
FAILED_LIMIT = 5


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


class LoginRequired(Exception):
    """Raised by :func:`current_user` for a request without a session; answered with a redirect."""


class LoginThrottle:
    """Counts failed logins per address; refuses more than :data:`FAILED_LIMIT` a minute."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, address: str) -> bool:
        recent = self._recent(address)
        return len(recent) >= FAILED_LIMIT

    def failed(self, address: str) -> None:
        self._recent(address).append(time.monotonic())

    def _recent(self, address: str) -> deque[float]:
        q = self._failures.setdefault(address, deque())
        cutoff = time.monotonic() - FAILED_WINDOW_S
        while q and q[0] < cutoff:
            q.popleft()
        return q


def settings_of(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


def role_for(settings: ConsoleSettings, password: str) -> Role | None:
    """The role a password gives, or None (constant-time compare against both)."""
    given = password.encode()
    operator = settings.operator_password is not None and hmac.compare_digest(
        given, settings.operator_password.encode()
    )
    viewer = settings.viewer_password is not None and hmac.compare_digest(
        given, settings.viewer_password.encode()
    )
    if operator:
        return "operator"
    if viewer:
        return "viewer"
    return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse a state-changing request that does not carry the session's CSRF token."""
    expected = request.session.get("csrf")
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page")


def current_user(request: Request) -> User:
    """The logged-in user; a request without a session is sent to the login page."""
    settings = settings_of(request)
    if settings.open_access:
        return User("local", "operator")
    name, role = request.session.get("user"), request.session.get("role")
    if isinstance(name, str) and role in ("viewer", "operator"):
        return User(name, role)
    raise LoginRequired()


def operator(user: User = Depends(current_user)) -> User:  # noqa: B008 - FastAPI's dependency idiom
    """The logged-in user, who must be an operator (viewers may only look)."""
    if not user.may_act:
        raise HTTPException(status_code=403, detail="viewers may only look; log in as an operator to act")
    return user


def login_redirect(request: Request) -> Response:
    """Where a request without a session goes (htmx is told to reload the whole page there)."""
    target = "/login?next=" + request.url.path
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


__all__ = [
    "LoginRequired",
    "LoginThrottle",
    "Role",
    "User",
    "csrf_token",
    "current_user",
    "login_redirect",
    "operator",
    "role_for",
    "verify_csrf",
]
