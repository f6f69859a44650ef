"""Fixtures: the orders and documents servers of :mod:`rest_servers`, one per session, state reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_servers import DocsState, OrdersState, Running, docs_app, orders_app

from ferry.sandbox.serve import ServerThread

# one server per test session (starting uvicorn costs more than most tests); state is reset per test


@pytest.fixture(scope="session")
def _orders_running() -> Iterator[Running]:
    state = OrdersState()
    with ServerThread(orders_app(state)) as server:
        yield Running(server.url, state)


@pytest.fixture(scope="session")
def _docs_running() -> Iterator[Running]:
    state = DocsState()
    with ServerThread(docs_app(state)) as server:
        yield Running(server.url, state)


@pytest.fixture
def orders_server(_orders_running: Running) -> Running:
    state: OrdersState = _orders_running.state
    state.calls.clear()
    state.tokens_issued.clear()
    state.revoked.clear()
    return _orders_running


@pytest.fixture
def docs_server(_docs_running: Running) -> Running:
    state: DocsState = _docs_running.state
    state.docs.clear()
    state.faults.clear()
    state.calls = 0
    return _docs_running
