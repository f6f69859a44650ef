"""The one HTTP transport of every connector: limits, failure mapping, redirects and secrets in one place.

The REST, DingTalk and Kingdee clients each speak their own protocol over :class:`Transport`; what a
hostile or broken server can do to a call is bounded here, once:

- **a total deadline per call** (``TransportLimits.deadline_s``): connect, send and the *whole* body
  read, under one ``asyncio.timeout``. httpx's own timeouts are per network read, so a server that
  trickles one byte a second would otherwise hold a call for hours.
- **a maximum answer size** (``max_response_bytes``, default 16 MiB), read as a stream: a declared
  ``Content-Length`` over the cap is refused before any body is read, and a body is dropped as soon
  as it passes the cap, compressed or not (gzip and deflate are inflated here, in bounded steps, so a
  small compressed bomb cannot expand in memory).
- **redirects** are followed only when the caller asks (reads) and only within the same origin
  (scheme, host, port); a redirect to another origin is a :class:`GiveUp` that names it, so no
  credential (``Authorization``, an API-key header, a session cookie) is ever sent elsewhere.
- **one mapping of httpx failures** to typed errors, :data:`~ferry.connectors.failures.HTTPX_REMEDIES`,
  walked by a test so a class httpx adds later cannot go unmapped:

  =====================================================  =============================================
  what happened                                          error
  =====================================================  =============================================
  nothing left this machine (connect refused or timed    RetryLater
  out, no pooled connection, proxy refused)
  the request could not be built or sent as written      GiveUp
  (bad URL, unsupported scheme, invalid header)
  the request may have reached the server (write or      RetryLater for an idempotent call,
  read failed, connection dropped, deadline passed       OutcomeUnknown otherwise (reconcile first)
  after sending began, answer undecodable)
  the answer is larger than the cap                      GiveUp for a read, OutcomeUnknown for a write
  =====================================================  =============================================

  "Idempotent" is the caller's word: GET/HEAD/OPTIONS/PUT/DELETE by default, and a read sent as POST
  (DingTalk's list, Kingdee's queries) says so. When httpcore reports that sending never started
  (its ``trace`` extension), a failure is a plain retry whatever the method.
- ``Retry-After`` is read as seconds or an HTTP date by :func:`~ferry.connectors.failures.parse_retry_after`
  and clamped to [0, 3600] s; a non-finite value is ignored.

The limits are :mod:`ferry.connectors.limits`, the answer :mod:`ferry.connectors.answer`, what httpcore
reports of a request :mod:`ferry.connectors.progress`, the body reading (cap, bounded inflating)
:mod:`ferry.connectors.bodies` and the failure mapping :mod:`ferry.connectors.failures`. Their public
names are re-exported here.

Messages are one line, carry the exception's class (``ReadTimeout``) and pass through the redactor;
the clients register every credential they obtain (tokens, session ids) so httpx's own log lines are
masked too.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from ferry.connectors.answer import Answer
from ferry.connectors.bodies import AnswerTooLarge, parse_json, read_capped, register_cookies
from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown, RetryLater
from ferry.connectors.failures import HTTPX_REMEDIES, Remedy, parse_retry_after, remedy_for
from ferry.connectors.limits import DEFAULT_DEADLINE_S, DEFAULT_MAX_RESPONSE_BYTES, TransportLimits
from ferry.connectors.progress import Progress as _Progress  # its old name here, which tests import
from ferry.observe.redact import redact
from ferry.observe.tracing import http_attempt

MAX_REDIRECTS = 5
#: methods whose repetition cannot create a second document
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_DETAIL_LIMIT = 200
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


#: what the errors say the transport was doing when a failure struck
_PHASE_WORDS = {
    "connect": "connecting",
    "send": "sending the request",
    "wait": "waiting for the answer",
    "read": "reading the answer",
}


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Same scheme, host and (effective) port."""
    return (a.scheme, a.host, _port(a)) == (b.scheme, b.host, _port(b))


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def origin_text(url: httpx.URL) -> str:
    """``scheme://host:port`` for messages (no path or query: those may hold secrets)."""
    port = f":{url.port}" if url.port else ""
    return redact(f"{url.scheme}://{url.host}{port}")


