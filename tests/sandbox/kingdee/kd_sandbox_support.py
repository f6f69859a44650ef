"""Helpers for the Kingdee sandbox tests: a raw HTTP caller (no Ferry client code) and constants."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx

from ferry.sandbox.kingdee import KingdeeSandbox

DYNAMIC = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService"
AUTH = "Kingdee.BOS.WebApi.ServicesStub.AuthService"
ACCT, USER, PASSWORD = "65a0b1c2d3e4f5", "demo", "sandbox-password"
APP_ID, APP_SECRET = "224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "0123456789abcdef0123456789abcdef"

#: one verified SSL context for all helper clients: building one per client loads the CA bundle each time
_SSL = ssl.create_default_context()


class Caller:
    """Raw HTTP access to one sandbox: no Ferry client code involved."""

    def __init__(self, url: str, sandbox: KingdeeSandbox) -> None:
        self.url = url
        self.base = url + "/k3cloud/"
        self.sandbox = sandbox
        self.http = httpx.Client(timeout=10, verify=_SSL)
        self.sid: str | None = None

    def post(self, service: str, op: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            f"{self.base}{service}.{op}.common.kdsvc",
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def login(self) -> str:
        r = self.post(AUTH, "ValidateUser", [ACCT, USER, PASSWORD, 2052])
        assert r.json()["LoginResultType"] == 1
        self.sid = r.json()["KDSVCSessionId"]
        return self.sid

    def call(self, op: str, body: Any) -> Any:
        """A business call carrying the session header; returns the parsed JSON."""
        headers = {"kdservice-sessionid": self.sid} if self.sid else {}
        r = self.post(DYNAMIC, op, body, headers)
        assert r.status_code == 200, r.text
        return r.json()

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, self.url + "/_sandbox/" + path, **kwargs)
        assert r.status_code == 200, r.text
        return r.json()


def status_of(payload: Any) -> dict[str, Any]:
    """The ResponseStatus of a reply (unwrapping ExecuteBillQuery's [[...]])."""
    while isinstance(payload, list):
        payload = payload[0]
    return payload["Result"]["ResponseStatus"]
