"""Fixtures for every connector test: two hostile loopback servers (a second origin for redirect tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostile import Hostile, HostileApp, HostileState

from ferry.sandbox.serve import ServerThread


@pytest.fixture(scope="session")
def _hostile_servers() -> Iterator[tuple[Hostile, Hostile]]:
    a, b = HostileState(), HostileState()
    with ServerThread(HostileApp(a)) as one, ServerThread(HostileApp(b)) as two:
        yield Hostile(one.url, a), Hostile(two.url, b)


@pytest.fixture
def hostile(_hostile_servers: tuple[Hostile, Hostile]) -> Hostile:
    """A server that answers what the test plans (``hostile.state.on(path, Reply(...))``)."""
    server = _hostile_servers[0]
    server.state.reset()
    return server


@pytest.fixture
def elsewhere(_hostile_servers: tuple[Hostile, Hostile]) -> Hostile:
    """A second server: another origin (another port)."""
    server = _hostile_servers[1]
    server.state.reset()
    return server
