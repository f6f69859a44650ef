"""The legacy host (``oapi.dingtalk.com``): ``/gettoken`` and the ``/topapi/processinstance/...`` APIs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ferry.sandbox.dingtalk.gateway import MAX_PAGE, MAX_USERS, Gateway
from ferry.sandbox.dingtalk.store import render_legacy
from ferry.sandbox.dingtalk.wire import is_int, json_body, legacy, legacy_error, legacy_wrapped

LEGACY_LIST = "topapi/processinstance/listids"
LEGACY_GET = "topapi/processinstance/get"


class LegacyHost(Gateway):
    """Always HTTP 200, ``errcode`` bodies."""

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
        body = await json_body(request)
        if not isinstance(body, dict):
            return legacy_error(40035, "不合法的参数:请求体不是合法的JSON")
        code, start, end = body.get("process_code"), body.get("start_time"), body.get("end_time")
        size, cursor, users = body.get("size", 10), body.get("cursor", 0), body.get("userid_list")
        if not code:
            return legacy_error(40035, "不合法的参数:process_code不能为空")
        if start is None or not is_int(start):
            return legacy_error(40035, "不合法的参数:start_time不能为空")
        if end is not None and not is_int(end):
            return legacy_error(40035, "不合法的参数:end_time不合法")
        if not is_int(size) or not 1 <= int(size) <= MAX_PAGE:
            return legacy_error(40035, f"不合法的参数:size最大值为{MAX_PAGE}")
        if not is_int(cursor) or int(cursor) < 0:
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
        body = await json_body(request)
        iid = body.get("process_instance_id") if isinstance(body, dict) else None
        if not iid:
            return legacy_error(40035, "不合法的参数:process_instance_id不能为空")
        inst = self.s.find(str(iid))
        if inst is None:
            self.s.count(LEGACY_GET, "not_found")
            return legacy_wrapped("aflowProcessInstNotExist", "审批实例不存在")
        self.s.count(LEGACY_GET, "ok")
        return legacy({"errcode": 0, "errmsg": "ok", "process_instance": render_legacy(inst)})
