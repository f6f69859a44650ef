"""Fixtures for the Kingdee client tests: the real client against the sandbox over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kd_client_support import ClientFactory, Server, make_auth

from ferry.connectors.kingdee import AuthMode, KingdeeAuth, KingdeeClient
from ferry.observe.calls import MemoryCallRecorder
from ferry.sandbox.kingdee import KingdeeSandbox, SandboxConfig
from ferry.sandbox.serve import ServerThread


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
