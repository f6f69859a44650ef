"""The checks in front of every metered API (faults, token, QPS, monthly quota) and the listing rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ferry.sandbox.dingtalk.config import BEIJING
from ferry.sandbox.dingtalk.state import Sandbox
from ferry.sandbox.dingtalk.wire import legacy_error, legacy_wrapped, v1_error

DAY_MS = 86_400_000
MAX_SPAN_MS = 120 * DAY_MS
MAX_AGE_MS = 365 * DAY_MS
MAX_PAGE = 20
MAX_USERS = 10
#: the real list API stops paging after 10 000 IDs per loop (reference §2)
MAX_IDS_PER_LOOP = 10_000

_SYSTEM_DISABLED_APP = "您的企业应用调用钉钉开放平台当前接口的所有请求都被暂时禁用了"
_SYSTEM_DISABLED_SERVER = "您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了"
_BAD_GATEWAY = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"

Handler = Callable[[Request, str], Awaitable[Response]]


def _quota_text(used: int, quota: int) -> str:
    return f"您的企业本月api调用量已超过限制,调用量:{used}次,额度:{quota}次,请登录开发者后台-资源管理-查看用量明细"


class Gateway:
    """What both hosts share in front of their handlers; the host mixins build on it."""

    s: Sandbox

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
