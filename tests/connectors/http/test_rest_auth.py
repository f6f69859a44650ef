"""Every auth mode is checked by a real server; secrets never reach errors, reprs or logs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from rest_servers import (
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    HEADER_KEY,
    QUERY_KEY,
    Running,
)

from ferry.connectors.base import Window
from ferry.connectors.errors import AccessDenied, GiveUp, Reauthenticate
from ferry.connectors.http import build_client, build_source
from ferry.connectors.settings import ConnectionSettingsError, connections_from_dict
from ferry.observe import redact
from ferry.observe.calls import MemoryCallRecorder

WINDOW = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))

GOOD: dict[str, tuple[str, dict[str, Any]]] = {
    "bearer": ("/secure/bearer", {"type": "bearer", "token": BEARER_TOKEN}),
    "basic": ("/secure/basic", {"type": "basic", "username": BASIC_USER, "password": BASIC_PASSWORD}),
    "header": ("/secure/header", {"type": "header", "name": "X-API-Key", "key": HEADER_KEY}),
    "query": ("/secure/query", {"type": "query", "name": "api_key", "key": QUERY_KEY}),
}
WRONG: dict[str, dict[str, Any]] = {
    "bearer": {"type": "bearer", "token": "wrong-token-0000"},
    "basic": {"type": "basic", "username": BASIC_USER, "password": "wrong-password-0000"},
    "header": {"type": "header", "name": "X-API-Key", "key": "wrong-key-0000"},
    "query": {"type": "query", "name": "api_key", "key": "wrong-key-0000"},
}


@pytest.mark.parametrize("mode", sorted(GOOD))
async def test_the_right_credential_passes_the_server_check(orders_server: Running, mode: str) -> None:
    path, auth = GOOD[mode]
    async with build_client({"base_url": orders_server.url, "auth": auth}) as client:
        data = await client.request("GET", path)
    assert data == {"items": [{"id": "secret-ok"}]}


@pytest.mark.parametrize("mode", sorted(WRONG))
async def test_a_wrong_credential_is_access_denied(orders_server: Running, mode: str) -> None:
    # the connection is refused as a whole: the engine stops the pass, no record goes dead
    path, _ = GOOD[mode]
    async with build_client({"base_url": orders_server.url, "auth": WRONG[mode]}) as client:
        with pytest.raises(AccessDenied, match="credentials rejected"):
            await client.request("GET", path)


async def test_no_auth_is_rejected_by_a_secured_api(orders_server: Running) -> None:
    async with build_client({"base_url": orders_server.url, "auth": {"type": "none"}}) as client:
        with pytest.raises(AccessDenied):
            await client.request("GET", "/secure/header")


async def test_a_fetched_bearer_token_is_renewed_after_401(orders_server: Running) -> None:
    recorder = MemoryCallRecorder()
    auth = {
        "type": "bearer",
        "token_url": "/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    async with build_client({"base_url": orders_server.url, "auth": auth}, recorder) as client:
        assert await client.request("GET", "/secure/oauth")
        assert await client.request("GET", "/secure/oauth")
        assert orders_server.state.tokens_issued == ["oauth-token-0001"]
        orders_server.state.revoked.add("oauth-token-0001")
        # a token that can be renewed: re-authenticate, and the next call fetches a fresh one
        with pytest.raises(Reauthenticate, match="token expired"):
            await client.request("GET", "/secure/oauth")
        assert await client.request("GET", "/secure/oauth")
    assert orders_server.state.tokens_issued == ["oauth-token-0001", "oauth-token-0002"]
    assert [c.api for c in recorder.calls].count("token") == 2
    assert [c.status for c in recorder.calls if c.api != "token"] == ["ok", "ok", "reauthenticate", "ok"]


async def test_a_wrong_client_secret_is_access_denied(orders_server: Running) -> None:
    auth = {
        "type": "bearer",
        "token_url": "/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": "nope-nope",
    }
    async with build_client({"base_url": orders_server.url, "auth": auth}) as client:
        with pytest.raises(AccessDenied, match="invalid_client"):
            await client.request("GET", "/secure/oauth")


def test_unknown_or_incomplete_auth_settings_fail_clearly() -> None:
    with pytest.raises(ConnectionSettingsError, match="unknown auth type 'digest'"):
        build_client({"base_url": "http://x", "auth": {"type": "digest"}}, connection_name="c1")
    with pytest.raises(ConnectionSettingsError, match="connection 'c1': auth type 'basic' needs 'password'"):
        build_client(
            {"base_url": "http://x", "auth": {"type": "basic", "username": "u"}}, connection_name="c1"
        )
    with pytest.raises(ConnectionSettingsError, match="needs a base_url"):
        build_client({"auth": {"type": "none"}})


async def test_a_query_key_echoed_in_an_error_never_reaches_the_message_or_the_logs(
    orders_server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ferry")
    conns = connections_from_dict(
        {
            "orders": {
                "type": "http",
                "base_url": orders_server.url,
                "auth": {"type": "query", "name": "api_key", "key": "${ORDERS_QUERY_KEY}"},
            }
        },
        env={"ORDERS_QUERY_KEY": QUERY_KEY},
    )
    client = build_client(conns["orders"])
    with pytest.raises(GiveUp) as info:
        await client.request("GET", "/secure/query-error")
    assert await client.request("GET", "/secure/query")  # debug log of a good call, URL included
    await client.aclose()
    error = info.value
    # the server echoed the full URL, key included: masked in the message, the str and the repr
    assert "api_key=***" in error.message
    for text in (error.message, str(error), repr(error), repr(client), repr(conns["orders"]), caplog.text):
        assert QUERY_KEY not in text
    assert "api_key=***" in caplog.text


@pytest.fixture
def redacted_logs() -> Iterator[None]:
    redact.install()
    yield
    redact.uninstall()


async def test_header_and_basic_secrets_are_masked_in_reprs_and_logs(
    orders_server: Running, caplog: pytest.LogCaptureFixture, redacted_logs: None
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"ORDERS_PASSWORD": BASIC_PASSWORD, "ORDERS_HEADER_KEY": HEADER_KEY}
    conns = connections_from_dict(
        {
            "basic": {
                "type": "http",
                "base_url": orders_server.url,
                "auth": {"type": "basic", "username": BASIC_USER, "password": "${ORDERS_PASSWORD}"},
            },
            "header": {
                "type": "http",
                "base_url": orders_server.url,
                "auth": {"type": "header", "name": "X-API-Key", "key": "${ORDERS_HEADER_KEY}"},
            },
        },
        env=env,
    )
    source = build_source(conns["header"], {"api": "/secure/header", "records_path": "items"})
    pages = [p async for p in source.pages(WINDOW, lambda v: {})]
    assert pages[0].records == [{"id": "secret-ok"}]
    # what the server saw, logged by careless code elsewhere: the installed filter masks it
    seen = orders_server.state.calls[-1]["headers"]
    assert seen["x-api-key"] == HEADER_KEY
    logging.getLogger("ferry.test").warning("headers sent: %s", seen)
    await source.aclose()
    basic = build_client(conns["basic"])
    await basic.request("GET", "/secure/basic")
    await basic.aclose()
    logging.getLogger("ferry.test").warning("auth header: %s", orders_server.state.calls[-1]["headers"])
    assert "headers sent: {" in caplog.text and "'x-api-key': '***'" in caplog.text
    assert "'authorization': 'Basic ***'" in caplog.text
    texts = [repr(conns["basic"]), repr(conns["header"]), repr(source), repr(basic), caplog.text]
    for text in texts:
        assert BASIC_PASSWORD not in text
        assert HEADER_KEY not in text
