"""Fixtures shared across the suite: a DingTalk sandbox on a loopback port, configured per test
(used by the DingTalk sandbox and client tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ferry.sandbox.dingtalk import Sandbox, SandboxConfig, create_app
from ferry.sandbox.serve import ServerThread


@dataclass
class RunningSandbox:
    url: str
    config: SandboxConfig
    state: Sandbox
    http: httpx.Client

    def legacy_token(self) -> str:
        body = self.http.get(
            "/gettoken", params={"appkey": self.config.app_key, "appsecret": self.config.app_secret}
        ).json()
        return str(body["access_token"])

    def v1_token(self) -> str:
        body = self.http.post(
            "/v1.0/oauth2/accessToken",
            json={"appKey": self.config.app_key, "appSecret": self.config.app_secret},
        ).json()
        return str(body["accessToken"])


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    servers: list[tuple[ServerThread, httpx.Client]] = []

    def start(**overrides: Any) -> RunningSandbox:
        config = SandboxConfig(**{"seed_instances": 30, **overrides})
        app = create_app(config)
        server = ServerThread(app).start()
        http = httpx.Client(base_url=server.url, timeout=10)
        servers.append((server, http))
        return RunningSandbox(server.url, config, app.sandbox, http)

    yield start
    for server, http in servers:
        http.close()
        # stopping waits for uvicorn's next tick; do it in the background so the next test need not wait
        threading.Thread(target=server.stop, daemon=True).start()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start_sandbox()
