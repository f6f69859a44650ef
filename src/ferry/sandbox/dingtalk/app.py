"""The sandbox as an ASGI app: both DingTalk hosts, the robot webhook and the ``/_sandbox/`` admin API.

The client picks the host by path, as it would pick ``oapi.dingtalk.com`` or ``api.dingtalk.com``:
``/gettoken`` and ``/topapi/...`` answer like the legacy host (always HTTP 200, ``errcode`` bodies);
``/v1.0/...`` answers like the new one (real HTTP status, ``code``/``message``/``requestid`` bodies).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import secrets
import string
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ferry.sandbox.dingtalk import lifecycle
from ferry.sandbox.dingtalk.config import BEIJING, SandboxConfig
from ferry.sandbox.dingtalk.payment import build_form, departments, people
from ferry.sandbox.dingtalk.state import Sandbox
from ferry.sandbox.dingtalk.store import render_legacy, render_v1
from ferry.sandbox.dingtalk.stream import StreamSandbox, stream_routes

DAY_MS = 86_400_000
MAX_SPAN_MS = 120 * DAY_MS
MAX_AGE_MS = 365 * DAY_MS
MAX_PAGE = 20
MAX_USERS = 10
#: the real list API stops paging after 10 000 IDs per loop (reference §2)
MAX_IDS_PER_LOOP = 10_000

LEGACY_LIST = "topapi/processinstance/listids"
LEGACY_GET = "topapi/processinstance/get"
V1_LIST = "v1.0/workflow/processes/instanceIds/query"
V1_GET = "v1.0/workflow/processInstances"
V1_SCHEMA = "v1.0/workflow/forms/schemas/processCodes"

_SYSTEM_DISABLED_APP = "您的企业应用调用钉钉开放平台当前接口的所有请求都被暂时禁用了"
_SYSTEM_DISABLED_SERVER = "您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了"
_BAD_GATEWAY = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"

Handler = Callable[[Request, str], Awaitable[Response]]


def _request_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(13))


def _v1_request_id() -> str:
    raw = secrets.token_hex(16).upper()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def legacy(body: dict[str, Any]) -> JSONResponse:
    """A legacy-host answer: HTTP 200 whatever happened, with a ``request_id``."""
    return JSONResponse({**body, "request_id": _request_id()})


def legacy_error(errcode: int, errmsg: str) -> JSONResponse:
    return legacy({"errcode": errcode, "errmsg": errmsg})


def legacy_wrapped(sub_code: str, sub_msg: str) -> JSONResponse:
    """The TOP gateway's wrapping: ``errcode`` 88 with the real cause in ``sub_code`` (reference §1.3, §5.2)."""
    return legacy(
        {
            "errcode": 88,
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "errmsg": f"ding talk error[subcode={sub_code},submsg={sub_msg}]",
        }
    )


def v1_error(status: int, code: str, message: str) -> JSONResponse:
    rid = _v1_request_id()
    return JSONResponse(
        {"requestid": rid, "code": code, "message": message},
        status_code=status,
        headers={"x-acs-request-id": rid},
    )


def v1_ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"x-acs-request-id": _v1_request_id()})


def form_schema(process_code: str) -> dict[str, Any]:
    """The payment template's schema, in the shape of the form-schema API (components, labels, ids).
    The exact key set of a real answer is UNCONFIRMED (see the sandbox README)."""
    components = build_form(random.Random(0), 0, 1, people()[0], departments()[0])
    return {
        "name": "付款申请",
        "processCode": process_code,
        "schemaContent": {
            "title": "付款申请",
            "items": [
                {"componentName": c.component_type, "props": {"label": c.name, "id": c.id}}
                for c in components
            ],
        },
    }


def _quota_text(used: int, quota: int) -> str:
    return f"您的企业本月api调用量已超过限制,调用量:{used}次,额度:{quota}次,请登录开发者后台-资源管理-查看用量明细"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("-").isdigit()


