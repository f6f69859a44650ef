"""Fixtures for the Kingdee sandbox tests: a fresh sandbox on a loopback port per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kd_sandbox_support import Caller

from ferry.sandbox.kingdee import KingdeeSandbox, SandboxConfig
from ferry.sandbox.serve import ServerThread


@pytest.fixture(scope="session")
def kd_server() -> Iterator[tuple[KingdeeSandbox, str]]:
    """One sandbox for the whole session (starting and stopping uvicorn costs ~0.2 s); reset per test."""
    sandbox = KingdeeSandbox(SandboxConfig(random_seed=7))
    with ServerThread(sandbox) as server:
        yield sandbox, server.url


@pytest.fixture
def kd(kd_server: tuple[KingdeeSandbox, str]) -> Iterator[Caller]:
    sandbox, url = kd_server
    sandbox.reset()
    caller = Caller(url, sandbox)
    try:
        yield caller
    finally:
        caller.http.close()


@pytest.fixture
def logged_in(kd: Caller) -> Caller:
    kd.login()
    return kd
