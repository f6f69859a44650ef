"""Logging in: the AuthService logins and Logout, sessions by cookie or header, and signed-header calls."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ferry.sandbox.kingdee.auth import (
    Session,
    SignatureRejected,
    has_signed_headers,
    login_sign,
    verify_signed_headers,
)
from ferry.sandbox.kingdee.bills import OperationError
from ferry.sandbox.kingdee.envelopes import AUTH_OPS, decode_body, positional_args
from ferry.sandbox.kingdee.replies import Replies

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


class Logins(Replies):
    """Opens, finds and drops sessions; answers logins as a real server does."""

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

    def _login_args(self, op_key: str, body: bytes) -> dict[str, Any]:
        payload = decode_body(body)
        positional = positional_args(payload)
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
