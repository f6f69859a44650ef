"""Fixtures for the Kingdee client tests: the real client against the sandbox over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kd_client_support import ACCT, APP_ID, APP_SECRET, USER, ClientFactory, Server, make_auth
from kd_target_support import TargetFactory

from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient
from ferry.connectors.kingdee.factory import build_target
from ferry.connectors.kingdee.target import KingdeeTarget
from ferry.connectors.settings import connections_from_dict
from ferry.engine.registry import BuildContext
from ferry.observe.calls import MemoryCallRecorder
from ferry.sandbox.kingdee import KingdeeSandbox, SandboxConfig
from ferry.sandbox.serve import ServerThread
from ferry.scheme import TargetSpec


@pytest.fixture(scope="session")
def kd_client_server() -> Iterator[tuple[KingdeeSandbox, str]]:
    """One sandbox per session (uvicorn start/stop is the slow part); each test gets it reset."""
    sandbox = KingdeeSandbox(SandboxConfig(random_seed=11))
    with ServerThread(sandbox) as thread:
        yield sandbox, thread.url


@pytest.fixture
def server(kd_client_server: tuple[KingdeeSandbox, str]) -> Iterator[Server]:
    sandbox, url = kd_client_server
    sandbox.reset()
    srv = Server(url)
    try:
        yield srv
    finally:
        srv.http.close()


@pytest.fixture
def recorder() -> MemoryCallRecorder:
    return MemoryCallRecorder()


@pytest.fixture
async def make_client(server: Server, recorder: MemoryCallRecorder) -> AsyncIterator[ClientFactory]:
    clients: list[KingdeeClient] = []

    def factory(
        mode: AuthMode | str = AuthMode.SIGN, *, auth: KingdeeAuth | None = None, **kwargs: Any
    ) -> KingdeeClient:
        kwargs.setdefault("recorder", recorder)
        kwargs.setdefault("connection", "kingdee_test")
        client = KingdeeClient(server.base_url, auth or make_auth(mode), **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: ClientFactory) -> KingdeeClient:
    return make_client(AuthMode.SIGN)


@pytest.fixture
async def make_target(server: Server, recorder: MemoryCallRecorder) -> AsyncIterator[TargetFactory]:
    """Targets built the engine's way: connection settings with a ${ENV} secret, a TargetSpec, the factory."""
    built: list[KingdeeTarget] = []
    conns = connections_from_dict(
        {
            "kd": {
                "type": "kingdee",
                "base_url": server.base_url,
                "auth_mode": "signed_headers",
                "acct_id": ACCT,
                "username": USER,
                "app_id": APP_ID,
                "app_secret": "${KD_APP_SECRET}",
                "concurrency": 4,
            }
        },
        env={"KD_APP_SECRET": APP_SECRET},
    )

    def factory(**side: Any) -> KingdeeTarget:
        side.setdefault("api", "Push")
        side.setdefault("connection", "kd")
        params = side.setdefault("params", {})
        params.setdefault("follow_up_retry_delay", 0.01)
        target = build_target(conns["kd"], TargetSpec.model_validate(side), BuildContext(recorder, "test"))
        built.append(target)
        return target

    yield factory
    for target in built:
        await target.aclose()
