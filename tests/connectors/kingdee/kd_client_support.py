"""Helpers for the Kingdee client tests: credentials, an admin caller for the sandbox."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx

from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient

ACCT, USER, PASSWORD = "65a0b1c2d3e4f5", "demo", "sandbox-password"
APP_ID, APP_SECRET = "224466_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "0123456789abcdef0123456789abcdef"

#: one verified SSL context for all helper clients: building one per client loads the CA bundle each time
_SSL = ssl.create_default_context()


class Server:
    """A running sandbox plus a synchronous admin caller (the admin API is HTTP too)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = url + "/k3cloud/"
        self.http = httpx.Client(timeout=10, verify=_SSL)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, self.url + "/_sandbox/" + path, **kwargs)
        assert r.status_code == 200, r.text
        return r.json()

    def seed(self, *bills: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.admin("POST", "bills", json={"bills": list(bills)})["bills"])

    def fault(
        self, name: str, ops: list[str] | None = None, count: int | None = 1, rate: float = 1.0
    ) -> None:
        self.admin("PUT", "faults", json={"faults": {name: {"rate": rate, "ops": ops, "count": count}}})


def make_auth(mode: AuthMode | str = AuthMode.SIGN, **overrides: Any) -> KingdeeAuth:
    values: dict[str, Any] = {
        "acct_id": ACCT,
        "username": USER,
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "password": PASSWORD,
    }
    values.update(overrides)
    return KingdeeAuth.create(mode, **values)


ClientFactory = Callable[..., KingdeeClient]
