"""The Kingdee sandbox as an ASGI app: ``POST /k3cloud/<Service>.common.kdsvc`` plus the ``/_sandbox/`` admin API.

``KingdeeSandbox(SandboxConfig(...))`` is the ASGI callable; run it with
``ferry.sandbox.serve.ServerThread`` or ``ferry sandbox kingdee``. See README.md beside this file for the
protocol surface, the admin API and the faults.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ferry.sandbox.kingdee.auth import (
    Credentials,
    Session,
    SessionStore,
    SignatureRejected,
    has_signed_headers,
    login_sign,
    verify_signed_headers,
)
from ferry.sandbox.kingdee.bills import (
    AP_PAYBILL,
    CN_PAYAPPLY,
    Bill,
    BillStore,
    Message,
    OperationError,
    Outcome,
    get_ci,
    truthy,
)
from ferry.sandbox.kingdee.faults import FAULT_NAMES, Faults, parse_latency
from ferry.sandbox.kingdee.query import parse_query, run_query
from ferry.sandbox.kingdee.seed import payment_request, seed_payment_requests

SESSION_LOST = "会话信息已丢失，请重新登录"

#: default credentials (documented in README.md and ``ferry sandbox kingdee --help``); the app id has the
#: ``<clientId>_<32 base64 chars>`` form the official SDK derives its client secret from
DEFAULT_ACCT_ID = "65a0b1c2d3e4f5"
DEFAULT_USERNAME = "demo"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_APP_ID = "224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
DEFAULT_APP_SECRET = "0123456789abcdef0123456789abcdef"

_DYNAMIC = "kingdee.bos.webapi.servicesstub.dynamicformservice"
_AUTH = "kingdee.bos.webapi.servicesstub.authservice"
_ACCOUNT = "kingdee.bos.servicefacade.servicesstub.account.accountservice"

#: canonical spelling of every operation, looked up case-insensitively
DYNAMIC_OPS = {
    op.casefold(): op
    for op in (
        "Save",
        "BatchSave",
        "Draft",
        "View",
        "Submit",
        "Audit",
        "UnAudit",
        "Delete",
        "Push",
        "ExecuteBillQuery",
        "BillQuery",
        "ExcuteOperation",
        "ExecuteOperation",
        "CancelAssign",
        "QueryBusinessInfo",
        "SwitchOrg",
    )
}
AUTH_OPS = {
    op.casefold(): op
    for op in (
        "ValidateUser",
        "ValidateUser2",
        "LoginByAppSecret",
        "LoginByAppSecret2",
        "LoginBySign",
        "LoginBySign2",
        "LoginBySimplePassport",
        "LoginBySimplePassport2",
        "Logout",
    )
}
#: operations that change data: only these can be dropped after commit
WRITE_OPS = frozenset(
    {
        "save",
        "batchsave",
        "draft",
        "submit",
        "audit",
        "unaudit",
        "delete",
        "push",
        "excuteoperation",
        "executeoperation",
        "cancelassign",
    }
)
_FORM_DATA_OPS = frozenset(
    {"save", "batchsave", "draft", "view", "submit", "audit", "unaudit", "delete", "push", "cancelassign"}
)
_DATA_ONLY_OPS = frozenset({"executebillquery", "billquery", "querybusinessinfo", "switchorg"})

#: positional login parameters (reference §3.1)
_LOGIN_PARAMS: dict[str, tuple[str, ...]] = {
    "validateuser": ("acctid", "username", "password", "lcid"),
    "validateuser2": ("acctid", "username", "password", "iskickoff", "lcid"),
    "loginbyappsecret": ("acctid", "username", "appid", "appsecret", "lcid"),
    "loginbyappsecret2": ("acctid", "username", "appid", "appsecret", "iskickoff", "lcid"),
    "loginbysign": ("acctid", "username", "appid", "timestamp", "sign", "lcid"),
    "loginbysign2": ("acctid", "username", "appid", "timestamp", "sign", "iskickoff", "lcid"),
}
#: spellings seen for named login keys (reference §3.1) → canonical
_LOGIN_ALIASES = {
    "acctid": "acctid",
    "username": "username",
    "password": "password",
    "appid": "appid",
    "appsecret": "appsecret",
    "appsec": "appsecret",
    "timestamp": "timestamp",
    "sign": "sign",
    "lcid": "lcid",
    "iskickoff": "iskickoff",
}


@dataclass
class SandboxConfig:
    """Start-up settings of one sandbox (the CLI's options)."""

    acct_id: str = DEFAULT_ACCT_ID
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    lcid: int = 2052
    #: sliding idle lifetime of a session, seconds (20 minutes on a real server)
    session_ttl: float = 1200.0
    seed_bills: int = 0
    random_seed: int | None = None
    faults: Mapping[str, float] = field(default_factory=dict)
    latency_ms: tuple[int, int] = (0, 0)
    #: "modern" envelopes, or "legacy" ones like older servers (no MsgCode, no empty arrays, string booleans)
    envelope_style: str = "modern"
    extra_forms: Sequence[str] = ()
    #: over-push control of the CN_PAYAPPLY -> AP_PAYBILL rule; off, a repeated Push makes a second bill
    push_control: bool = True


class _DropConnection(Response):
    """Close the client's connection without writing a byte (``drop_after_commit``).

    uvicorn gives the app no handle on the socket, but its ``send`` callable is a bound method of the
    request cycle, which holds the transport: :class:`KingdeeSandbox` captures it into the scope. Closing it
    and then waiting for ``http.disconnect`` makes uvicorn see a disconnected client, so it neither writes
    a 500 nor logs an error. Without a transport (another server) we start a response and abort it, which
    still leaves the client with no usable answer.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get("ferry.transport")
        if transport is not None and hasattr(transport, "close"):
            transport.close()
            try:
                async with asyncio.timeout(2.0):
                    while (await receive())["type"] != "http.disconnect":
                        pass
            except TimeoutError:
                return
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("sandbox dropped the connection after commit")


class KingdeeSandbox:
    """A faithful stand-in for a K/3 Cloud WebAPI server; ASGI callable."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.creds = Credentials(
            self.config.acct_id,
            self.config.username,
            self.config.password,
            self.config.app_id,
            self.config.app_secret,
            self.config.lcid,
        )
        self.rng = random.Random(self.config.random_seed)
        self.store = BillStore(self.config.extra_forms, push_control=self.config.push_control)
        self.sessions = SessionStore(self.config.session_ttl)
        self.faults = Faults(self.rng)
        self.envelope_style = self.config.envelope_style
        self.calls: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()
        self._apply_start_faults()
        if self.config.seed_bills:
            seed_payment_requests(self.store, self.config.seed_bills, self.rng)
        self._app = Starlette(routes=self._routes())

    def reset(self, seed_bills: int = 0) -> list[Bill]:
        """Back to the start: no bills (then ``seed_bills`` fresh ones), sessions, faults or counters."""
        self.store.clear()
        self.sessions.drop_all()
        self.sessions.ttl = self.config.session_ttl
        self.faults.clear()
        self.faults.fired.clear()
        self.calls.clear()
        self.logins.clear()
        self.envelope_style = self.config.envelope_style
        self.rng.seed(self.config.random_seed)
        return seed_payment_requests(self.store, seed_bills, self.rng)

    def _apply_start_faults(self) -> None:
        for name, rate in self.config.faults.items():
            self.faults.set(name, rate)
        self.faults.latency_ms = self.config.latency_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # the transport behind uvicorn's send(), so drop_after_commit can close the socket unanswered
            owner = getattr(send, "__self__", None)
            scope["ferry.transport"] = getattr(owner, "transport", None)
        await self._app(scope, receive, send)

    # ---- routing ------------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        return [
            Route("/_sandbox/", self.admin_index, methods=["GET"]),
            Route("/_sandbox/config", self.admin_config, methods=["GET", "PUT"]),
            Route("/_sandbox/reset", self.admin_reset, methods=["POST"]),
            Route("/_sandbox/bills", self.admin_bills, methods=["GET", "POST"]),
            Route("/_sandbox/bills/{form_id}/{key}", self.admin_bill, methods=["GET"]),
            Route("/_sandbox/paybills/count", self.admin_paybill_count, methods=["GET"]),
            Route("/_sandbox/faults", self.admin_faults, methods=["GET", "PUT", "POST", "DELETE"]),
            Route("/_sandbox/stats", self.admin_stats, methods=["GET"]),
            Route("/_sandbox/sessions/expire", self.admin_expire_sessions, methods=["POST"]),
            Route("/_sandbox/forms", self.admin_forms, methods=["POST"]),
            Route("/{prefix}/{service:path}", self.service, methods=["POST", "GET"]),
        ]

    # ---- the WebAPI ---------------------------------------------------------------------------------
    async def service(self, request: Request) -> Response:
        """Every ``<base>/<Service>.common.kdsvc`` call."""
        if request.path_params["prefix"].casefold() != "k3cloud":
            return PlainTextResponse("Not Found", status_code=404)
        service: str = request.path_params["service"]
        if not service.casefold().endswith(".common.kdsvc"):
            return PlainTextResponse("Not Found", status_code=404)
        stem = service[: -len(".common.kdsvc")]
        namespace, _, op_raw = stem.rpartition(".")
        namespace_key, op_key = namespace.casefold(), op_raw.casefold()
        if request.method != "POST":
            return PlainTextResponse("Method Not Allowed", status_code=405)
        delay = self.faults.delay_seconds()
        if delay:
            await asyncio.sleep(delay)
        body = await request.body()
        if namespace_key == _AUTH and op_key in AUTH_OPS:
            self.calls[AUTH_OPS[op_key]] += 1
            return self._login(request, op_key, body)
        if namespace_key == _ACCOUNT and op_key == "getdatacenterlist":
            self.calls["GetDataCenterList"] += 1
            return self._json([{"Id": self.creds.acct_id, "Number": "ferry", "Name": "Ferry 沙箱数据中心"}])
        if namespace_key != _DYNAMIC or op_key not in DYNAMIC_OPS:
            return PlainTextResponse(f"service {stem} not found", status_code=404)
        op = DYNAMIC_OPS[op_key]
        self.calls[op] += 1
        return await self._business(request, op, op_key, body)

    async def _business(self, request: Request, op: str, op_key: str, body: bytes) -> Response:
        wrap = op_key == "executebillquery"
        if self.faults.fire("error5xx", op):
            return PlainTextResponse("Internal Server Error (sandbox fault error5xx)", status_code=500)
        if self.faults.fire("response_error", op):
            detail = {
                "Message": "未将对象引用设置到对象的实例。(sandbox fault response_error)",
                "InnerExWrapper": None,
                "InnerException": None,
            }
            return PlainTextResponse("response_error:" + json.dumps(detail, ensure_ascii=False))
        session, new_session = self._authenticate(request, op)
        if isinstance(session, Response):
            return session
        if session is None:
            return self._failure(SESSION_LOST, 1, wrap=wrap)
        if self.faults.fire("conflict", op):
            return self._failure(
                "网控冲突：单据正在被其他用户操作，请稍后再试 (sandbox fault conflict)", 13, wrap=wrap
            )
        if self.faults.fire("limit", op):
            return self._failure(
                "调用限制：接口调用过于频繁，请稍后再试 (sandbox fault limit)", 14, wrap=wrap
            )
        try:
            form_id, op_number, data = self._arguments(op_key, body)
            response = self._execute(op_key, form_id, op_number, data)
        except OperationError as exc:
            response = self._failure(exc.message, exc.msg_code, wrap=wrap, field_name=exc.field_name)
        if op_key in WRITE_OPS and self.faults.fire("drop_after_commit", op):
            return _DropConnection()
        if new_session is not None:
            self._set_session_cookies(response, new_session)
        return response

    def _authenticate(self, request: Request, op: str) -> tuple[Session | Response | None, Session | None]:
        """The caller's session, a fresh one from valid signed headers, or None (session lost)."""
        sid = (
            request.headers.get("kdservice-sessionid")
            or request.headers.get("sid")
            or request.cookies.get("kdservice-sessionid")
        )
        session = self.sessions.touch(sid)
        if session is not None and self.faults.fire("session_loss", op):
            self.sessions.drop(session.sid)
            session = None
        if session is not None:
            return session, None
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not has_signed_headers(headers):
            return None, None
        path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        if request.url.query:
            path = f"{path}?{request.url.query}" if "?" not in path else path
        try:
            identity = verify_signed_headers(headers, path, self.creds)
        except SignatureRejected as exc:
            if exc.wrong_acct:
                # the one auth failure a real server answers with a non-200 status (reference §4)
                return PlainTextResponse(str(exc), status_code=500), None
            return None, None
        self.logins["signed_headers"] += 1
        fresh = self.sessions.open(identity.username, identity.acct_id, identity.lcid, "signed_headers")
        return fresh, fresh

    # ---- envelopes ----------------------------------------------------------------------------------
    @staticmethod
    def _decode(body: bytes) -> Any:
        text = body.decode("utf-8-sig").strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise OperationError(f"请求数据包不是有效的 JSON：{exc.msg}", 8) from exc

    @classmethod
    def _positional(cls, payload: Any) -> list[Any] | None:
        """The positional parameters if the body is a bare array or ``{"parameters": array|string}``."""
        if isinstance(payload, list):
            return payload
        if isinstance(payload, dict):
            params = get_ci(payload, "parameters")
            if isinstance(params, list):
                return params
            if isinstance(params, str):
                try:
                    decoded = json.loads(params)
                except json.JSONDecodeError as exc:
                    raise OperationError("parameters 不是有效的 JSON 数组", 8) from exc
                if isinstance(decoded, list):
                    return decoded
                raise OperationError("parameters 必须是数组", 8)
        return None

    def _arguments(self, op_key: str, body: bytes) -> tuple[str, str, dict[str, Any]]:
        """(form id, op number, data) from any of the three envelopes; ``data`` may be an object or a string."""
        payload = self._decode(body)
        positional = self._positional(payload)
        form_id: Any = ""
        op_number: Any = ""
        data: Any = None
        if positional is not None:
            if op_key in _DATA_ONLY_OPS:
                data = positional[0] if positional else None
            elif op_key in ("excuteoperation", "executeoperation"):
                form_id, op_number, data = [*positional, None, None, None][:3]
            else:
                form_id, data = [*positional, None, None][:2]
        elif isinstance(payload, dict):
            form_id = get_ci(payload, "formid") or ""
            op_number = get_ci(payload, "opNumber") or ""
            data = get_ci(payload, "data")
            if data is None and op_key in _DATA_ONLY_OPS:
                data = payload
        else:
            raise OperationError("请求数据包格式不正确", 8)
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except json.JSONDecodeError as exc:
                raise OperationError(f"data 不是有效的 JSON：{exc.msg}", 8) from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise OperationError("data 必须是 JSON 对象", 8)
        return str(form_id or ""), str(op_number or ""), data

    def _execute(self, op_key: str, form_id: str, op_number: str, data: dict[str, Any]) -> Response:
        store = self.store
        if op_key in _FORM_DATA_OPS or op_key in ("excuteoperation", "executeoperation"):
            store.spec(form_id)
        if op_key in ("save", "draft"):
            model = get_ci(data, "Model")
            if not isinstance(model, dict):
                raise OperationError("data 数据包中的参数 Model 不能为空", 8, "Model")
            outcome = store.save_one(
                form_id,
                model,
                0,
                draft=op_key == "draft",
                need_update_fields=_str_list(get_ci(data, "NeedUpDateFields")),
                need_return_fields=_str_list(get_ci(data, "NeedReturnFields")),
                auto_submit_audit=truthy(get_ci(data, "IsAutoSubmitAndAudit")),
            )
            return self._save_reply([outcome], single=True)
        if op_key == "batchsave":
            models = get_ci(data, "Model")
            if not isinstance(models, list) or not models:
                raise OperationError("data 数据包中的参数 Model 必须是非空数组", 8, "Model")
            outcomes = [
                store.save_one(
                    form_id,
                    m if isinstance(m, dict) else {},
                    i,
                    need_update_fields=_str_list(get_ci(data, "NeedUpDateFields")),
                    need_return_fields=_str_list(get_ci(data, "NeedReturnFields")),
                    auto_submit_audit=truthy(get_ci(data, "IsAutoSubmitAndAudit")),
                )
                for i, m in enumerate(models)
            ]
            return self._save_reply(outcomes, single=False)
        if op_key in ("submit", "audit", "unaudit", "delete", "cancelassign"):
            outcomes = store.operate(
                form_id, DYNAMIC_OPS[op_key], get_ci(data, "Ids"), get_ci(data, "Numbers")
            )
            return self._json({"Result": {"ResponseStatus": self._status(outcomes)}})
        if op_key in ("excuteoperation", "executeoperation"):
            op = op_number.strip()
            known = {
                "submit": "Submit",
                "audit": "Audit",
                "unaudit": "UnAudit",
                "delete": "Delete",
                "cancelassign": "CancelAssign",
            }
            if op.casefold() not in known:
                raise OperationError(
                    f"操作“{op}”不存在或未启用（沙箱支持：{', '.join(known.values())}）", 4, "opNumber"
                )
            outcomes = store.operate(
                form_id, known[op.casefold()], get_ci(data, "Ids"), get_ci(data, "Numbers")
            )
            return self._json({"Result": {"ResponseStatus": self._status(outcomes)}})
        if op_key == "view":
            return self._view(form_id, data)
        if op_key == "push":
            outcomes = store.push(form_id, data)
            return self._json(
                {
                    "Result": {
                        "ResponseStatus": self._push_status(outcomes),
                        "ConvertResponseStatus": self._convert_status(outcomes),
                    }
                }
            )
        if op_key == "executebillquery":
            try:
                _, rows = run_query(store, parse_query(data))
            except OperationError as exc:
                return self._failure(exc.message, exc.msg_code, wrap=True, field_name=exc.field_name)
            return self._json(rows)
        if op_key == "billquery":
            keys, rows = run_query(store, parse_query(data))
            return self._json([dict(zip(keys, row, strict=True)) for row in rows])
        if op_key == "querybusinessinfo":
            spec = store.spec(str(get_ci(data, "FormId") or ""))
            return self._json(
                {
                    "Result": {
                        "ResponseStatus": self._status([Outcome(0, True)]),
                        "NeedReturnData": {
                            "Id": spec.form_id,
                            "Name": [{"Key": 2052, "Value": spec.name}],
                            "Entrys": [
                                {"Key": e, "Fields": list(spec.entry_fields.get(e, ()))} for e in spec.entries
                            ],
                            "Fields": list(spec.header_fields),
                        },
                    }
                }
            )
        if op_key == "switchorg":
            return self._json({"Result": {"ResponseStatus": self._status([Outcome(0, True)])}})
        raise OperationError(f"沙箱未实现操作 {op_key}", 4)

    def _view(self, form_id: str, data: dict[str, Any]) -> Response:
        spec = self.store.spec(form_id)
        number = str(get_ci(data, "Number") or "").strip()
        raw_id = get_ci(data, "Id")
        bill: Bill | None = None
        with self.store.lock:
            if raw_id not in (None, "", 0, "0"):
                try:
                    bill = self.store.get(spec.form_id, fid=int(raw_id))
                except (TypeError, ValueError):
                    bill = None
            elif number:
                bill = self.store.get(spec.form_id, number=number)
            else:
                raise OperationError("Number 和 Id 不能同时为空", 8, "Number")
            if bill is None:
                return self._failure(f"单据“{number or raw_id}”不存在或已被删除（{spec.name}）", 10)
            package = bill.package()
        return self._json(
            {
                "Result": {
                    "ResponseStatus": self._status([Outcome(0, True, bill.fid, bill.number)]),
                    "Result": package,
                }
            }
        )

    # ---- response shapes ----------------------------------------------------------------------------
    def _json(self, payload: Any, status_code: int = 200) -> Response:
        return Response(
            json.dumps(payload, ensure_ascii=False),
            status_code=status_code,
            media_type="application/json; charset=utf-8",
        )

    def _shape(self, status: dict[str, Any]) -> dict[str, Any]:
        """Legacy servers omit MsgCode and empty arrays and send booleans as strings (reference §5)."""
        if self.envelope_style != "legacy":
            return status
        out: dict[str, Any] = {}
        for key, value in status.items():
            if key == "MsgCode" or value == []:
                continue
            out[key] = ("true" if value else "false") if isinstance(value, bool) else value
        return out

    @staticmethod
    def _messages(items: Sequence[tuple[int, Message]]) -> list[dict[str, Any]]:
        return [{"FieldName": m.field_name, "Message": m.message, "DIndex": i} for i, m in items]

    def _status(self, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        errors = [(o.index, e) for o in outcomes for e in o.errors]
        ok = not errors and all(o.ok for o in outcomes)
        status: dict[str, Any] = {}
        if not ok:
            status["ErrorCode"] = 500
        status["IsSuccess"] = ok
        status["Errors"] = self._messages(errors)
        status["SuccessEntitys"] = [
            {"Id": o.bill_id, "Number": o.number, "DIndex": o.index} for o in outcomes if o.ok and o.bill_id
        ]
        status["SuccessMessages"] = self._messages(
            [(o.index, m) for o in outcomes if o.ok for m in o.messages]
        )
        status["MsgCode"] = 0 if ok else next((o.msg_code for o in outcomes if o.errors), 0)
        return self._shape(status)

    def _save_reply(self, outcomes: Sequence[Outcome], *, single: bool) -> Response:
        result: dict[str, Any] = {"ResponseStatus": self._status(outcomes)}
        if single:
            o = outcomes[0]
            result["Id"] = o.bill_id if o.ok else ""
            result["Number"] = o.number if o.ok else ""
            result["NeedReturnData"] = [o.need_return] if o.ok else []
        else:
            result["NeedReturnData"] = [o.need_return for o in outcomes if o.ok]
        return self._json({"Result": result})

    def _push_status(self, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        # saving the generated targets: success per target; a kept draft is listed with its Id and an empty
        # Number, next to the errors that stopped the save and a message saying it was kept as a draft
        errors = [(o.index, e) for o in outcomes for e in o.errors]
        ok = not errors and all(o.ok for o in outcomes)
        status: dict[str, Any] = {}
        if not ok:
            status["ErrorCode"] = 500
        status["IsSuccess"] = ok
        status["Errors"] = self._messages(errors)
        status["SuccessEntitys"] = [
            {"Id": o.bill_id, "Number": o.number, "DIndex": o.index}
            for o in outcomes
            if o.bill_id is not None
        ]
        status["SuccessMessages"] = self._messages([(o.index, m) for o in outcomes for m in o.messages])
        status["MsgCode"] = 0 if ok else next((o.msg_code for o in outcomes if o.errors), 0)
        return self._shape(status)

    def _convert_status(self, outcomes: Sequence[Outcome]) -> dict[str, Any]:
        # the conversion itself: which sources were converted, and why the others were not
        failed = [o for o in outcomes if not o.converted]
        status: dict[str, Any] = {}
        if failed:
            status["ErrorCode"] = 500
        status["IsSuccess"] = not failed
        status["Errors"] = self._messages([(o.index, e) for o in failed for e in o.errors])
        status["SuccessEntitys"] = [
            {"Id": o.source_id, "Number": o.source_number, "DIndex": o.index} for o in outcomes if o.converted
        ]
        status["SuccessMessages"] = []
        status["MsgCode"] = next((o.msg_code for o in failed), 0)
        return self._shape(status)

    def _failure(
        self, message: str, msg_code: int, *, wrap: bool = False, field_name: str | None = None
    ) -> Response:
        status = self._shape(
            {
                "ErrorCode": 500,
                "IsSuccess": False,
                "Errors": [{"FieldName": field_name, "Message": message, "DIndex": 0}],
                "SuccessEntitys": [],
                "SuccessMessages": [],
                "MsgCode": msg_code,
            }
        )
        envelope: Any = {"Result": {"ResponseStatus": status}}
        # ExecuteBillQuery answers errors inside its list-of-lists shape (reference §7.4)
        return self._json([[envelope]] if wrap else envelope)

    # ---- logins -------------------------------------------------------------------------------------
    def _login_args(self, op_key: str, body: bytes) -> dict[str, Any]:
        payload = self._decode(body)
        positional = self._positional(payload)
        if positional is not None:
            names = _LOGIN_PARAMS.get(op_key, ())
            return dict(zip(names, positional, strict=False))
        if isinstance(payload, dict):
            out: dict[str, Any] = {}
            for key, value in payload.items():
                canonical = _LOGIN_ALIASES.get(key.casefold())
                if canonical:
                    out[canonical] = value
            return out
        return {}

    def _login(self, request: Request, op_key: str, body: bytes) -> Response:
        if op_key == "logout":
            sid = request.headers.get("kdservice-sessionid") or request.cookies.get("kdservice-sessionid")
            return self._json(self.sessions.drop(sid))
        try:
            args = self._login_args(op_key, body)
        except OperationError as exc:
            return self._login_failure(exc.message, -1)
        creds = self.creds
        acct = str(args.get("acctid") or "")
        user = str(args.get("username") or "")
        if op_key.startswith("loginbysimplepassport"):
            return self._login_failure("沙箱不支持集成密钥文件登录（LoginBySimplePassport）", -1)
        if acct != creds.acct_id:
            return self._login_failure(f"数据中心“{acct}”不存在", -1)
        if user != creds.username:
            return self._login_failure("用户名或密码错误！", 0)
        if op_key.startswith("validateuser"):
            ok = str(args.get("password") or "") == creds.password
        elif op_key.startswith("loginbyappsecret"):
            ok = (
                str(args.get("appid") or "") == creds.app_id
                and str(args.get("appsecret") or "") == creds.app_secret
            )
        else:
            app_id = str(args.get("appid") or "")
            timestamp = str(args.get("timestamp") or "")
            sign = str(args.get("sign") or "").lower()
            # SHA-256 today; servers before PT-146911 8.0.0.202205 used SHA-1 (reference §3.1)
            ok = app_id == creds.app_id and sign in (
                login_sign(acct, user, app_id, creds.app_secret, timestamp, "sha256"),
                login_sign(acct, user, app_id, creds.app_secret, timestamp, "sha1"),
            )
        if not ok:
            return self._login_failure("用户名或密码错误！", 0)
        try:
            lcid = int(args.get("lcid") or creds.lcid)
        except (TypeError, ValueError):
            lcid = creds.lcid
        session = self.sessions.open(user, acct, lcid, AUTH_OPS[op_key])
        self.logins[AUTH_OPS[op_key]] += 1
        payload = {
            "Message": None,
            "MessageCode": "CheckPasswordPolicy",
            "LoginResultType": 1,
            "Context": {
                "UserLocale": "zh-CN" if lcid == 2052 else "en-US",
                "LogLocale": "zh-CN",
                "DBid": acct,
                "DatabaseType": 3,
                "SessionId": session.sid,
                "UseLanguages": [{"LocaleId": 2052, "LocaleName": "中文(简体)", "Alias": "CN"}],
                "UserId": 100008,
                "UserName": user,
                "CustomName": "Ferry 沙箱",
                "DisplayVersion": "8.2.0.20240823 (sandbox)",
                "DataCenterName": "Ferry 沙箱数据中心",
                "UserToken": secrets.token_hex(16),
                "CurrentOrganizationInfo": {
                    "ID": 100,
                    "AcctOrgType": "1",
                    "Name": "Ferry 组织",
                    "FunctionIds": [101, 102, 103, 104, 106, 107, 108, 109, 110, 111, 112, 113, 114],
                },
                "IsCH_ZH_AutoTrans": False,
                "ClientType": 32,
                "WeiboAuthInfo": None,
                "UTimeZone": {
                    "OffsetTicks": 288000000000,
                    "StandardName": "(UTC+08:00)北京，重庆，香港特别行政区，乌鲁木齐",
                    "Id": 230,
                    "Number": "1078_SYS",
                    "CanBeUsed": True,
                },
                "STimeZone": None,
                "GDCID": None,
                "Gsid": None,
                "TRLevel": 0,
                "ProductEdition": 0,
                "DataCenterNumber": "ferry",
            },
            "KDSVCSessionId": session.sid,
            "FormId": None,
            "RedirectFormParam": None,
            "FormInputObject": None,
            "ErrorStackTrace": None,
            "Lcid": 0,
            "AccessToken": None,
            "KdAccessResult": None,
            "IsSuccessByAPI": True,
        }
        response = self._json(payload)
        self._set_session_cookies(response, session)
        return response

    def _login_failure(self, message: str, result_type: int) -> Response:
        return self._json(
            {
                "Message": message,
                "MessageCode": "CheckPasswordPolicy",
                "LoginResultType": result_type,
                "Context": None,
                "KDSVCSessionId": None,
                "FormId": None,
                "RedirectFormParam": None,
                "FormInputObject": None,
                "ErrorStackTrace": None,
                "Lcid": 0,
                "AccessToken": None,
                "KdAccessResult": None,
                "IsSuccessByAPI": False,
            }
        )

    @staticmethod
    def _set_session_cookies(response: Response, session: Session) -> None:
        # no Expires attribute: the official Python SDK splits Set-Cookie on "," and would cut the date
        response.set_cookie("kdservice-sessionid", session.sid, path="/")
        response.set_cookie("ASP.NET_SessionId", secrets.token_hex(12), path="/", httponly=True)

    # ---- admin API ----------------------------------------------------------------------------------
    async def admin_index(self, request: Request) -> Response:
        """List the admin endpoints."""
        return JSONResponse(
            {
                "service": "Ferry Kingdee sandbox",
                "base_url": str(request.base_url) + "k3cloud/",
                "endpoints": {
                    "GET /_sandbox/config": "non-secret settings; PUT {envelope_style, session_ttl}",
                    "POST /_sandbox/reset": "clear bills, sessions, faults, counters; body {seed_bills?}",
                    "GET /_sandbox/bills?form_id=&status=": "bill summaries",
                    "POST /_sandbox/bills": "seed bills: {form_id?, count?} or {bills: [{number, amount, amounts, status, "
                    "settle_type, supplier, purpose, date, fields}]}",
                    "GET /_sandbox/bills/{form_id}/{number_or_id}": "one bill with its life-cycle state and links",
                    "GET /_sandbox/paybills/count?source=": "AP_PAYBILL bills per source bill number",
                    "GET|PUT|DELETE /_sandbox/faults": "faults {name: rate | {rate, ops, count}} and latency_ms [min,max]",
                    "GET /_sandbox/stats": "call counters, logins, faults fired, live sessions",
                    "POST /_sandbox/sessions/expire": "drop every session (as after 20 idle minutes)",
                    "POST /_sandbox/forms": "register a generic form {form_id, name?}",
                },
                "faults": list(FAULT_NAMES),
            }
        )

    async def admin_config(self, request: Request) -> Response:
        """Non-secret settings; ``PUT`` changes ``envelope_style`` or ``session_ttl`` at run time."""
        if request.method == "PUT":
            body = await request.json()
            if "envelope_style" in body:
                if body["envelope_style"] not in ("modern", "legacy"):
                    return JSONResponse({"error": "envelope_style must be modern or legacy"}, status_code=400)
                self.envelope_style = body["envelope_style"]
            if "session_ttl" in body:
                self.sessions.ttl = float(body["session_ttl"])
        return JSONResponse(
            {
                "acct_id": self.creds.acct_id,
                "username": self.creds.username,
                "app_id": self.creds.app_id,
                "lcid": self.creds.lcid,
                "session_ttl": self.sessions.ttl,
                "envelope_style": self.envelope_style,
                "forms": sorted(spec.form_id for spec in self.store.specs.values()),
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        """Back to an empty store (reseeded with ``seed_bills``), no sessions, no faults, zero counters."""
        body = await _json_body(request)
        seeded = self.reset(int(body.get("seed_bills", 0) or 0))
        return JSONResponse({"reset": True, "seeded": [b.number for b in seeded]})

    def _summary(self, bill: Bill) -> dict[str, Any]:
        total = sum(
            float(get_ci(r, "FAPPLYAMOUNTFOR") or get_ci(r, "FPAYTOTALAMOUNTFOR") or 0)
            for e in (CN_PAYAPPLY.entries + AP_PAYBILL.entries[:1])
            for r in bill.entry_rows(e)
        )
        return {
            "id": bill.fid,
            "form_id": bill.form_id,
            "number": bill.number,
            "status": bill.status,
            "amount": round(total, 2),
            "pushed_amount": round(sum(bill.pushed.values()), 2),
            "sources": sorted({link.source_number for link in bill.links}),
        }

    async def admin_bills(self, request: Request) -> Response:
        """``GET``: summaries; ``POST``: seed payment requests (or generic bills)."""
        if request.method == "GET":
            form_id = request.query_params.get("form_id", CN_PAYAPPLY.form_id)
            status = request.query_params.get("status")
            with self.store.lock:
                bills = [b for b in self.store.bills(form_id) if status is None or b.status == status]
                return JSONResponse({"bills": [self._summary(b) for b in bills]})
        body = await _json_body(request)
        form_id = str(body.get("form_id") or CN_PAYAPPLY.form_id)
        created: list[Bill] = []
        try:
            if form_id.casefold() == CN_PAYAPPLY.form_id.casefold():
                if "bills" in body:
                    for item in body["bills"]:
                        created.append(
                            payment_request(
                                self.store,
                                self.rng,
                                number=item.get("number"),
                                amount=item.get("amount"),
                                amounts=item.get("amounts"),
                                status=item.get("status", "C"),
                                # an explicit null (or "missing_settle_type": true) leaves the settle type out
                                settle_type=None
                                if item.get("missing_settle_type")
                                else item.get("settle_type", "JSFS04_SYS"),
                                supplier=item.get("supplier"),
                                purpose=item.get("purpose", "SFKYT01_SYS"),
                                date=item.get("date"),
                                fields=item.get("fields"),
                            )
                        )
                else:
                    created = seed_payment_requests(self.store, int(body.get("count", 1)), self.rng)
            else:
                for item in body.get("bills", []):
                    outcome = self.store.save_one(
                        form_id, item.get("model", item.get("fields", {})), 0, draft=item.get("status") == "Z"
                    )
                    if not outcome.ok or outcome.bill_id is None:
                        return JSONResponse({"error": [e.message for e in outcome.errors]}, status_code=400)
                    bill = self.store.get(form_id, fid=outcome.bill_id)
                    assert bill is not None
                    target = str(item.get("status", bill.status))
                    if target in ("B", "C") and bill.status == "A":
                        self.store.transition(bill, "Submit", 0)
                    if target == "C" and bill.status == "B":
                        self.store.transition(bill, "Audit", 0)
                    created.append(bill)
        except (ValueError, OperationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"bills": [self._summary(b) for b in created]})

    async def admin_bill(self, request: Request) -> Response:
        """One bill with model, status, pushed amounts and links, by number or internal id."""
        form_id, key = request.path_params["form_id"], request.path_params["key"]
        with self.store.lock:
            bill = self.store.get(form_id, number=key)
            if bill is None and key.isdigit():
                bill = self.store.get(form_id, fid=int(key))
            if bill is None:
                return JSONResponse({"error": f"no {form_id} bill {key}"}, status_code=404)
            return JSONResponse(
                {
                    **self._summary(bill),
                    "model": bill.package(),
                    "pushed": {str(k): v for k, v in bill.pushed.items()},
                    "links": [vars_of(link) for link in bill.links],
                }
            )

    async def admin_paybill_count(self, request: Request) -> Response:
        """AP_PAYBILL bills linked to each source number (``?source=A&source=B``; all sources if none)."""
        sources = request.query_params.getlist("source")
        include_drafts = request.query_params.get("include_drafts", "true").lower() != "false"
        with self.store.lock:
            counts = self.store.paybill_counts(sources, include_drafts)
        return JSONResponse({"counts": counts, "total": sum(counts.values())})

    async def admin_faults(self, request: Request) -> Response:
        """Read, set (``PUT``/``POST`` merge; ``"replace": true`` first clears) or clear (``DELETE``) faults."""
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method in ("PUT", "POST"):
            body = await _json_body(request)
            try:
                if body.get("replace"):
                    self.faults.clear()
                self.faults.set_many(body.get("faults", {}))
                latency = body.get("latency_ms")
                if isinstance(latency, str):
                    self.faults.latency_ms = parse_latency(latency)
                elif isinstance(latency, list) and len(latency) == 2:
                    self.faults.latency_ms = parse_latency(f"{int(latency[0])}-{int(latency[1])}")
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.describe())

    async def admin_stats(self, request: Request) -> Response:
        """Counters: calls per operation, logins per mode, faults fired, live sessions."""
        return JSONResponse(
            {
                "calls": dict(self.calls),
                "logins": dict(self.logins),
                "faults_fired": dict(self.faults.fired),
                "sessions_live": self.sessions.count(),
            }
        )

    async def admin_expire_sessions(self, request: Request) -> Response:
        """Drop all sessions, as if every one had been idle past its TTL."""
        return JSONResponse({"dropped": self.sessions.drop_all()})

    async def admin_forms(self, request: Request) -> Response:
        """Register one more generic form."""
        body = await _json_body(request)
        if not body.get("form_id"):
            return JSONResponse({"error": "form_id is required"}, status_code=400)
        spec = self.store.register_form(str(body["form_id"]), body.get("name"))
        return JSONResponse({"form_id": spec.form_id, "name": spec.name})


def vars_of(link: Any) -> dict[str, Any]:
    """A dataclass-with-slots as a dict (for JSON)."""
    return {name: getattr(link, name) for name in link.__slots__}


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    data = json.loads(body)
    return data if isinstance(data, dict) else {}


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.strip():
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


def create_app(config: SandboxConfig | None = None) -> KingdeeSandbox:
    """Build a sandbox (an ASGI app) from a config."""
    return KingdeeSandbox(config)


__all__ = [
    "DEFAULT_ACCT_ID",
    "DEFAULT_APP_ID",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "KingdeeSandbox",
    "SandboxConfig",
    "create_app",
]