class DingTalkApp:
    """Builds the Starlette app around one :class:`Sandbox`; see the package README for the routes."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.s = sandbox
        routes = [
            Route("/gettoken", self.legacy_token, methods=["GET"]),
            Route("/topapi/processinstance/listids", self.legacy_list, methods=["POST"]),
            Route("/topapi/processinstance/get", self.legacy_get, methods=["POST"]),
            Route("/v1.0/oauth2/accessToken", self.v1_token, methods=["POST"]),
            Route("/v1.0/workflow/processes/instanceIds/query", self.v1_list, methods=["POST"]),
            Route("/v1.0/workflow/processInstances", self.v1_get, methods=["GET"]),
            Route("/v1.0/workflow/forms/schemas/processCodes", self.v1_schema, methods=["GET"]),
            Route("/robot/send", self.robot_send, methods=["POST"]),
            Route("/_sandbox/", self.admin_info, methods=["GET"]),
            Route("/_sandbox/reset", self.admin_reset, methods=["POST"]),
            Route("/_sandbox/instances", self.admin_list, methods=["GET"]),
            Route("/_sandbox/instances", self.admin_create, methods=["POST"]),
            Route("/_sandbox/instances/{instance_id}", self.admin_read, methods=["GET"]),
            Route("/_sandbox/instances/{instance_id}/{action}", self.admin_transition, methods=["POST"]),
            Route("/_sandbox/faults", self.admin_faults, methods=["GET", "PUT"]),
            Route("/_sandbox/calls", self.admin_calls, methods=["GET"]),
            Route("/_sandbox/quota", self.admin_quota, methods=["PUT"]),
            Route("/_sandbox/clock", self.admin_clock, methods=["GET", "POST"]),
            Route("/_sandbox/tokens/expire", self.admin_expire_tokens, methods=["POST"]),
            Route("/_sandbox/callback", self.admin_callback, methods=["GET", "PUT", "DELETE"]),
            Route("/_sandbox/events", self.admin_events, methods=["GET"]),
            Route("/_sandbox/events/{event_id}/deliver", self.admin_redeliver, methods=["POST"]),
            Route("/_sandbox/robots", self.admin_add_robot, methods=["POST"]),
            Route("/_sandbox/robot/messages", self.admin_robot_messages, methods=["GET"]),
            *stream_routes(sandbox),
        ]
        self.starlette = Starlette(routes=routes)

    # ================================================================ shared checks
    def _busy(self, v1: bool) -> Response | None:
        if self.s.roll("gateway_error"):
            return HTMLResponse(_BAD_GATEWAY, status_code=502)
        if self.s.roll("busy"):
            if v1:
                return v1_error(500, "systemError", "系统异常")
            return legacy_error(-1, "系统繁忙")
        return None

    async def _business(self, request: Request, api: str, v1: bool, handler: Handler) -> Response:
        """Token, faults, QPS and quota checks shared by every metered API, then the handler."""
        s = self.s
        s.count(api, "requests")
        busy = self._busy(v1)
        if busy is not None:
            s.count(api, "busy")
            return busy
        if v1:
            token = request.headers.get("x-acs-dingtalk-access-token")
        else:
            token = request.query_params.get("access_token")
        status = s.check_token(token)
        if status == "ok" and token and s.roll("token_expire"):
            s.expire_token(token)
            status = "expired"
        if status != "ok":
            s.count(api, f"token_{status}")
            return self._token_error(status, v1)
        app_key = s.tokens[str(token)].app_key
        if s.roll("throttle") or s.over_qps(app_key, api):
            s.count(api, "throttled")
            if v1:
                return v1_error(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", _SYSTEM_DISABLED_APP)
            return legacy_wrapped("90018", _SYSTEM_DISABLED_APP)
        if s.roll("throttle_bare"):
            s.count(api, "throttled")
            if v1:
                return v1_error(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", _SYSTEM_DISABLED_APP)
            return legacy_error(90018, _SYSTEM_DISABLED_APP)
        if s.roll("throttle_global"):
            s.count(api, "throttled")
            if v1:
                return v1_error(403, "Forbidden.AccessDenied.QpsLimitForApi", _SYSTEM_DISABLED_SERVER)
            now = dt.datetime.fromtimestamp(s.clock.now(), BEIJING)
            fmt = "%Y-%m-%d %H:%M:%S"
            path = "dingtalk.oapi." + api.removeprefix("topapi/").replace("/", ".")
            text = (
                f"{_SYSTEM_DISABLED_SERVER}, apiPath({path}), 从 {now.strftime(fmt)} 到 {now.strftime(fmt)} "
                f"请求总次数超过了 {s.qps * 5} 次, 处罚将在 {(now + dt.timedelta(seconds=1)).strftime(fmt)} 结束."
            )
            return legacy_wrapped("90002", text)
        if s.quota_exceeded():
            # rejected calls are not metered; the quota answer is permanent until next month
            s.count(api, "quota_exceeded")
            text = _quota_text(s.quota_used[s.month()] + 1, s.monthly_quota)
            if v1:
                return v1_error(403, "Forbidden.AccessDenied.ApiCountLimitForOrg", text)
            return legacy_error(90020, text)
        s.meter()
        return await handler(request, app_key)

    def _token_error(self, status: str, v1: bool) -> Response:
        if v1:
            if status == "missing":
                return v1_error(
                    400, "AuthenticationFailed.MissingParameter", "缺少参数：x-acs-dingtalk-access-token"
                )
            return v1_error(400, "InvalidAuthentication", "不合法的access_token")
        if status == "missing":
            return legacy_wrapped("40000", "access_token is blank")
        style = self.s.legacy_token_error if status == "expired" else "88"
        if style == "42001":
            return legacy_error(42001, "access_token超时")
        if style == "40014":
            return legacy_error(40014, "ding talk error[subcode=40014,submsg=不合法的access token]")
        return legacy_wrapped("40014", "不合法的access_token")

    def _window_problem(self, start: int, end: int | None) -> str | None:
        """The reason a listing window is refused, or None (reference §2: 120-day span, 365-day horizon)."""
        now = self.s.clock.now_ms()
        if end is None:
            if now - start > MAX_SPAN_MS:
                return "只传开始时间时，开始时间不能早于当前时间120天"
            return None
        if end < start:
            return "结束时间不能小于开始时间"
        if end - start > MAX_SPAN_MS:
            return "查询时间范围不能超过120天"
        if now - start > MAX_AGE_MS:
            return "开始时间不能早于当前时间365天"
        return None

    def _page(
        self,
        process_code: str,
        start: int,
        end: int | None,
        cursor: int,
        size: int,
        userids: list[str] | None,
        statuses: list[str] | None,
    ) -> tuple[list[str], int | None]:
        end_ms = end if end is not None else self.s.clock.now_ms()
        ids = self.s.store.query(process_code, start, end_ms, userids, statuses)[:MAX_IDS_PER_LOOP]
        page = ids[cursor : cursor + size]
        nxt = cursor + size
        return page, (nxt if nxt < len(ids) else None)

    # ================================================================ legacy host
    async def legacy_token(self, request: Request) -> Response:
        """``GET /gettoken?appkey=&appsecret=``."""
        s = self.s
        s.count("gettoken", "requests")
        busy = self._busy(False)
        if busy is not None:
            s.count("gettoken", "busy")
            return busy
        key, secret = request.query_params.get("appkey"), request.query_params.get("appsecret")
        if not key or not secret:
            return legacy_error(40035, "缺少参数 corpid or appkey")
        issued = s.issue_token(key, secret)
        if issued is None:
            s.count("gettoken", "bad_credentials")
            return legacy_error(40096, "不合法的appKey或appSecret")
        s.count("gettoken", "ok")
        return legacy({"errcode": 0, "access_token": issued[0], "errmsg": "ok", "expires_in": issued[1]})

    async def legacy_list(self, request: Request) -> Response:
        """``POST /topapi/processinstance/listids``."""
        return await self._business(request, LEGACY_LIST, False, self._legacy_list)

    async def _legacy_list(self, request: Request, app_key: str) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return legacy_error(40035, "不合法的参数:请求体不是合法的JSON")
        code, start, end = body.get("process_code"), body.get("start_time"), body.get("end_time")
        size, cursor, users = body.get("size", 10), body.get("cursor", 0), body.get("userid_list")
        if not code:
            return legacy_error(40035, "不合法的参数:process_code不能为空")
        if start is None or not _is_int(start):
            return legacy_error(40035, "不合法的参数:start_time不能为空")
        if end is not None and not _is_int(end):
            return legacy_error(40035, "不合法的参数:end_time不合法")
        if not _is_int(size) or not 1 <= int(size) <= MAX_PAGE:
            return legacy_error(40035, f"不合法的参数:size最大值为{MAX_PAGE}")
        if not _is_int(cursor) or int(cursor) < 0:
            return legacy_error(40035, "不合法的参数:cursor不合法")
        userids = [u for u in str(users).split(",") if u] if users else None
        if userids and len(userids) > MAX_USERS:
            return legacy_error(40035, f"不合法的参数:userid_list最多{MAX_USERS}个")
        problem = self._window_problem(int(start), int(end) if end is not None else None)
        if problem:
            return legacy_error(40035, f"不合法的参数:{problem}")
        if code != self.s.config.process_code and not any(i.process_code == code for i in self.s.store.all()):
            return legacy_error(830001, "processCode错误或者模板不存在")
        ids, nxt = self._page(
            str(code),
            int(start),
            int(end) if end is not None else None,
            int(cursor),
            int(size),
            userids,
            None,
        )
        result: dict[str, Any] = {"list": ids}
        # "当返回结果没有该字段时表示没有更多数据": no next_cursor at the end
        if nxt is not None:
            result["next_cursor"] = nxt
        self.s.count(LEGACY_LIST, "ok")
        return legacy({"errcode": 0, "result": result, "errmsg": "ok"})

    async def legacy_get(self, request: Request) -> Response:
        """``POST /topapi/processinstance/get``."""
        return await self._business(request, LEGACY_GET, False, self._legacy_get)

    async def _legacy_get(self, request: Request, app_key: str) -> Response:
        body = await _json_body(request)
        iid = body.get("process_instance_id") if isinstance(body, dict) else None
        if not iid:
            return legacy_error(40035, "不合法的参数:process_instance_id不能为空")
        inst = self.s.find(str(iid))
        if inst is None:
            self.s.count(LEGACY_GET, "not_found")
            return legacy_wrapped("aflowProcessInstNotExist", "审批实例不存在")
        self.s.count(LEGACY_GET, "ok")
        return legacy({"errcode": 0, "errmsg": "ok", "process_instance": render_legacy(inst)})

    # ================================================================ v1.0 host
    async def v1_token(self, request: Request) -> Response:
        """``POST /v1.0/oauth2/accessToken`` with ``{"appKey", "appSecret"}``."""
        s = self.s
        api = "v1.0/oauth2/accessToken"
        s.count(api, "requests")
        busy = self._busy(True)
        if busy is not None:
            s.count(api, "busy")
            return busy
        body = await _json_body(request)
        key = body.get("appKey") if isinstance(body, dict) else None
        secret = body.get("appSecret") if isinstance(body, dict) else None
        if not key:
            return v1_error(400, "MissingappKey", "appKey is mandatory for this action.")
        if not secret:
            return v1_error(400, "MissingappSecret", "appSecret is mandatory for this action.")
        issued = s.issue_token(str(key), str(secret))
        if issued is None:
            s.count(api, "bad_credentials")
            return v1_error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        s.count(api, "ok")
        return v1_ok({"accessToken": issued[0], "expireIn": issued[1]})

    async def v1_list(self, request: Request) -> Response:
        """``POST /v1.0/workflow/processes/instanceIds/query``."""
        return await self._business(request, V1_LIST, True, self._v1_list)

    async def _v1_list(self, request: Request, app_key: str) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return v1_error(400, "invalidParameter", "请求体不是合法的JSON")
        code, start, end = body.get("processCode"), body.get("startTime"), body.get("endTime")
        token, size, users, statuses = (
            body.get("nextToken"),
            body.get("maxResults"),
            body.get("userIds"),
            body.get("statuses"),
        )
        if not code:
            return v1_error(400, "invalidProcessCode", "审批模板processCode不能为空")
        if start is None or not _is_int(start):
            return v1_error(400, "invalidInstanceListIdsStartTime", "获取审批实例ID列表开始时间不能为空")
        if token is None or not _is_int(token) or int(token) < 0:
            return v1_error(400, "invalidNextToken", "获取审批实例ID列表分页查询的游标不能为空")
        if size is None or not _is_int(size) or not 1 <= int(size) <= MAX_PAGE:
            return v1_error(400, "invalidMaxResults", "获取审批实例ID列表每页大小，最多传20。")
        if end is not None and (
            not _is_int(end) or int(end) < int(start) or int(end) - int(start) > MAX_SPAN_MS
        ):
            return v1_error(
                400,
                "invalidEndTime",
                "获取审批实例ID列表结束时间不能小于开始时间；且查询时间范围不能超过120天。",
            )
        if users is not None and (not isinstance(users, list) or len(users) > MAX_USERS):
            return v1_error(400, "invalidUserIds", "获取审批实例ID列表发起人列表最大列表长度为10。")
        problem = self._window_problem(int(start), int(end) if end is not None else None)
        if problem:
            code_name = "invalidEndTime" if "120" in problem else "invalidInstanceListIdsStartTime"
            return v1_error(400, code_name, f"获取审批实例ID列表{problem}")
        if statuses is not None and (
            not isinstance(statuses, list) or not set(statuses) <= {"RUNNING", "TERMINATED", "COMPLETED"}
        ):
            return v1_error(400, "invalidParameter", "statuses取值为RUNNING、TERMINATED、COMPLETED")
        ids, nxt = self._page(
            str(code),
            int(start),
            int(end) if end is not None else None,
            int(token),
            int(size),
            users or None,
            statuses or None,
        )
        result: dict[str, Any] = {"list": ids}
        # request nextToken is a number, the response's a string; absent at the end (reference §4.1)
        if nxt is not None:
            result["nextToken"] = str(nxt)
        self.s.count(V1_LIST, "ok")
        return v1_ok({"result": result, "success": True})

    async def v1_get(self, request: Request) -> Response:
        """``GET /v1.0/workflow/processInstances?processInstanceId=``."""
        return await self._business(request, V1_GET, True, self._v1_get)

    async def _v1_get(self, request: Request, app_key: str) -> Response:
        iid = request.query_params.get("processInstanceId")
        if not iid:
            return v1_error(400, "processInstanceIdError", "processInstanceId参数无效")
        inst = self.s.find(iid)
        if inst is None:
            self.s.count(V1_GET, "not_found")
            return v1_error(400, "processInstanceNotExist", "审批实例不存在")
        self.s.count(V1_GET, "ok")
        return v1_ok({"result": render_v1(inst), "success": True})

    async def v1_schema(self, request: Request) -> Response:
        """``GET /v1.0/workflow/forms/schemas/processCodes?processCode=``: a template's form schema."""
        return await self._business(request, V1_SCHEMA, True, self._v1_schema)

    async def _v1_schema(self, request: Request, app_key: str) -> Response:
        code = request.query_params.get("processCode")
        if not code:
            return v1_error(400, "invalidProcessCode", "审批模板processCode不能为空")
        if code != self.s.config.process_code and not any(i.process_code == code for i in self.s.store.all()):
            self.s.count(V1_SCHEMA, "not_found")
            return v1_error(400, "processCodeError", "获取审批模板失败或者模板已被删除")
        self.s.count(V1_SCHEMA, "ok")
        return v1_ok({"result": form_schema(code), "success": True})

    # ================================================================ robot
    async def robot_send(self, request: Request) -> Response:
        """``POST /robot/send?access_token=&timestamp=&sign=`` (the group robot webhook)."""
        q = request.query_params
        body = await _json_body(request)
        answer = self.s.robots.send(
            q.get("access_token", ""), q.get("timestamp"), q.get("sign"), body, self.s.clock.now()
        )
        return JSONResponse(answer)

    # ================================================================ admin
    async def admin_info(self, request: Request) -> Response:
        s = self.s
        return JSONResponse(
            {
                "app_key": s.config.app_key,
                "corp_id": s.config.corp_id,
                "process_code": s.config.process_code,
                "instances": len(s.store),
                "anchor_ms": s.anchor_ms,
                "monthly_quota": s.monthly_quota,
                "qps": s.qps,
                "token_ttl_s": s.token_ttl_s,
                "robot_token": s.config.robot_token,
                "faults": s.faults_view(),
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        body = await _json_body(request) or {}
        self.s.reset(body.get("seed_instances"), body.get("random_seed"))
        return JSONResponse({"instances": len(self.s.store)})

    async def admin_list(self, request: Request) -> Response:
        status = request.query_params.get("status")
        items = [i.summary() for i in self.s.store.all() if status is None or i.status == status]
        return JSONResponse({"instances": items})

    async def admin_read(self, request: Request) -> Response:
        inst = self.s.find(request.path_params["instance_id"])
        if inst is None:
            return JSONResponse({"error": "no such instance"}, status_code=404)
        return JSONResponse(inst.admin_view())

    async def admin_create(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        try:
            inst, specs = self.s.create_instance(body)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        events = await self.s.emit(specs)
        return JSONResponse({**inst.admin_view(), "events": [e.view() for e in events]}, status_code=201)

    async def admin_transition(self, request: Request) -> Response:
        inst = self.s.find(request.path_params["instance_id"])
        if inst is None:
            return JSONResponse({"error": "no such instance"}, status_code=404)
        body = await _json_body(request) or {}
        at = int(body.get("at_ms") or self.s.clock.now_ms())
        remark = str(body.get("remark", ""))
        action = request.path_params["action"]
        try:
            if action == "approve":
                specs = lifecycle.approve(
                    self.s.store, inst, at, remark, all_steps=not body.get("one_step", False)
                )
            elif action == "refuse":
                specs = lifecycle.refuse(inst, at, remark)
            elif action in ("revoke", "terminate"):
                specs = lifecycle.revoke(inst, at)
            elif action == "cancel":
                specs = lifecycle.revoke(inst, at, status="CANCELED")
            else:
                return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        except lifecycle.TransitionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        events = await self.s.emit(specs)
        return JSONResponse({**inst.admin_view(), "events": [e.view() for e in events]})

    async def admin_faults(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            try:
                self.s.set_faults(body)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.s.faults_view())

    async def admin_calls(self, request: Request) -> Response:
        return JSONResponse(self.s.calls_view())

    async def admin_quota(self, request: Request) -> Response:
        body = await _json_body(request) or {}
        if "monthly_quota" in body:
            self.s.monthly_quota = int(body["monthly_quota"])
        if "used" in body:
            self.s.quota_used[self.s.month()] = int(body["used"])
        return JSONResponse(self.s.calls_view())

    async def admin_clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json_body(request) or {}
            self.s.clock.advance(float(body.get("advance_s", 0)))
        return JSONResponse({"now_ms": self.s.clock.now_ms(), "offset_s": self.s.clock.offset_s})

    async def admin_expire_tokens(self, request: Request) -> Response:
        return JSONResponse({"expired": self.s.expire_all_tokens()})

    async def admin_callback(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            try:
                answer = await self.s.register_callback(body)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(answer, status_code=200 if answer["registered"] else 422)
        if request.method == "DELETE":
            self.s.callback = None
        cb = self.s.callback
        return JSONResponse({"url": cb.url if cb else None, "owner_key": cb.owner_key if cb else None})

    async def admin_events(self, request: Request) -> Response:
        iid = request.query_params.get("instance_id")
        return JSONResponse(
            {
                "events": [
                    e.view() for e in self.s.events if iid is None or e.payload["processInstanceId"] == iid
                ]
            }
        )

    async def admin_redeliver(self, request: Request) -> Response:
        event = self.s.events_by_id.get(request.path_params["event_id"])
        if event is None:
            return JSONResponse({"error": "no such event"}, status_code=404)
        streaming = isinstance(self.s, StreamSandbox) and self.s.stream.subscribed
        if self.s.callback is None and not streaming:
            return JSONResponse({"error": "no callback or stream client registered"}, status_code=409)
        record = await self.s.deliver(event)
        return JSONResponse({"delivery": record, "event": event.view()})

    async def admin_add_robot(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body.get("access_token"):
            return JSONResponse({"error": "access_token is required"}, status_code=400)
        self.s.robots.add(str(body["access_token"]), body.get("secret"), body.get("keywords"))
        return JSONResponse({"access_token": body["access_token"]}, status_code=201)

    async def admin_robot_messages(self, request: Request) -> Response:
        token = request.query_params.get("access_token")
        msgs = [
            {"access_token": m.access_token, "at": m.at, "body": m.body}
            for m in self.s.robots.messages
            if token is None or m.access_token == token
        ]
        return JSONResponse({"messages": msgs})


def _is_api_path(path: str) -> bool:
    return path == "/gettoken" or path.startswith(("/topapi/", "/v1.0/"))


class TransportFaults:
    """Outermost ASGI layer: latency and dropped connections, which need the raw server ``send``.

    A drop aborts the socket before any byte of an answer is written. uvicorn does not hand the
    transport to apps, but its ``send`` is a bound method of the request cycle that owns it; when that
    is not available (another server), the fallback starts an answer and abandons it, which the
    server turns into a closed connection too.
    """

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox
        self.s = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.s.latency_ms:
            low, high = self.s.latency_ms
            await asyncio.sleep(self.s.fault_rng.uniform(low, high) / 1000)
        if self.s.roll("drop"):
            self.s.count(scope["path"].lstrip("/"), "dropped")
            await self._drop(receive, send)
            return
        await self.app(scope, receive, send)

    async def _drop(self, receive: Receive, send: Send) -> None:
        # read the request first: closing a socket with unread input sends a reset instead of a close
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
            # let the server see the connection_lost before the app returns, so it writes nothing
            for _ in range(3):
                await asyncio.sleep(0)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("sandbox fault: drop")


def create_app(config: SandboxConfig | None = None) -> TransportFaults:
    """The sandbox ASGI app; its ``sandbox`` attribute (the :class:`Sandbox`) is there for in-process use."""
    sandbox = StreamSandbox(config or SandboxConfig())
    return TransportFaults(DingTalkApp(sandbox).starlette, sandbox)
