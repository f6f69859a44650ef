"""The connection under :class:`~ferry.connectors.kingdee.client.KingdeeClient`: HTTP exchange and session.

:class:`KingdeeSession` holds what every operation shares: the transport, login and logout, the session
cookie, the request envelope, call recording and the concurrency slot. Every HTTP exchange is reported to
the :class:`~ferry.observe.calls.CallRecorder` and runs under an
:class:`~ferry.ratelimit.concurrency.AdaptiveConcurrency` slot that halves on MsgCode 13/14 and 5xx.

HTTP goes through the shared :class:`~ferry.connectors.transport.Transport`: ``timeout`` is the deadline of a
whole call (body included), an answer over ``max_response_bytes`` is refused, and its one failure mapping
decides (a write whose request may have left is OutcomeUnknown, whatever httpx called the failure). The
password, app secret, the constant ``X-Kd-Signature`` and every session id received are registered with the
redactor, so httpx's own log lines (which print response headers at DEBUG) never show them.

Retries are the engine's business, with two exceptions handled here: in session modes a MsgCode 1 ("session
lost") triggers one re-login and one replay — safe even for writes, because the server checks the session
before it runs the operation — and in signed-header mode a MsgCode 1 drops the cached session cookie and
re-signs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

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
from ferry.connectors.kingdee.auth import AuthMode, KingdeeAuth, login_sign, signed_headers
from ferry.connectors.kingdee.envelope import ResponseStatus, ServerException, find_status, get_ci, parse_body
from ferry.connectors.kingdee.errors import MSG_CALL_LIMIT, MSG_CONFLICT, error_for_http, error_for_status
from ferry.connectors.transport import DEFAULT_MAX_RESPONSE_BYTES, Transport, TransportLimits
from ferry.observe.calls import ApiCall, CallRecorder, NullCallRecorder
from ferry.observe.hooks import limiter_waited
from ferry.observe.redact import redact, register_secret
from ferry.ratelimit.concurrency import AdaptiveConcurrency
from ferry.ratelimit.leases import SharedConcurrency, concurrency_limit

#: the cookies that carry a Kingdee session (each is a credential)
SESSION_COOKIES = ("kdservice-sessionid", "ASP.NET_SessionId")

DYNAMIC_FORM_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService"
AUTH_SERVICE = "Kingdee.BOS.WebApi.ServicesStub.AuthService"

#: operations that change data: a timeout or a drop after sending leaves their outcome unknown
WRITE_OPERATIONS = frozenset(
    {
        "Save",
        "BatchSave",
        "Draft",
        "Submit",
        "Audit",
        "UnAudit",
        "Delete",
        "Push",
        "ExcuteOperation",
        "CancelAssign",
        "Allocate",
        "CancelAllocate",
        "WorkflowAudit",
        "GroupSave",
        "GroupDelete",
    }
)

Envelope = Literal["named", "parameters"]


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # loading the CA bundle costs ~0.1-0.3 s; one verified context serves every client in the process
    return httpx.create_ssl_context()


class KingdeeSession:
    """The connection and session of one :class:`~ferry.connectors.kingdee.client.KingdeeClient`.

    The constructor's arguments are documented on the client.
    """

    def __init__(
        self,
        base_url: str,
        auth: KingdeeAuth,
        *,
        connection: str = "kingdee",
        recorder: CallRecorder | None = None,
        timeout: float | httpx.Timeout = 120.0,
        concurrency: AdaptiveConcurrency | SharedConcurrency | int = 4,
        envelope: Envelope = "named",
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        auth.check()
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.auth = auth
        self.connection = connection
        self.recorder: CallRecorder = recorder or NullCallRecorder()
        # in-process, or shared by every worker as leases when FERRY_RATE_LIMITS names a shared store
        self.limiter = (
            concurrency
            if not isinstance(concurrency, int)
            else concurrency_limit(("kingdee", self.base_url, auth.acct_id), concurrency)
        )
        self.envelope: Envelope = envelope
        self._clock = clock
        self._session_id: str | None = None
        # concurrent calls that find the session gone log in once between them, not once each
        self._login_lock = asyncio.Lock()
        deadline = (timeout.read or 120.0) if isinstance(timeout, httpx.Timeout) else float(timeout)
        self._http = Transport(
            system="Kingdee",
            limits=TransportLimits(
                deadline_s=deadline,
                max_response_bytes=max_response_bytes,
                max_connections=max(self.limiter.limit, 4),
            ),
            transport=transport,
            session_cookies=SESSION_COOKIES,
            verify=verify or _default_ssl_context(),
            headers={"User-Agent": "Ferry Kingdee client", "Accept-Charset": "utf-8"},
        )
        self._register_secrets()

    async def aclose(self) -> None:
        """Share a halved concurrency limit with the other workers, then close the HTTP connections."""
        if isinstance(self.limiter, SharedConcurrency):
            await self.limiter.flush()
        await self._http.aclose()

    def _register_secrets(self) -> None:
        auth = self.auth
        register_secret(auth.password.get_secret_value())
        register_secret(auth.app_secret.get_secret_value())
        if auth.mode is AuthMode.SIGNED_HEADERS:
            # X-Kd-Signature depends only on the credentials: a stable secret; X-Api-Signature changes each second
            register_secret(
                signed_headers(self._url(DYNAMIC_FORM_SERVICE, "Save"), auth, "0")["X-Kd-Signature"]
            )

    def _take_session(self, cookies: httpx.Cookies) -> None:
        for name in SESSION_COOKIES:
            value = cookies.get(name)
            if value:
                register_secret(value, transient=True)
        sid = cookies.get("kdservice-sessionid")
        if sid:
            self._session_id = sid

    @property
    def session_id(self) -> str | None:
        """The current ``KDSVCSessionId`` (None before login or after a loss)."""
        return self._session_id

    # ---- transport ----------------------------------------------------------------------------------
    def _url(self, service: str, op: str) -> str:
        return f"{self.base_url}{service}.{op}.common.kdsvc"

    @staticmethod
    def _encode(body: Any) -> bytes:
        # json.dumps keeps dict insertion order: Kingdee evaluates Save models in the order written
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.auth.mode is AuthMode.SIGNED_HEADERS:
            headers.update(signed_headers(url, self.auth, str(int(self._clock()))))
        if self._session_id:
            headers["kdservice-sessionid"] = self._session_id
        return headers

    def _forget_session(self) -> None:
        self._session_id = None
        self._http.cookies.clear()

    def _record(
        self, api: str, status: str, started: float, http_status: int | None, code: str | None
    ) -> None:
        self.recorder.record(
            ApiCall(
                connection=self.connection,
                api=api,
                status=status,
                latency_ms=(time.monotonic() - started) * 1000.0,
                http_status=http_status,
                error_code=code,
            )
        )

    @contextlib.asynccontextmanager
    async def _slot(self, op: str) -> AsyncIterator[None]:
        """A slot under the concurrency limit; the time waited for it goes to the limiter-wait metric."""
        asked = time.monotonic()
        async with self.limiter.slot():
            limiter_waited((self.connection, op), time.monotonic() - asked)
            yield

    def _adapt(self, error: ConnectorError | None) -> None:
        if error is None:
            self.limiter.succeeded()
        elif isinstance(error, SlowDown) or (
            isinstance(error, RetryLater) and (error.code or "").startswith("HTTP 5")
        ):
            self.limiter.slow_down()

    async def _post_once(
        self, service: str, op: str, body: Any, write: bool, meta: dict[str, int] | None = None
    ) -> tuple[Any, int]:
        """One HTTP exchange → (parsed payload, http status); raises typed errors for transport/HTTP failures.

        ``meta["http_status"]`` is set as soon as a status line arrives, so failures are recorded with it.
        """
        url = self._url(service, op)
        # a write whose request may have left is OutcomeUnknown; a read is sent again (the transport decides)
        response = await self._http.request(
            "POST", url, api=op, idempotent=not write, content=self._encode(body), headers=self._headers(url)
        )
        if meta is not None:
            meta["http_status"] = response.status
        self._take_session(response.cookies)
        if response.status not in (200, 206):
            raise error_for_http(response.status, redact(response.text[:2000]), op, write=write)
        try:
            payload = parse_body(response.text)
        except (ValueError, RecursionError):
            # a 200 we cannot read: for a write we do not know whether it happened
            err_type = OutcomeUnknown if write else RetryLater
            raise err_type(f"Kingdee {op}: unreadable reply", code="bad_json", api=op) from None
        if isinstance(payload, ServerException):
            raise RetryLater(
                redact(f"Kingdee {op} server exception: {payload.message}"[:500]),
                code="response_error",
                api=op,
            )
        return payload, response.status

    async def _exchange(self, op: str, body: Any, *, service: str = DYNAMIC_FORM_SERVICE) -> Any:
        """Send one operation, with the session handling and call recording; returns the parsed payload.

        Raises for transport/HTTP failures and for whole-call statuses that a retry policy must see (session
        lost after the one re-login, MsgCode 13/14). Other unsuccessful statuses are returned for the caller
        to read per bill.
        """
        write = op in WRITE_OPERATIONS
        for attempt in range(2):
            if self.auth.mode is not AuthMode.SIGNED_HEADERS and self._session_id is None:
                async with self._login_lock:
                    if self._session_id is None:
                        await self.login()
            used_session = self._session_id
            started = time.monotonic()
            meta: dict[str, int] = {}
            status: ResponseStatus | None = None
            try:
                async with self._slot(op):
                    payload, _ = await self._post_once(service, op, body, write, meta)
                    status = find_status(payload)
                    if (
                        status is not None
                        and not status.is_success
                        and (status.session_lost or status.msg_code in (MSG_CONFLICT, MSG_CALL_LIMIT))
                    ):
                        raise error_for_status(status, op)
            except ConnectorError as err:
                self._record(op, err.action, started, meta.get("http_status"), err.code)
                self._adapt(err)
                if isinstance(err, Reauthenticate) and attempt == 0:
                    if self._session_id == used_session:
                        # only forget the session this call used: another call may already have renewed it
                        self._forget_session()
                    continue
                if isinstance(err, Reauthenticate) and self.auth.mode is AuthMode.SIGNED_HEADERS:
                    # signed headers are re-verified on every sessionless call: a second refusal means bad
                    # credentials (wrong user, app id or secret), which no retry can fix
                    raise AccessDenied(
                        f"Kingdee {op}: signed-header authentication refused (check acct id, user, app id, secret)",
                        code=err.code,
                        api=op,
                    ) from None
                raise
            if status is not None and not status.is_success:
                outcome = error_for_status(status, op)
                self._record(op, outcome.action, started, meta.get("http_status"), outcome.code)
            else:
                self._record(op, "ok", started, meta.get("http_status"), None)
            self._adapt(None)
            return payload
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- login --------------------------------------------------------------------------------------
    async def login(self) -> str:
        """Log in (session modes) and return the new ``KDSVCSessionId``; raises AccessDenied on bad credentials."""
        auth = self.auth
        if auth.mode is AuthMode.SIGNED_HEADERS:
            raise GiveUp("signed_headers mode has no login call", api="login")
        if auth.mode is AuthMode.VALIDATE_USER:
            op = "ValidateUser"
            params: list[Any] = [auth.acct_id, auth.username, auth.password.get_secret_value(), auth.lcid]
        elif auth.mode is AuthMode.APP_SECRET:
            op = "LoginByAppSecret"
            params = [auth.acct_id, auth.username, auth.app_id, auth.app_secret.get_secret_value(), auth.lcid]
        else:
            op = "LoginBySign"
            timestamp = str(int(self._clock()))
            sign = login_sign(
                auth.acct_id, auth.username, auth.app_id, auth.app_secret.get_secret_value(), timestamp
            )
            # replayable while the server accepts the timestamp: a credential for that long
            register_secret(sign, transient=True)
            params = [auth.acct_id, auth.username, auth.app_id, timestamp, sign, auth.lcid]
        self._forget_session()
        started = time.monotonic()
        meta: dict[str, int] = {}
        try:
            async with self._slot(op):
                payload, _ = await self._post_once(AUTH_SERVICE, op, {"parameters": params}, False, meta)
            if not isinstance(payload, Mapping):
                raise RetryLater(f"Kingdee {op}: unexpected reply", code="bad_reply", api=op)
            result_type = get_ci(payload, "LoginResultType")
            sid = get_ci(payload, "KDSVCSessionId") or self._session_id
            # 1 = success; -5 (DealWithForm, an administrator's pending form) counts as success per the doc
            if str(result_type) not in ("1", "-5") or not sid:
                message = get_ci(payload, "Message") or "login refused"
                # wrong password or app secret, a locked user: every call would fail the same way
                raise AccessDenied(
                    f"Kingdee {op} refused: {message}", code=f"LoginResultType={result_type}", api=op
                )
        except ConnectorError as err:
            self._record(op, err.action, started, meta.get("http_status"), err.code)
            self._adapt(err)
            raise
        self._record(op, "ok", started, meta.get("http_status"), None)
        self._session_id = str(sid)
        register_secret(self._session_id, transient=True)
        return self._session_id

    async def logout(self) -> None:
        """End the session (best effort)."""
        if self._session_id is None or self.auth.mode is AuthMode.SIGNED_HEADERS:
            return
        started = time.monotonic()
        try:
            _, http_status = await self._post_once(AUTH_SERVICE, "Logout", {"parameters": []}, False)
            self._record("Logout", "ok", started, http_status, None)
        except ConnectorError as err:
            self._record("Logout", err.action, started, None, err.code)
        self._forget_session()

    # ---- envelopes ----------------------------------------------------------------------------------
    def _form_body(self, form_id: str, data: Mapping[str, Any]) -> Any:
        if self.envelope == "parameters":
            return {"parameters": [form_id, json.dumps(data, ensure_ascii=False)]}
        return {"formid": form_id, "data": data}

    def _data_body(self, data: Mapping[str, Any]) -> Any:
        if self.envelope == "parameters":
            return {"parameters": [json.dumps(data, ensure_ascii=False)]}
        return {"data": data}


__all__ = [
    "AUTH_SERVICE",
    "DYNAMIC_FORM_SERVICE",
    "SESSION_COOKIES",
    "WRITE_OPERATIONS",
    "Envelope",
    "KingdeeSession",
]
