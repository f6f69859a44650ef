"""The async Kingdee Cloud Galaxy (K/3 Cloud) WebAPI client.

One :class:`KingdeeClient` per connection. It knows the protocol (service naming, envelopes, auth, error
shapes) and nothing of schemes. Every HTTP exchange is reported to the :class:`~ferry.observe.calls.CallRecorder`
and runs under an :class:`~ferry.ratelimit.concurrency.AdaptiveConcurrency` slot that halves on MsgCode 13/14
and 5xx.

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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
from ferry.connectors.kingdee.envelope import (
    ResponseStatus,
    ServerException,
    SuccessEntity,
    find_status,
    get_ci,
    parse_body,
    result_of,
)
from ferry.connectors.kingdee.errors import (
    MSG_CALL_LIMIT,
    MSG_CONFLICT,
    error_for_http,
    error_for_status,
    msg_code_label,
)
from ferry.connectors.kingdee.results import (
    EntityResult,
    FoundDocument,
    OperationResult,
    PushOutcome,
    PushResult,
    PushStatus,
    SaveResult,
    entity_results,
)
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

#: MsgCodes that concern the whole request rather than one bill of a batch
_WHOLE_CALL_CODES = frozenset({2, 3, 4, 5, 7, 8, 15})

#: messages that say a source was already pushed: a target exists somewhere, so reconcile rather than give up
_ALREADY_PUSHED_HINTS = ("已全部下推", "关联数量已满", "关联金额已满", "已经下推", "不能重复下推")

Envelope = Literal["named", "parameters"]


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # loading the CA bundle costs ~0.1-0.3 s; one verified context serves every client in the process
    return httpx.create_ssl_context()


class KingdeeClient:
    """Async client for one Kingdee data centre.

    ``base_url`` is the site root ending in ``/k3cloud/`` (a missing trailing slash is added).
    ``envelope`` picks the request shape: ``named`` (``{"formid":..,"data":{..}}``, the Python SDK's) or
    ``parameters`` (``{"parameters":[formid, "<data json>"]}``, the Java SDK's).
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

    def __repr__(self) -> str:
        return (
            f"KingdeeClient({self.base_url!r}, mode={self.auth.mode.value}, acct_id={self.auth.acct_id!r}, "
            f"user={self.auth.username!r})"
        )

    async def __aenter__(self) -> KingdeeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
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

    @staticmethod
    def _status_or_unknown(payload: Any, op: str) -> ResponseStatus:
        status = find_status(payload)
        if status is None:
            write = op in WRITE_OPERATIONS
            err_type = OutcomeUnknown if write else RetryLater
            raise err_type(f"Kingdee {op}: reply without a ResponseStatus", code="no_status", api=op)
        return status

    def _operation_result(
        self, payload: Any, op: str, count: int | None, raise_on_failure: bool
    ) -> OperationResult:
        status = self._status_or_unknown(payload, op)
        if (
            not status.is_success
            and raise_on_failure
            and (not status.success_entities or (status.msg_code in _WHOLE_CALL_CODES))
        ):
            raise error_for_status(status, op)
        return OperationResult(
            status, entity_results(status, count), payload if isinstance(payload, Mapping) else {}
        )

    # ---- operations ---------------------------------------------------------------------------------
    async def save(
        self,
        form_id: str,
        model: Mapping[str, Any],
        *,
        need_update_fields: Sequence[str] | None = None,
        need_return_fields: Sequence[str] | None = None,
        is_auto_submit_and_audit: bool | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SaveResult:
        """Save one bill (create when ``FID`` is 0/absent); raises the mapped error if Kingdee refuses it.

        ``model`` is sent with its keys in the order given. ``options`` adds other documented Save keys
        (``IsDeleteEntry``, ``IsVerifyBaseDataField``, ``InterationFlags``...).
        """
        return await self._save(
            "Save", form_id, model, need_update_fields, need_return_fields, is_auto_submit_and_audit, options
        )

    async def draft(
        self,
        form_id: str,
        model: Mapping[str, Any],
        *,
        need_update_fields: Sequence[str] | None = None,
        need_return_fields: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SaveResult:
        """Save as a draft (暂存, status Z): no validation; the bill may have no number."""
        return await self._save(
            "Draft", form_id, model, need_update_fields, need_return_fields, None, options
        )

    @staticmethod
    def _save_data(
        model: Any,
        need_update_fields: Sequence[str] | None,
        need_return_fields: Sequence[str] | None,
        is_auto_submit_and_audit: bool | None,
        options: Mapping[str, Any] | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if need_update_fields is not None:
            data["NeedUpDateFields"] = list(need_update_fields)
        if need_return_fields is not None:
            data["NeedReturnFields"] = list(need_return_fields)
        if is_auto_submit_and_audit is not None:
            data["IsAutoSubmitAndAudit"] = is_auto_submit_and_audit
        data.update(extra or {})
        data.update(options or {})
        data["Model"] = model
        return data

    async def _save(
        self,
        op: str,
        form_id: str,
        model: Mapping[str, Any],
        need_update_fields: Sequence[str] | None,
        need_return_fields: Sequence[str] | None,
        is_auto_submit_and_audit: bool | None,
        options: Mapping[str, Any] | None,
    ) -> SaveResult:
        data = self._save_data(
            model, need_update_fields, need_return_fields, is_auto_submit_and_audit, options
        )
        payload = await self._exchange(op, self._form_body(form_id, data))
        status = self._status_or_unknown(payload, op)
        if not status.is_success:
            raise error_for_status(status, op)
        result = result_of(payload)
        entity = status.success_entities[0] if status.success_entities else None
        raw_id = get_ci(result, "Id")
        raw_number = get_ci(result, "Number")
        need = get_ci(result, "NeedReturnData")
        return SaveResult(
            id=str(raw_id) if raw_id not in (None, "") else (entity.id if entity else ""),
            number=str(raw_number) if raw_number not in (None, "") else (entity.number if entity else ""),
            need_return_data=tuple(x for x in (need or []) if isinstance(x, Mapping)),
            status=status,
        )

    async def batch_save(
        self,
        form_id: str,
        models: Sequence[Mapping[str, Any]],
        *,
        batch_count: int | None = None,
        need_update_fields: Sequence[str] | None = None,
        need_return_fields: Sequence[str] | None = None,
        is_auto_submit_and_audit: bool | None = None,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = False,
    ) -> OperationResult:
        """Save several bills in one call; outcomes per ``DIndex`` (a batch succeeds and fails per bill)."""
        extra = {"BatchCount": batch_count} if batch_count else None
        data = self._save_data(
            list(models), need_update_fields, need_return_fields, is_auto_submit_and_audit, options, extra
        )
        payload = await self._exchange("BatchSave", self._form_body(form_id, data))
        return self._operation_result(payload, "BatchSave", len(models), raise_on_failure)

    async def _bill_operation(
        self,
        op: str,
        form_id: str,
        numbers: Sequence[str] | None,
        ids: Sequence[str | int] | None,
        options: Mapping[str, Any] | None,
        raise_on_failure: bool,
    ) -> OperationResult:
        if not numbers and not ids:
            raise ValueError(f"{op} needs numbers or ids")
        data: dict[str, Any] = {}
        if ids:
            # the documented form of Ids is one comma-separated string
            data["Ids"] = ",".join(str(i) for i in ids)
        if numbers:
            data["Numbers"] = list(numbers)
        data.update(options or {})
        payload = await self._exchange(op, self._form_body(form_id, data))
        count = len(ids) if ids else len(numbers or [])
        return self._operation_result(payload, op, count, raise_on_failure)

    async def submit(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Submit (提交) bills: A/D → B. Raises when nothing succeeded unless ``raise_on_failure=False``."""
        return await self._bill_operation("Submit", form_id, numbers, ids, options, raise_on_failure)

    async def audit(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Audit (审核) bills: B → C."""
        return await self._bill_operation("Audit", form_id, numbers, ids, options, raise_on_failure)

    async def unaudit(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Un-audit (反审核) bills: C → D."""
        return await self._bill_operation("UnAudit", form_id, numbers, ids, options, raise_on_failure)

    async def delete(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = True,
    ) -> OperationResult:
        """Delete bills (only drafts, created or un-audited ones)."""
        return await self._bill_operation("Delete", form_id, numbers, ids, options, raise_on_failure)

    async def execute_operation(
        self, form_id: str, op_number: str, data: Mapping[str, Any], *, raise_on_failure: bool = True
    ) -> OperationResult:
        """``ExcuteOperation`` (the SDK's spelling): run a named operation with ``data`` (Ids/Numbers/...)."""
        if self.envelope == "parameters":
            body: Any = {"parameters": [form_id, op_number, json.dumps(data, ensure_ascii=False)]}
        else:
            body = {"formid": form_id, "opNumber": op_number, "data": data}
        payload = await self._exchange("ExcuteOperation", body)
        return self._operation_result(payload, "ExcuteOperation", None, raise_on_failure)

    async def view(
        self, form_id: str, number: str | None = None, id: str | int | None = None
    ) -> dict[str, Any]:
        """The full bill package (``Result.Result``); GiveUp if it does not exist."""
        if not number and not id:
            raise ValueError("view needs a number or an id")
        data: dict[str, Any] = {"Number": number} if number else {"Id": str(id)}
        payload = await self._exchange("View", self._form_body(form_id, data))
        status = self._status_or_unknown(payload, "View")
        if not status.is_success:
            raise error_for_status(status, "View")
        package = get_ci(result_of(payload), "Result")
        if not isinstance(package, Mapping):
            raise GiveUp(f"Kingdee View {form_id} {number or id}: empty reply", code="empty", api="View")
        return dict(package)

    async def push(
        self,
        form_id: str,
        numbers: Sequence[str] | None = None,
        ids: Sequence[str | int] | None = None,
        *,
        target_form_id: str,
        rule_id: str | None = None,
        is_enable_default_rule: bool = True,
        is_draft_when_save_fail: bool = True,
        custom_params: Mapping[str, Any] | None = None,
        entry_ids: Sequence[str | int] | None = None,
        target_bill_type_id: str | None = None,
        target_org_id: int = 0,
    ) -> PushResult:
        """Push (下推) source bills to ``target_form_id``; one :class:`PushOutcome` per source, by ``DIndex``.

        Per-bill refusals (not audited, unknown number, already pushed, target save failed) are outcomes, not
        exceptions. Whole-call failures raise: session lost after re-login, MsgCode 13/14 (SlowDown), bad
        parameters (GiveUp), and — because Push writes — OutcomeUnknown for a timeout or a dropped connection.
        """
        if not numbers and not ids and not entry_ids:
            raise ValueError("push needs numbers, ids or entry_ids")
        data: dict[str, Any] = {
            "Ids": ",".join(str(i) for i in ids) if ids else "",
            "Numbers": list(numbers or []),
            "EntryIds": ",".join(str(i) for i in entry_ids) if entry_ids else "",
            "RuleId": rule_id or "",
            "TargetBillTypeId": target_bill_type_id or "",
            "TargetOrgId": target_org_id,
            "TargetFormId": target_form_id,
            "IsEnableDefaultRule": is_enable_default_rule,
            "IsDraftWhenSaveFail": is_draft_when_save_fail,
            "CustomParams": dict(custom_params or {}),
        }
        payload = await self._exchange("Push", self._form_body(form_id, data))
        status = self._status_or_unknown(payload, "Push")
        convert = find_status(payload, "ConvertResponseStatus")
        if not status.is_success and status.msg_code in _WHOLE_CALL_CODES:
            raise error_for_status(status, "Push")
        sources = [str(i) for i in ids] if ids else [str(n) for n in (numbers or [])]
        if not sources:
            sources = [str(e.index) for e in status.success_entities] or ["0"]
        outcomes = _push_outcomes(sources, status, convert)
        return PushResult(tuple(outcomes), status, convert, payload if isinstance(payload, Mapping) else {})

    # ---- queries ------------------------------------------------------------------------------------
    @staticmethod
    def _query_data(
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]],
        order_string: str,
        start_row: int,
        limit: int,
        top_row_count: int,
        sub_system_id: str | None,
    ) -> dict[str, Any]:
        keys = field_keys if isinstance(field_keys, str) else ",".join(field_keys)
        data: dict[str, Any] = {
            "FormId": form_id,
            "FieldKeys": keys,
            "FilterString": filter_string
            if isinstance(filter_string, str)
            else [dict(x) for x in filter_string],
            "OrderString": order_string,
            "TopRowCount": top_row_count,
            "StartRow": start_row,
            "Limit": limit,
        }
        if sub_system_id:
            data["SubSystemId"] = sub_system_id
        return data

    async def execute_bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]] = "",
        order_string: str = "",
        start_row: int = 0,
        limit: int = 0,
        top_row_count: int = 0,
        sub_system_id: str | None = None,
    ) -> list[list[Any]]:
        """ExecuteBillQuery: rows as lists in ``field_keys`` order. Errors (the ``[[{...}]]`` wrap) raise."""
        data = self._query_data(
            form_id, field_keys, filter_string, order_string, start_row, limit, top_row_count, sub_system_id
        )
        payload = await self._exchange("ExecuteBillQuery", self._data_body(data))
        status = find_status(payload)
        if status is not None and not status.is_success:
            raise error_for_status(status, "ExecuteBillQuery")
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise RetryLater(
                "Kingdee ExecuteBillQuery: reply is not a list", code="bad_reply", api="ExecuteBillQuery"
            )
        return [row if isinstance(row, list) else [row] for row in payload]

    async def iter_execute_bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]] = "",
        order_string: str = "FID ASC",
        page_size: int = 2000,
    ) -> AsyncIterator[list[Any]]:
        """All rows of a query, fetched page by page (``StartRow``/``Limit``); order it for stable paging."""
        if not 0 < page_size <= 10000:
            raise ValueError("page_size must be between 1 and 10000")
        start = 0
        while True:
            rows = await self.execute_bill_query(
                form_id, field_keys, filter_string, order_string, start_row=start, limit=page_size
            )
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            start += page_size

    async def bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str] | str,
        filter_string: str | Sequence[Mapping[str, Any]] = "",
        order_string: str = "",
        start_row: int = 0,
        limit: int = 0,
        top_row_count: int = 0,
        sub_system_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """BillQuery: rows as objects keyed by the field keys."""
        data = self._query_data(
            form_id, field_keys, filter_string, order_string, start_row, limit, top_row_count, sub_system_id
        )
        payload = await self._exchange("BillQuery", self._data_body(data))
        status = find_status(payload)
        if status is not None and not status.is_success:
            raise error_for_status(status, "BillQuery")
        if payload is None:
            return []
        if not isinstance(payload, list):
            raise RetryLater("Kingdee BillQuery: reply is not a list", code="bad_reply", api="BillQuery")
        return [dict(row) for row in payload if isinstance(row, Mapping)]

    async def find_target_by_source(
        self,
        source_number: str,
        *,
        target_form_id: str = "AP_PAYBILL",
        source_field: str = "FPAYBILLSRCENTRY_FSRCBILLNO",
        id_field: str = "FID",
        number_field: str = "FBillNo",
        status_field: str = "FDocumentStatus",
        fields: Sequence[str] = (),
        extra_filter: str | None = None,
    ) -> list[FoundDocument]:
        """The existence probe: target documents already made from ``source_number`` (one per document).

        Used before retrying any write whose outcome is unknown. Drafts (status Z, empty number) are included:
        they exist and would be duplicated by a blind retry.
        """
        quoted = source_number.replace("'", "''")
        filter_string = f"{source_field}='{quoted}'"
        if extra_filter:
            filter_string = f"({filter_string}) AND ({extra_filter})"
        keys = [id_field, number_field, status_field, *fields]
        rows = await self.execute_bill_query(
            target_form_id, keys, filter_string, order_string=f"{id_field} ASC"
        )
        found: dict[str, FoundDocument] = {}
        for row in rows:
            values = dict(zip(keys, row, strict=False))
            doc_id = str(values.get(id_field, ""))
            if doc_id in found:
                # one row per entry row: the same document can come back several times
                continue
            found[doc_id] = FoundDocument(
                id=doc_id,
                number="" if values.get(number_field) is None else str(values.get(number_field)),
                status="" if values.get(status_field) is None else str(values.get(status_field)),
                fields={k: values.get(k) for k in fields},
            )
        return list(found.values())


