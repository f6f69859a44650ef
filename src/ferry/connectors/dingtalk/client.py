"""The DingTalk protocol client: tokens, instance-ID listing and instance detail, on either host.

``api_style="oapi"`` speaks the legacy host (``/gettoken``, ``/topapi/processinstance/*``, token in the
query, ``errcode`` bodies); ``api_style="v1"`` speaks the new one (``/v1.0/oauth2/accessToken``,
``/v1.0/workflow/...``, token in the ``x-acs-dingtalk-access-token`` header, HTTP status + ``code``).
Both give the same results: ``(ids, next_cursor)`` pages and normalised instances.

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

import asyncio
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from ferry.connectors.dingtalk import instance as _instance
from ferry.connectors.dingtalk.errors import classify_http, classify_oapi, classify_v1
from ferry.connectors.dingtalk.flow import MAX_IN_FLIGHT, Pace
from ferry.connectors.dingtalk.spec import MAX_PAGE_SIZE, ApiStyle, DingTalkSettings
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
class _Token:
    value: str = field(repr=False)
    expires_at: float


class TokenCache:
    """Tokens by (host, app key). Share one between clients of the same app to share its token."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"

    def lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def get(self, key: tuple[str, str]) -> _Token | None:
        return self._tokens.get(key)

    def put(self, key: tuple[str, str], token: _Token) -> None:
        self._tokens[key] = token

    def drop(self, key: tuple[str, str], value: str | None = None) -> None:
        """Forget the token (only if it is still ``value``, when given: another task may have refreshed)."""
        current = self._tokens.get(key)
        if current is not None and (value is None or current.value == value):
            del self._tokens[key]


@dataclass
class _Answer:
    status: int
    body: Any
    request_id: str | None


class DingTalkClient:
    """Async DingTalk client for one app; use as ``async with DingTalkClient(settings) as client``."""

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

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"DingTalkClient(connection={s.connection!r}, app_key={s.app_key!r}, api_style={s.api_style!r})"
        )

    async def __aenter__(self) -> DingTalkClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
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

    # ------------------------------------------------------------------ API
    async def list_instance_ids(
        self,
        process_code: str,
        start_ms: int,
        end_ms: int | None = None,
        cursor: int | str | None = 0,
        size: int = MAX_PAGE_SIZE,
        userid_list: list[str] | None = None,
        statuses: list[str] | None = None,
    ) -> tuple[list[str], int | None]:
        """One page of instance IDs created in ``[start_ms, end_ms]``: ``(ids, next_cursor)``.

        ``next_cursor`` is None when there is no more; pass it back as ``cursor`` otherwise. DingTalk
        refuses windows over 120 days, starts over 365 days ago and pages over 20; ``statuses`` is a
        v1.0-only filter (``RUNNING``, ``TERMINATED``, ``COMPLETED``) and is refused on the legacy host.
        """
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise GiveUp(f"page size must be 1..{MAX_PAGE_SIZE}, got {size}", api=API_LIST[self._style])
        api = API_LIST[self._style]
        offset = int(cursor or 0)
        if self._style == "oapi":
            if statuses:
                raise GiveUp("the legacy list API has no status filter; use api_style='v1'", api=api)
            payload: dict[str, Any] = {
                "process_code": process_code,
                "start_time": start_ms,
                "size": size,
                "cursor": offset,
            }
            if end_ms is not None:
                payload["end_time"] = end_ms
            if userid_list:
                payload["userid_list"] = ",".join(userid_list)
            answer = await self._business(
                api,
                lambda token: self._post(
                    api, "/topapi/processinstance/listids", params={"access_token": token}, json=payload
                )(),
            )
            result = _mapping(answer.body.get("result"), api)
            nxt = result.get("next_cursor")
        else:
            payload = {
                "processCode": process_code,
                "startTime": start_ms,
                "nextToken": offset,
                "maxResults": size,
            }
            if end_ms is not None:
                payload["endTime"] = end_ms
            if userid_list:
                payload["userIds"] = list(userid_list)
            if statuses:
                payload["statuses"] = list(statuses)
            answer = await self._business(
                api,
                lambda token: self._post(
                    api,
                    "/v1.0/workflow/processes/instanceIds/query",
                    headers={"x-acs-dingtalk-access-token": token},
                    json=payload,
                )(),
            )
            result = _mapping(answer.body.get("result"), api)
            nxt = result.get("nextToken")
        listed = result.get("list") or []
        if not isinstance(listed, list) or not all(
            isinstance(i, str | int) and not isinstance(i, bool) for i in listed
        ):
            raise RetryLater(
                f"DingTalk {api}: the answer's list is not a list of ids", code="bad_reply", api=api
            )
        ids = [str(i) for i in listed]
        return ids, _next_cursor(nxt, offset, api)

    async def check_process_code(self, process_code: str) -> str:
        """The template's name when ``process_code`` names a template this app can read, else the
        typed error DingTalk answered (one metered call). On the v1 host the form-schema API answers;
        the legacy host has none, so a list call over the last minute asks instead."""
        if self._style == "oapi":
            now_ms = int(time.time() * 1000)
            await self.list_instance_ids(process_code, now_ms - 60_000, now_ms, size=1)
            return process_code
        answer = await self._business(
            API_SCHEMA,
            lambda token: self._get(
                API_SCHEMA,
                "/v1.0/workflow/forms/schemas/processCodes",
                headers={"x-acs-dingtalk-access-token": token},
                params={"processCode": process_code},
            )(),
        )
        result = answer.body.get("result")
        name = result.get("name") if isinstance(result, dict) else None
        return str(name or process_code)

    async def get_instance(self, instance_id: str) -> dict[str, Any]:
        """One instance, normalised (see :mod:`ferry.connectors.dingtalk.instance`); the raw answer is under ``raw``."""
        api = API_GET[self._style]
        if self._style == "oapi":
            answer = await self._business(
                api,
                lambda token: self._post(
                    api,
                    "/topapi/processinstance/get",
                    params={"access_token": token},
                    json={"process_instance_id": instance_id},
                )(),
            )
            return _instance.from_oapi(instance_id, answer.body)
        answer = await self._business(
            api,
            lambda token: self._get(
                api,
                "/v1.0/workflow/processInstances",
                headers={"x-acs-dingtalk-access-token": token},
                params={"processInstanceId": instance_id},
            )(),
        )
        return _instance.from_v1(instance_id, answer.body, z_is_beijing=self.settings.v1_z_is_beijing)


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


def _mapping(value: Any, api: str) -> dict[str, Any]:
    # an answer without its result is not an empty page: the watermark must not move over it
    if not isinstance(value, dict):
        raise RetryLater(f"DingTalk {api}: the answer has no result object", code="bad_reply", api=api)
    return value


def _next_cursor(value: Any, offset: int, api: str) -> int | None:
    """The next page's cursor. Absent, null and "" mean "no more" (the hosts differ, and the docs are loose);
    anything that is not a number past this page is an answer we cannot page on."""
    if value in (None, ""):
        return None
    try:
        cursor = int(value)
    except (TypeError, ValueError, OverflowError):
        raise RetryLater(
            f"DingTalk {api}: the next cursor is not a number", code="bad_reply", api=api
        ) from None
    if isinstance(value, bool) or cursor <= offset or cursor > 10**12:
        raise GiveUp(
            f"DingTalk {api}: the next cursor does not move forward ({cursor} after {offset})",
            code="bad_cursor",
            api=api,
        )
    return cursor
