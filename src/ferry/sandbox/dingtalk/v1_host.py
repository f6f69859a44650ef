"""The v1.0 host (``api.dingtalk.com``): the OAuth2 token, instance ids and details, and form schemas."""

from __future__ import annotations

import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ferry.sandbox.dingtalk.gateway import MAX_PAGE, MAX_SPAN_MS, MAX_USERS, Gateway
from ferry.sandbox.dingtalk.payment import build_form, departments, people
from ferry.sandbox.dingtalk.store import render_v1
from ferry.sandbox.dingtalk.wire import is_int, json_body, v1_error, v1_ok

V1_LIST = "v1.0/workflow/processes/instanceIds/query"
V1_GET = "v1.0/workflow/processInstances"
V1_SCHEMA = "v1.0/workflow/forms/schemas/processCodes"


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


class V1Host(Gateway):
    """Real HTTP statuses, ``code``/``message``/``requestid`` bodies."""

    async def v1_token(self, request: Request) -> Response:
        """``POST /v1.0/oauth2/accessToken`` with ``{"appKey", "appSecret"}``."""
        s = self.s
        api = "v1.0/oauth2/accessToken"
        s.count(api, "requests")
        busy = self._busy(True)
        if busy is not None:
            s.count(api, "busy")
            return busy
        body = await json_body(request)
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
        body = await json_body(request)
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
        if start is None or not is_int(start):
            return v1_error(400, "invalidInstanceListIdsStartTime", "获取审批实例ID列表开始时间不能为空")
        if token is None or not is_int(token) or int(token) < 0:
            return v1_error(400, "invalidNextToken", "获取审批实例ID列表分页查询的游标不能为空")
        if size is None or not is_int(size) or not 1 <= int(size) <= MAX_PAGE:
            return v1_error(400, "invalidMaxResults", "获取审批实例ID列表每页大小，最多传20。")
        if end is not None and (
            not is_int(end) or int(end) < int(start) or int(end) - int(start) > MAX_SPAN_MS
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
