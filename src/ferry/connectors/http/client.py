"""An async JSON-over-HTTP client that maps every failure to a typed connector error.

It knows nothing of schemes: it sends one request over the shared
:class:`~ferry.connectors.transport.Transport` (a total deadline per call, a capped answer size,
same-origin redirects, one mapping of transport failures), parses the JSON answer, reports the call to the
:class:`~ferry.observe.calls.CallRecorder`, and turns failures into what the engine should do:

================================================  ==========================================
what happened                                     error
================================================  ==========================================
connect failed / pool timeout (nothing sent)      RetryLater
deadline passed, dropped connection after         OutcomeUnknown for POST/PATCH,
sending, answer larger than the cap               RetryLater for GET/PUT/DELETE (idempotent;
                                                  an oversized read is GiveUp)
429                                               SlowDown (``retry_after`` from Retry-After,
                                                  clamped to an hour)
408, 5xx                                          RetryLater (504 on POST/PATCH: OutcomeUnknown,
                                                  a gateway timeout says nothing of the upstream)
401/403                                           Reauthenticate when the auth can renew its
                                                  credential, else GiveUp
other 4xx, 3xx                                    GiveUp with the body's message (truncated)
2xx with a body that is not JSON                  OutcomeUnknown for POST/PATCH (it answered
                                                  "done" in a form we cannot check), else GiveUp
a URL on another origin than ``base_url``         GiveUp: credentials are never sent elsewhere
================================================  ==========================================

Every message passes through the redactor, so a key in a URL or an echoed header never leaks. Whether a
2xx answer *says* it worked is the adapter's question (:mod:`.outcome`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from ferry.connectors.errors import (
    AccessDenied,
    ConnectorError,
    GiveUp,
    OutcomeUnknown,
    Reauthenticate,
    RetryLater,
    SlowDown,
)
from ferry.connectors.http.auth import NoAuth, RestAuth
from ferry.connectors.http.paths import get_path
from ferry.connectors.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    IDEMPOTENT_METHODS,
    Answer,
    Transport,
    TransportLimits,
    origin_text,
    same_origin,
)
from ferry.observe.calls import ApiCall, CallRecorder, NullCallRecorder
from ferry.observe.redact import redact

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 300
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid", "x-trace-id")
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "msg", "errmsg", "errorMessage")
_CODE_KEYS = ("code", "error_code", "errcode", "errorCode")


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """A 2xx answer: its parsed JSON (``data``; None when ``empty``), status and request id."""

    status: int
    data: Any
    empty: bool
    request_id: str | None = None


class RestClient:
    """``await client.request("GET", "/orders", params={...}, api_name="list orders")`` -> parsed JSON.

    ``timeout`` is the deadline of a whole call (connect, send, read every byte); ``max_response_bytes``
    caps an answer. ``max_concurrency`` bounds the calls in flight on this connection. ``transport`` is a
    test seam (httpx's own transports); production code leaves it unset.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: RestAuth | None = None,
        timeout: float = 30.0,
        connect_timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        recorder: CallRecorder | None = None,
        connection_name: str = "http",
        max_concurrency: int = 8,
        verify: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.base_url = httpx.URL(base_url)
        self.auth: RestAuth = auth or NoAuth()
        self.recorder: CallRecorder = recorder or NullCallRecorder()
        self.connection_name = connection_name
        self.max_concurrency = max_concurrency
        self.limits = TransportLimits(
            deadline_s=float(timeout),
            connect_s=connect_timeout,
            max_response_bytes=max_response_bytes,
            max_connections=max_concurrency,
        )
        self._http = Transport(
            limits=self.limits,
            base_url=self.base_url,
            headers={"Accept": "application/json", **dict(headers or {})},
            verify=verify,
            transport=transport,
        )
        self._slots = asyncio.Semaphore(max_concurrency)

    def url_for(self, path: str) -> httpx.URL:
        """The absolute URL ``path`` resolves to (an absolute ``path`` is kept as it is)."""
        url = httpx.URL(path)
        if url.is_absolute_url:
            return url
        base = str(self.base_url).rstrip("/")
        return httpx.URL(f"{base}/{path.lstrip('/')}") if path else self.base_url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        api_name: str | None = None,
    ) -> Any:
        """Send one request and return its parsed JSON (None for an empty body); raise a typed error."""
        return (await self.call(method, path, params=params, json=json, api_name=api_name)).data

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        api_name: str | None = None,
    ) -> RestAnswer:
        """Like :meth:`request`, but the whole :class:`RestAnswer` (an empty body is told from ``null``)."""
        return await self._call(method, path, params=params, json=json, api_name=api_name)

    async def fetch_token(self, conf: Mapping[str, Any]) -> str:
        """OAuth2 client-credentials: POST the form to ``token_url`` and read ``token_path`` (``access_token``)."""
        form = {
            "grant_type": str(conf.get("grant_type", "client_credentials")),
            "client_id": str(conf["client_id"]),
            "client_secret": str(conf["client_secret"]),
        }
        if conf.get("scope"):
            form["scope"] = str(conf["scope"])
        answer = await self._call(
            "POST", str(conf["token_url"]), form=form, api_name="token", authenticate=False
        )
        token = get_path(answer.data, str(conf.get("token_path", "access_token")))
        if not isinstance(token, str) or not token:
            raise GiveUp("the token endpoint answered without a token", api="token")
        return token

    def _build(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        form: Mapping[str, str] | None,
        api: str,
        authenticate: bool,
    ) -> httpx.Request:
        try:
            target: httpx.URL | str = path
            query = dict(params) if params else None
            url = httpx.URL(path)
            if query and url.query:
                # httpx replaces a URL's query with ``params``; we add to it (next links carry their own)
                target, query = url.copy_merge_params(query), None
            request = self._http.build_request(method, target, params=query, json=json, data=form)
        except (TypeError, ValueError, httpx.InvalidURL) as e:
            raise GiveUp(f"cannot encode the request: {redact(str(e))[:MESSAGE_LIMIT]}", api=api) from None
        if authenticate and not same_origin(request.url, self.base_url):
            # a next link or a probe path the server handed us: credentials stay with base_url's origin
            raise GiveUp(
                f"refusing to send the connection's credentials to another origin ({origin_text(request.url)}); "
                "base_url is the only origin this connection talks to",
                code="cross_origin",
                api=api,
            )
        return request

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        api_name: str | None = None,
        authenticate: bool = True,
    ) -> RestAnswer:
        method = method.upper()
        try:
            api = api_name or f"{method} {httpx.URL(path).path or '/'}"
        except httpx.InvalidURL:
            api = api_name or method
        started = time.perf_counter()
        http_status: int | None = None
        request_id: str | None = None
        url_text = ""
        try:
            request = self._build(method, path, params, json, form, api, authenticate)
            if authenticate:
                # outside the slot: fetching a token is itself a call and needs a slot
                await self.auth.apply(request)
            url_text = redact(str(request.url))
            async with self._slots:
                answer = await self._http.send(request, api=api, follow_redirects=method == "GET")
            http_status = answer.status
            request_id = _request_id(answer)
            result = self._interpret(answer, method, api, request_id, authenticated=authenticate)
        except ConnectorError as e:
            latency = (time.perf_counter() - started) * 1000
            self._record(api, e.action, latency, http_status, e.code, request_id)
            log.info(
                "%s %s failed after %.0f ms: %s: %s",
                method,
                url_text,
                latency,
                e.action,
                redact(str(e)),
            )
            raise
        latency = (time.perf_counter() - started) * 1000
        self._record(api, "ok", latency, http_status, None, request_id)
        log.debug("%s %s -> %s in %.0f ms", method, url_text, http_status, latency)
        return result

    def _record(
        self,
        api: str,
        status: str,
        latency_ms: float,
        http_status: int | None,
        code: str | None,
        request_id: str | None,
    ) -> None:
        self.recorder.record(
            ApiCall(
                connection=self.connection_name,
                api=api,
                status=status,
                latency_ms=latency_ms,
                http_status=http_status,
                error_code=code,
                request_id=request_id,
            )
        )

    def _interpret(
        self, answer: Answer, method: str, api: str, request_id: str | None, *, authenticated: bool
    ) -> RestAnswer:
        status = answer.status
        if 200 <= status < 300:
            if status == 204 or not answer.content.strip():
                return RestAnswer(status, None, True, request_id)
            try:
                return RestAnswer(status, answer.json(), False, request_id)
            except ValueError:
                message = f"malformed response: HTTP {status} body is not JSON: {_snippet(answer.text)}"
                if method not in IDEMPOTENT_METHODS:
                    # the server said "done" in a form we cannot check: the probe must settle it
                    raise OutcomeUnknown(
                        f"{message}; the write may have been applied",
                        code=str(status),
                        api=api,
                        request_id=request_id,
                    ) from None
                raise GiveUp(message, code=str(status), api=api, request_id=request_id) from None
        message, code = _error_details(answer)
        code = code or str(status)
        text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        kw: dict[str, Any] = {"code": code, "api": api, "request_id": request_id}
        if status == 429:
            raise SlowDown(text, retry_after=answer.retry_after, **kw)
        if status in (401, 403):
            # a rejected token request (authenticated=False) is a wrong client secret: nothing to renew
            if authenticated and self.auth.can_refresh:
                self.auth.invalidate()
                raise Reauthenticate(f"credentials rejected: {text}", **kw)
            # the connection's credentials (or its permission) are refused: no record is to blame, so
            # the pass stops and nothing goes dead; a person fixes the connection and they all go
            raise AccessDenied(f"credentials rejected (check the connection's auth): {text}", **kw)
        if status == 504 and method not in IDEMPOTENT_METHODS:
            raise OutcomeUnknown(f"gateway timeout; the request may have been applied: {text}", **kw)
        if status == 408 or status >= 500:
            raise RetryLater(text, retry_after=answer.retry_after, **kw)
        if 300 <= status < 400:
            where = redact(answer.headers.get("location", "?"))[:MESSAGE_LIMIT]
            raise GiveUp(f"unexpected redirect to {where}: {text}", **kw)
        raise GiveUp(text, **kw)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"RestClient({redact(str(self.base_url))!r}, connection={self.connection_name!r}, "
            f"auth={self.auth!r}, max_concurrency={self.max_concurrency})"
        )


def _query_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def query_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Rendered fields as query parameters: scalars and lists of scalars as they are, anything else as
    JSON text; None values are left out."""
    return {k: _query_value(v) for k, v in fields.items() if v is not None}


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "..."
    return redact(text) or "(empty)"


def _error_details(answer: Answer) -> tuple[str, str | None]:
    """The message and the remote error code of an error answer, from JSON when it is JSON."""
    try:
        body = answer.json()
    except ValueError:
        return _snippet(answer.text), None
    if not isinstance(body, dict):
        return _snippet(str(body)), None
    message: Any = None
    for key in _MESSAGE_KEYS:
        value = body.get(key)
        if value:
            message = value.get("message", value) if isinstance(value, dict) else value
            break
    code: Any = next((body[k] for k in _CODE_KEYS if body.get(k) not in (None, "")), None)
    if code is None and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
    if message is None:
        message = body
    return _snippet(str(message)), (redact(str(code))[:64] if code is not None else None)


def _request_id(answer: Answer) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = answer.header(name)
        if value is not None:
            return redact(value)
    return None


__all__ = ["IDEMPOTENT_METHODS", "RestAnswer", "RestClient", "query_fields"]
