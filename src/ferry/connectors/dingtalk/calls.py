"""The calls under :class:`~ferry.connectors.dingtalk.client.DingTalkClient`: token, pace, record, error.

What the client does on its own: caches the token per app and refreshes it five minutes early;
on a token answer (40014, 42001, 88+40014, HTTP 400/401 ``InvalidAuthentication``) it fetches a new
token and retries once; it paces calls through a :class:`~ferry.ratelimit.bucket.RateLimiter`
keyed by ``(connection, api)`` and slows that bucket on throttling answers; it reports every call
to the :class:`~ferry.observe.calls.CallRecorder`. Everything else (retries with back-off, giving up)
is the caller's, decided by the error's type (:mod:`ferry.connectors.dingtalk.errors`).

HTTP goes through the shared :class:`~ferry.connectors.transport.Transport`: ``timeout_s`` is the
deadline of a whole call (body included), an answer over ``max_response_bytes`` is refused, and every
transport failure of these reads is a retry. The app secret and each token are registered with the
redactor as soon as they are known, so they never appear in reprs, exception messages, recorded calls or
httpx's own log lines (the legacy host takes the token in the URL).
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import httpx

from ferry.connectors.dingtalk.errors import classify_http, classify_oapi, classify_v1
from ferry.connectors.dingtalk.flow import MAX_IN_FLIGHT, Pace
from ferry.connectors.dingtalk.spec import ApiStyle, DingTalkSettings
from ferry.connectors.dingtalk.tokens import TokenCache, _Token
from ferry.connectors.errors import (
    AccessDenied,
    ConnectorError,
    GiveUp,
    QuotaExhausted,
    Reauthenticate,
    RetryLater,
    SlowDown,
)
from ferry.connectors.transport import Answer, Transport, TransportLimits
from ferry.observe.calls import ApiCall, CallRecorder, NullCallRecorder
from ferry.observe.hooks import limiter_waited
from ferry.observe.redact import redact, register_secret
from ferry.observe.tracing import resend
from ferry.ratelimit.bucket import RateLimiter
from ferry.ratelimit.second import PacerSettings, SecondPacer

API_TOKEN = {"oapi": "gettoken", "v1": "v1.0/oauth2/accessToken"}
API_LIST = {"oapi": "topapi/processinstance/listids", "v1": "v1.0/workflow/processes/instanceIds/query"}
API_GET = {"oapi": "topapi/processinstance/get", "v1": "v1.0/workflow/processInstances"}
API_SCHEMA = "v1.0/workflow/forms/schemas/processCodes"


@dataclass
class _Answer:
    status: int
    body: Any
    request_id: str | None


class DingTalkCalls:
    """The calls of one :class:`~ferry.connectors.dingtalk.client.DingTalkClient`: HTTP, token, pacing."""

    def __init__(
        self,
        settings: DingTalkSettings,
        recorder: CallRecorder | None = None,
        limiter: SecondPacer | RateLimiter | None = None,
        http: httpx.AsyncClient | None = None,
        token_cache: TokenCache | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.recorder = recorder or NullCallRecorder()
        # DingTalk counts calls per calendar second, so the pacer fills each second up to the limit; its
        # store (FERRY_RATE_LIMITS) is shared by every worker. The limit is published and fixed, so a
        # throttle means a call landed a second late: after the pause, a small step down is enough
        self.limiter = limiter or SecondPacer(
            PacerSettings(limit=settings.qps, decrease_factor=0.8), on_wait=self._waited
        )
        self._limiter_ready = False
        register_secret(settings.app_secret.get_secret_value())
        # every DingTalk call Ferry makes is a read: a transport failure is a plain retry
        self._http = Transport(
            system="DingTalk",
            limits=TransportLimits(
                deadline_s=settings.timeout_s,
                max_response_bytes=settings.max_response_bytes,
                # as many as the source keeps detail calls in flight; the limiter paces them
                max_connections=MAX_IN_FLIGHT,
            ),
            http=http,
        )
        self._tokens = token_cache or TokenCache()
        self._monotonic = monotonic
        #: recent round trips by API (sent to answered, the limiter's wait left out), for :meth:`pace`
        self._rtts: dict[str, deque[float]] = {}

    def _waited(self, key: Hashable, seconds: float) -> None:
        # the pacer keys by app (DingTalk counts per app); the metric names the connection that waited
        api = key[-1] if isinstance(key, tuple) else key
        limiter_waited((self.settings.connection, api), seconds)

    async def aclose(self) -> None:
        """Share the throttles seen with the other workers, then close the HTTP client if this client
        created it."""
        if isinstance(self.limiter, SecondPacer):
            await self.limiter.flush()
        await self._http.aclose()

    # ------------------------------------------------------------------ plumbing
    @property
    def _style(self) -> ApiStyle:
        return self.settings.api_style

    @property
    def _base(self) -> str:
        return (self.settings.oapi_base if self._style == "oapi" else self.settings.api_base).rstrip("/")

    @property
    def _token_key(self) -> tuple[str, str]:
        return (self._base, self.settings.app_key)

    def _redact(self, text: str) -> str:
        """Remove the secret and any cached token from a text before it goes into an error."""
        secrets = [self.settings.app_secret.get_secret_value()]
        cached = self._tokens.get(self._token_key)
        if cached is not None:
            secrets.append(cached.value)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return redact(text)

    def _get(self, api: str, path: str, **kwargs: Any) -> Callable[[], Awaitable[Answer]]:
        return functools.partial(
            self._http.request, "GET", f"{self._base}{path}", api=api, idempotent=True, **kwargs
        )

    def _post(self, api: str, path: str, **kwargs: Any) -> Callable[[], Awaitable[Answer]]:
        # list, detail and token calls change nothing: a POST here is a read, safe to send again
        return functools.partial(
            self._http.request, "POST", f"{self._base}{path}", api=api, idempotent=True, **kwargs
        )

    async def _send(self, api: str, metered: bool, request: Callable[[], Awaitable[Answer]]) -> _Answer:
        """Make one HTTP call, record it, and return its answer or raise the typed error it stands for."""
        started = time.perf_counter()
        answer: _Answer | None = None
        error: ConnectorError | None = None
        try:
            response = await request()
        except ConnectorError as exc:
            error = exc
        else:
            rid = response.header("x-acs-request-id")
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                error = classify_http(response.status, api)
            elif self._style == "oapi":
                rid = _rid(body.get("request_id")) or rid
                # the legacy host answers 200 even for errors; anything else came from a gateway
                ok = response.status == 200
                error = classify_oapi(body, api) if ok else classify_http(response.status, api)
            else:
                rid = _rid(body.get("requestid")) or rid
                error = classify_v1(response.status, body, api, rid)
                if error is None and body.get("success") is False:
                    # a 200 that says it failed is not an answer to page on
                    error = RetryLater(
                        f"DingTalk {api}: HTTP 200 with success=false",
                        code="success=false",
                        api=api,
                        request_id=rid,
                    )
            answer = _Answer(response.status, body, rid)
        latency = (time.perf_counter() - started) * 1000
        if error is not None:
            error.message = self._redact(error.message)
        self.recorder.record(
            ApiCall(
                connection=self.settings.connection,
                api=api,
                status="ok" if error is None else error.action,
                latency_ms=latency,
                http_status=answer.status if answer else None,
                error_code=error.code if error else None,
                request_id=(answer.request_id if answer else None) or (error.request_id if error else None),
                # a call counts against the month only if DingTalk served it: answers refused by the
                # throttle, the quota, the token check or a transport failure are not metered
                metered=metered
                and answer is not None
                and not isinstance(error, SlowDown | QuotaExhausted | Reauthenticate | RetryLater),
            )
        )
        if error is not None:
            raise error
        assert answer is not None
        return answer

    # ------------------------------------------------------------------ token
    async def get_token(self, force: bool = False) -> str:
        """The app's access token, from the cache unless it is within the refresh margin (or ``force``)."""
        if not self._limiter_ready:
            # the first request of every path: a shared store that cannot be reached fails before it
            await self.limiter.ready()
            self._limiter_ready = True
        key = self._token_key
        async with self._tokens.lock(key):
            cached = self._tokens.get(key)
            now = self._monotonic()
            if not force and cached is not None and cached.expires_at - self.settings.refresh_margin_s > now:
                return cached.value
            api = API_TOKEN[self._style]
            secret = self.settings.app_secret.get_secret_value()
            try:
                value, ttl, answer = await self._fetch_token(api, secret)
            except GiveUp as e:
                # a wrong key or secret, a disabled app: every call would fail, no record is to blame
                raise AccessDenied(
                    f"DingTalk refused the credentials of app {self.settings.app_key}: {e.message}",
                    code=e.code,
                    api=api,
                ) from None
            if not value or not isinstance(value, str | int):
                raise GiveUp(f"DingTalk {api}: answer without a token", api=api, request_id=answer.request_id)
            # masked from now on, in our messages and in httpx's log lines (the legacy URL carries it)
            register_secret(value, transient=True)
            token = _Token(str(value), now + _ttl(ttl))
            self._tokens.put(key, token)
            return token.value

    async def _fetch_token(self, api: str, secret: str) -> tuple[Any, Any, _Answer]:
        """One token call on this connection's host: (token, lifetime, answer)."""
        if self._style == "oapi":
            answer = await self._send(
                api,
                False,
                self._get(api, "/gettoken", params={"appkey": self.settings.app_key, "appsecret": secret}),
            )
            return answer.body.get("access_token"), answer.body.get("expires_in", 7200), answer
        answer = await self._send(
            api,
            False,
            self._post(
                api, "/v1.0/oauth2/accessToken", json={"appKey": self.settings.app_key, "appSecret": secret}
            ),
        )
        return answer.body.get("accessToken"), answer.body.get("expireIn", 7200), answer

    async def _business(self, api: str, call: Callable[[str], Awaitable[Answer]]) -> _Answer:
        """A metered call with the app's token, paced by the limiter; new token and one retry on a token answer."""
        # the app, not the connection's name, is what DingTalk counts: workers naming it alike share it
        limit_key = ("dingtalk", self.settings.app_key, api)
        for attempt in (1, 2):
            token = await self.get_token(force=attempt == 2)
            await self.limiter.acquire(limit_key)
            sent = self._monotonic()
            try:
                with resend(attempt - 1):
                    return await self._send(api, True, functools.partial(call, token))
            except Reauthenticate:
                self._tokens.drop(self._token_key, token)
                if attempt == 2:
                    raise
            except SlowDown as exc:
                self.limiter.slow_down(limit_key, exc.retry_after)
                raise
            finally:
                rtt = self._monotonic() - sent
                self.limiter.observe(limit_key, rtt)
                self._rtts.setdefault(api, deque(maxlen=64)).append(rtt)
        raise AssertionError("unreachable")

    def pace(self, api: str) -> Pace:
        """How ``api`` is paced now: the limiter's rate, the share of each second it sends in, and the
        mean of the recent round trips (None before four were seen)."""
        key = ("dingtalk", self.settings.app_key, api)
        share = 1.0 - self.limiter.margin(key) if isinstance(self.limiter, SecondPacer) else 1.0
        rtts = self._rtts.get(api)
        rtt = sum(rtts) / len(rtts) if rtts is not None and len(rtts) >= 4 else None
        return Pace(self.limiter.rate(key), share, rtt)

    def detail_pace(self) -> Pace:
        """The :meth:`pace` of the instance-detail API, the one each approval costs a call of."""
        return self.pace(API_GET[self._style])


def _rid(value: Any) -> str | None:
    return (
        redact(str(value))[:128] if value not in (None, "") and not isinstance(value, dict | list) else None
    )


def _ttl(value: Any) -> float:
    """A token's lifetime in seconds; a value DingTalk would never send counts as the usual two hours."""
    try:
        ttl = float(value)
    except (TypeError, ValueError, OverflowError):
        return 7200.0
    return ttl if 0 < ttl <= 86_400 else 7200.0


__all__ = ["API_GET", "API_LIST", "API_SCHEMA", "API_TOKEN", "DingTalkCalls"]
