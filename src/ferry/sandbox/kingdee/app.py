"""The Kingdee sandbox as an ASGI app: ``POST /k3cloud/<Service>.common.kdsvc`` plus the ``/_sandbox/`` admin API.

``KingdeeSandbox(SandboxConfig(...))`` is the ASGI callable; run it with
``ferry.sandbox.serve.ServerThread`` or ``ferry sandbox kingdee``. See README.md beside this file for the
protocol surface, the admin API and the faults.

:class:`KingdeeSandbox` is assembled from one layer per seam: :mod:`.state` (what it holds, reset),
:mod:`.replies` (response envelopes), :mod:`.logins` (sessions and logins), :mod:`.operations` (the business
operations) and :mod:`.admin` (the admin API); requests are decoded in :mod:`.envelopes` and the settings
live in :mod:`.config`. Routing, the WebAPI entry point and the faults it injects on the wire stay here.
"""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ferry.sandbox.kingdee.admin import Admin, vars_of
from ferry.sandbox.kingdee.bills import OperationError
from ferry.sandbox.kingdee.config import (
    DEFAULT_ACCT_ID,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    SandboxConfig,
)
from ferry.sandbox.kingdee.envelopes import AUTH_OPS, DYNAMIC_OPS, WRITE_OPS, call_arguments
from ferry.sandbox.kingdee.logins import Logins
from ferry.sandbox.kingdee.operations import Operations

SESSION_LOST = "会话信息已丢失，请重新登录"

_DYNAMIC = "kingdee.bos.webapi.servicesstub.dynamicformservice"
_AUTH = "kingdee.bos.webapi.servicesstub.authservice"
_ACCOUNT = "kingdee.bos.servicefacade.servicesstub.account.accountservice"


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


class KingdeeSandbox(Admin, Operations, Logins):
    """A faithful stand-in for a K/3 Cloud WebAPI server; ASGI callable."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config)
        self._app = Starlette(routes=self._routes())

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
            form_id, op_number, data = call_arguments(op_key, body)
            response = self._execute(op_key, form_id, op_number, data)
        except OperationError as exc:
            response = self._failure(exc.message, exc.msg_code, wrap=wrap, field_name=exc.field_name)
        if op_key in WRITE_OPS and self.faults.fire("drop_after_commit", op):
            return _DropConnection()
        if new_session is not None:
            self._set_session_cookies(response, new_session)
        return response


def create_app(config: SandboxConfig | None = None) -> KingdeeSandbox:
    """Build a sandbox (an ASGI app) from a config."""
    return KingdeeSandbox(config)


__all__ = [
    "AUTH_OPS",
    "DEFAULT_ACCT_ID",
    "DEFAULT_APP_ID",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "DYNAMIC_OPS",
    "SESSION_LOST",
    "WRITE_OPS",
    "KingdeeSandbox",
    "SandboxConfig",
    "create_app",
    "vars_of",
]
