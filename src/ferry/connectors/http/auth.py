"""Auth modes of the generic REST connector: none, bearer, basic, header key, query key.

Each mode is a small object whose async ``apply`` adds the credential to an outgoing
:class:`httpx.Request`; async so a bearer token can be fetched (and re-fetched) lazily. ``can_refresh``
tells the client what a 401/403 means: with a way to renew the credential it is *re-authenticate*,
without one it is *give up* (retrying a wrong key cannot help).

Every credential, and every derived form sent on the wire (a Basic header's base64), is registered with
the redactor so it never reaches a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from ferry.connectors.settings import ConnectionSettingsError
from ferry.observe.redact import register_secret

#: fetches a fresh bearer token (for example an OAuth2 client-credentials call)
TokenRefresher = Callable[[], Awaitable[str]]


class RestAuth(Protocol):
    """Adds a credential to a request."""

    @property
    def can_refresh(self) -> bool:
        """True when a rejected credential can be renewed (401/403 then means re-authenticate)."""
        ...

    async def apply(self, request: httpx.Request) -> None: ...

    def invalidate(self) -> None:
        """The server rejected the credential: renew it before the next request, if possible."""
        ...


class NoAuth:
    can_refresh = False

    async def apply(self, request: httpx.Request) -> None:
        return None

    def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class BearerAuth:
    """``Authorization: Bearer <token>``: a fixed token, or one fetched by ``refresher`` and renewed on 401."""

    def __init__(
        self, token: str | None = None, *, refresher: TokenRefresher | None = None, scheme: str = "Bearer"
    ) -> None:
        if token is None and refresher is None:
            raise ValueError("bearer auth needs a token or a refresher")
        self._token = token
        self._refresher = refresher
        self._scheme = scheme
        self._lock: asyncio.Lock | None = None
        if token:
            register_secret(token)

    @property
    def can_refresh(self) -> bool:
        return self._refresher is not None

    async def _current(self) -> str:
        if self._token is not None:
            return self._token
        assert self._refresher is not None
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # one refresh for many concurrent requests
            if self._token is None:
                token = await self._refresher()
                register_secret(token)
                self._token = token
            return self._token

    async def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"{self._scheme} {await self._current()}"

    def invalidate(self) -> None:
        if self._refresher is not None:
            self._token = None

    def __repr__(self) -> str:
        return f"BearerAuth(token=***, refreshable={self.can_refresh})"


class BasicAuth:
    """HTTP Basic: ``Authorization: Basic base64(username:password)``."""

    can_refresh = False

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        register_secret(password)
        credential = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        register_secret(credential)
        self._header = f"Basic {credential}"

    async def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = self._header

    def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._username!r}, password=***)"


class HeaderKeyAuth:
    """An API key in a header: ``X-API-Key: <key>`` (``prefix`` is prepended, e.g. ``"Token "``)."""

    can_refresh = False

    def __init__(self, name: str, key: str, *, prefix: str = "") -> None:
        self._name = name
        self._value = f"{prefix}{key}"
        register_secret(key)

    async def apply(self, request: httpx.Request) -> None:
        request.headers[self._name] = self._value

    def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"HeaderKeyAuth(name={self._name!r}, key=***)"


class QueryKeyAuth:
    """An API key in the query string: ``?api_key=<key>``. The URL then holds a secret: it is redacted."""

    can_refresh = False

    def __init__(self, name: str, key: str) -> None:
        self._name = name
        self._key = key
        register_secret(key)

    async def apply(self, request: httpx.Request) -> None:
        request.url = request.url.copy_merge_params({self._name: self._key})

    def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"QueryKeyAuth(name={self._name!r}, key=***)"


def _text(conf: Mapping[str, Any], key: str, mode: str) -> str:
    v = conf.get(key)
    if v is None or v == "":
        raise ConnectionSettingsError(f"auth type {mode!r} needs {key!r}")
    return str(v)


def build_auth(
    conf: Mapping[str, Any] | str | None,
    *,
    token_refresher: Callable[[Mapping[str, Any]], TokenRefresher] | None = None,
) -> RestAuth:
    """The auth object for a connection's ``auth`` settings.

    ``{type: bearer, token_url: ..., client_id: ..., client_secret: ...}`` asks for a token from an
    endpoint; ``token_refresher`` turns those settings into the call that fetches it (the REST client
    provides one, since it owns the HTTP connection).
    """
    if conf is None or conf == "none":
        return NoAuth()
    if not isinstance(conf, Mapping):
        raise ConnectionSettingsError(f"auth must be a mapping with a 'type', got {type(conf).__name__}")
    mode = str(conf.get("type", "none")).lower()
    if mode == "none":
        return NoAuth()
    if mode == "bearer":
        scheme = str(conf.get("scheme", "Bearer"))
        if conf.get("token_url"):
            for key in ("client_id", "client_secret"):
                _text(conf, key, mode)
            if token_refresher is None:
                raise ConnectionSettingsError("bearer auth with token_url needs a client to fetch the token")
            return BearerAuth(refresher=token_refresher(conf), scheme=scheme)
        return BearerAuth(_text(conf, "token", mode), scheme=scheme)
    if mode == "basic":
        return BasicAuth(_text(conf, "username", mode), _text(conf, "password", mode))
    if mode == "header":
        return HeaderKeyAuth(
            str(conf.get("name", "X-API-Key")), _text(conf, "key", mode), prefix=str(conf.get("prefix", ""))
        )
    if mode == "query":
        return QueryKeyAuth(str(conf.get("name", "api_key")), _text(conf, "key", mode))
    raise ConnectionSettingsError(
        f"unknown auth type {mode!r}; use one of none, bearer, basic, header, query"
    )


__all__ = [
    "BasicAuth",
    "BearerAuth",
    "HeaderKeyAuth",
    "NoAuth",
    "QueryKeyAuth",
    "RestAuth",
    "TokenRefresher",
    "build_auth",
]