def _push_outcomes(
    sources: Sequence[str], status: ResponseStatus, convert: ResponseStatus | None
) -> list[PushOutcome]:
    entities = list(status.success_entities)
    if len(sources) > 1 and len(entities) == len(sources) and all(e.index == 0 for e in entities):
        # servers that leave DIndex out (0 everywhere): fall back to position
        entities = [SuccessEntity(e.id, e.number, i) for i, e in enumerate(entities)]
    outcomes = []
    for index, source in enumerate(sources):
        errors = [e.message for e in status.errors if e.index == index]
        if convert is not None:
            errors += [e.message for e in convert.errors if e.index == index and e.message not in errors]
        notes = [m.message for m in status.success_messages if m.index == index]
        entity = next((e for e in entities if e.index == index), None)
        if entity is not None and entity.number and not errors:
            outcomes.append(
                PushOutcome(index, source, PushStatus.CREATED, entity.id, entity.number, tuple(notes))
            )
        elif entity is not None and entity.id and not entity.number:
            outcomes.append(
                PushOutcome(index, source, PushStatus.DRAFT, entity.id, None, tuple(errors + notes))
            )
        elif errors:
            message = "; ".join(errors)
            label = msg_code_label(status.msg_code)
            error: ConnectorError
            if any(hint in message for hint in _ALREADY_PUSHED_HINTS):
                error = OutcomeUnknown(
                    f"Kingdee Push {source}: already pushed, reconcile: {message}", code=label, api="Push"
                )
            else:
                kind = type(error_for_status(ResponseStatus(False, status.msg_code), "Push"))
                error = kind(f"Kingdee Push {source}: {message}", code=label, api="Push")
            outcomes.append(PushOutcome(index, source, PushStatus.FAILED, None, None, tuple(errors), error))
        else:
            error = OutcomeUnknown(
                f"Kingdee Push {source}: the reply says nothing about this bill",
                code=msg_code_label(status.msg_code),
                api="Push",
            )
            outcomes.append(PushOutcome(index, source, PushStatus.UNKNOWN, None, None, (), error))
    return outcomes


__all__ = [
    "AUTH_SERVICE",
    "DYNAMIC_FORM_SERVICE",
    "WRITE_OPERATIONS",
    "EntityResult",
    "KingdeeClient",
]