class Transport:
    """An ``httpx.AsyncClient`` behind Ferry's limits; one per connection.

    ``system`` prefixes messages (``"Kingdee"``: "Kingdee Push: could not connect ..."). ``transport``
    is httpx's test seam; ``http`` lends an existing client (it is not closed by :meth:`aclose`).
    ``session_cookies``: names of cookies that carry a session (Kingdee's ``kdservice-sessionid``).
    """

    def __init__(
        self,
        *,
        system: str = "",
        limits: TransportLimits | None = None,
        base_url: str | httpx.URL = "",
        headers: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        session_cookies: Collection[str] = (),
    ) -> None:
        self.system = system
        #: cookies that carry a session: registered with the redactor the moment an answer sets them
        self.session_cookies = frozenset(n.lower() for n in session_cookies)
        self.limits = limits or TransportLimits()
        self._own = http is None
        # only encodings inflated here, in bounded steps
        defaults = {"Accept-Encoding": "gzip, deflate", **dict(headers or {})}
        if http is None:
            connections = self.limits.max_connections
            http = httpx.AsyncClient(
                base_url=base_url,
                headers=defaults,
                timeout=self.limits.httpx_timeout(),
                verify=verify,
                transport=transport,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            )
            self._extra_headers: dict[str, str] = {}
        else:
            self._extra_headers = defaults
        self._http = http

    @property
    def cookies(self) -> httpx.Cookies:
        """The connection's cookie jar."""
        return self._http.cookies

    def build_request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """A request with the connection's defaults (base URL, headers, cookies)."""
        merged = {**self._extra_headers, **dict(headers or {})}
        return self._http.build_request(
            method, url, params=params, json=json, content=content, data=data, headers=merged or None
        )

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        api: str,
        idempotent: bool | None = None,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> Answer:
        """Build and :meth:`send` one request."""
        try:
            request = self.build_request(method, url, **kwargs)
        except (TypeError, ValueError, httpx.InvalidURL) as e:
            raise GiveUp(
                self._text(api, "cannot build the request", e), code=type(e).__name__, api=api
            ) from None
        return await self.send(request, api=api, idempotent=idempotent, follow_redirects=follow_redirects)

    async def send(
        self,
        request: httpx.Request,
        *,
        api: str,
        idempotent: bool | None = None,
        follow_redirects: bool = False,
    ) -> Answer:
        """Send ``request`` and read its whole answer within the limits; raise a typed error otherwise.

        Any HTTP status is an answer: interpreting 4xx/5xx is the protocol client's business.
        """
        idem = request.method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        progress = _Progress(self.session_cookies)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.limits.deadline_s):
                return await self._exchange(request, progress, follow_redirects, api, started)
        except ConnectorError:
            raise
        except TimeoutError:
            phase = progress.phase
            what = f"timed out after {self.limits.deadline_s:g} s while {_PHASE_WORDS[phase]}"
            raise self._maybe_sent(api, what, "Timeout", idem, progress, request.method) from None
        except AnswerTooLarge as e:
            size = f" ({e.size} bytes)" if e.size is not None else ""
            cap = self.limits.max_response_bytes
            if idem:
                raise GiveUp(
                    self._text(api, f"the answer is larger than the {cap}-byte limit{size}"),
                    code="too_large",
                    api=api,
                ) from None
            raise OutcomeUnknown(
                self._text(
                    api,
                    f"the answer to {request.method} is larger than the {cap}-byte limit{size}; "
                    "the write may have been applied",
                ),
                code="too_large",
                api=api,
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError) as e:
            raise self._mapped(e, api, idem, progress, request.method) from None

    async def _exchange(
        self, request: httpx.Request, progress: _Progress, follow: bool, api: str, started: float
    ) -> Answer:
        for hop in range(MAX_REDIRECTS + 1):
            # one span per attempt; a redirect is a resend of the request (OpenTelemetry HTTP conventions)
            with http_attempt(request.method, str(request.url), api=api, resend_count=hop) as attempt:
                try:
                    request.extensions = {**request.extensions, "trace": progress}
                    response = await self._http.send(request, stream=True, follow_redirects=False)
                    attempt.answered(response.status_code)
                    try:
                        location = response.headers.get("location")
                        if (
                            follow
                            and response.status_code in _REDIRECT_CODES
                            and location
                            and request.method in ("GET", "HEAD")
                        ):
                            request = self._redirected(request, location, api)
                            continue
                        progress.reading = True
                        if self.session_cookies and not progress.traced:
                            # an in-process transport: no trace hook saw the headers
                            register_cookies(response.headers.multi_items(), self.session_cookies)
                        content = await read_capped(response, self.limits.max_response_bytes)
                        cookies = httpx.Cookies()
                        cookies.extract_cookies(response)
                        return Answer(
                            status=response.status_code,
                            headers=response.headers,
                            content=content,
                            url=request.url,
                            cookies=cookies,
                            elapsed_ms=(time.perf_counter() - started) * 1000,
                        )
                    finally:
                        await response.aclose()
                except BaseException as e:
                    attempt.failed(e)
                    raise
        raise GiveUp(
            self._text(api, f"more than {MAX_REDIRECTS} redirects"), code="TooManyRedirects", api=api
        )

    def _redirected(self, request: httpx.Request, location: str, api: str) -> httpx.Request:
        try:
            url = request.url.join(location)
        except httpx.InvalidURL:
            raise GiveUp(self._text(api, "the server redirected to an invalid address"), api=api) from None
        if not same_origin(url, request.url):
            # credentials (Authorization, API-key headers, cookies) belong to the origin they were set for
            raise GiveUp(
                self._text(
                    api,
                    f"the server redirected to another origin ({origin_text(url)}); Ferry does not follow "
                    "it, so credentials stay with the configured host. Point the connection at the final address",
                ),
                code="cross_origin_redirect",
                api=api,
            )
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "cookie", "content-length")
        }
        return self._http.build_request(request.method, url, headers=headers)

    # -- errors ------------------------------------------------------------------------------------

    def _text(self, api: str, what: str, exc: BaseException | None = None) -> str:
        prefix = f"{self.system} {api}: " if self.system else ""
        detail = ""
        if exc is not None:
            text = " ".join(str(exc).split())[:_DETAIL_LIMIT]
            detail = f": {text}" if text else ""
        return redact(f"{prefix}{what}{detail}")

    def _maybe_sent(
        self,
        api: str,
        what: str,
        kind: str,
        idempotent: bool,
        progress: _Progress,
        method: str,
        exc: BaseException | None = None,
    ) -> ConnectorError:
        # the class name is the error's code, which str(error) shows: "(code ReadTimeout)"
        if progress.nothing_sent:
            return RetryLater(self._text(api, f"{what}; nothing was sent", exc), code=kind, api=api)
        if idempotent:
            return RetryLater(self._text(api, what, exc), code=kind, api=api)
        return OutcomeUnknown(
            self._text(api, f"{what}; the {method} was sent and may have been applied", exc),
            code=kind,
            api=api,
        )

    def _mapped(
        self, exc: Exception, api: str, idempotent: bool, progress: _Progress, method: str
    ) -> ConnectorError:
        kind = type(exc).__name__
        remedy = remedy_for(exc)
        if remedy is Remedy.RETRY:
            return RetryLater(self._text(api, "could not connect", exc), code=kind, api=api)
        if remedy is Remedy.GIVE_UP:
            return GiveUp(self._text(api, "cannot send the request", exc), code=kind, api=api)
        return self._maybe_sent(api, "no answer", kind, idempotent, progress, method, exc)

    async def aclose(self) -> None:
        """Close the connections (unless the client was lent)."""
        if self._own:
            await self._http.aclose()

    def __repr__(self) -> str:
        return f"Transport(system={self.system!r}, limits={self.limits!r})"


__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "HTTPX_REMEDIES",
    "IDEMPOTENT_METHODS",
    "MAX_REDIRECTS",
    "Answer",
    "AnswerTooLarge",
    "Remedy",
    "Transport",
    "TransportLimits",
    "origin_text",
    "parse_json",
    "parse_retry_after",
    "register_cookies",
    "remedy_for",
    "same_origin",
]
