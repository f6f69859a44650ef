"""RestClient maps every kind of failure to the typed error that says what to do, and reports each call."""

from __future__ import annotations

import pytest
from rest_servers import Running

from ferry.connectors.errors import (
    AccessDenied,
    ConnectorError,
    GiveUp,
    OutcomeUnknown,
    Reauthenticate,
    RetryLater,
    SlowDown,
)
from ferry.connectors.http import RestClient
from ferry.observe.calls import MemoryCallRecorder
from ferry.sandbox.serve import free_port


def client_for(
    server: Running, recorder: MemoryCallRecorder | None = None, timeout: float = 5.0
) -> RestClient:
    return RestClient(server.url, recorder=recorder, connection_name="orders", timeout=timeout)


async def test_a_good_answer_is_parsed_json_and_recorded(orders_server: Running) -> None:
    recorder = MemoryCallRecorder()
    async with client_for(orders_server, recorder) as client:
        data = await client.request("GET", "/orders/offset", params={"limit": 2}, api_name="list orders")
    assert [o["id"] for o in data["items"]] == ["O-001", "O-002"]
    (call,) = recorder.calls
    assert (call.connection, call.api, call.status, call.http_status) == ("orders", "list orders", "ok", 200)
    assert call.latency_ms > 0


async def test_an_empty_answer_is_none(orders_server: Running) -> None:
    async with client_for(orders_server) as client:
        assert await client.request("GET", "/empty") is None


async def test_connect_refused_is_retry_later() -> None:
    recorder = MemoryCallRecorder()
    async with RestClient(f"http://127.0.0.1:{free_port()}", recorder=recorder) as client:
        with pytest.raises(RetryLater, match="could not connect") as info:
            await client.request("POST", "/docs", json={"a": 1})
    # nothing was sent, so even a POST is safe to retry
    assert type(info.value) is RetryLater
    assert recorder.calls[0].status == "retry"
    assert recorder.calls[0].api == "POST /docs"


@pytest.mark.parametrize(("method", "error"), [("POST", OutcomeUnknown), ("PATCH", OutcomeUnknown)])
async def test_a_read_timeout_on_a_non_idempotent_call_is_outcome_unknown(
    orders_server: Running, method: str, error: type[ConnectorError]
) -> None:
    async with client_for(orders_server, timeout=0.2) as client:
        with pytest.raises(error, match="may have been applied"):
            await client.request(method, "/slow", json={})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_a_read_timeout_on_an_idempotent_call_is_retry_later(
    orders_server: Running, method: str
) -> None:
    async with client_for(orders_server, timeout=0.2) as client:
        with pytest.raises(RetryLater) as info:
            await client.request(method, "/slow")
    assert type(info.value) is RetryLater


async def test_a_connection_dropped_mid_answer_is_outcome_unknown_for_post(orders_server: Running) -> None:
    recorder = MemoryCallRecorder()
    async with client_for(orders_server, recorder) as client:
        with pytest.raises(OutcomeUnknown):
            await client.request("POST", "/truncated", json={})
        with pytest.raises(RetryLater):
            await client.request("GET", "/truncated")
    assert [c.status for c in recorder.calls] == ["reconcile", "retry"]


async def test_429_is_slow_down_with_retry_after(orders_server: Running) -> None:
    recorder = MemoryCallRecorder()
    async with client_for(orders_server, recorder) as client:
        with pytest.raises(SlowDown) as info:
            await client.request("GET", "/status/429")
    assert info.value.retry_after == 7.0
    assert info.value.code == "E429"
    assert info.value.request_id == "req-123"
    call = recorder.calls[0]
    assert (call.status, call.http_status, call.error_code, call.request_id) == (
        "slow_down",
        429,
        "E429",
        "req-123",
    )


@pytest.mark.parametrize("code", [500, 502, 503, 408])
async def test_5xx_and_408_are_retry_later(orders_server: Running, code: int) -> None:
    async with client_for(orders_server) as client:
        with pytest.raises(RetryLater, match=f"failure {code}") as info:
            await client.request("POST", f"/status/{code}", json={})
    assert type(info.value) is RetryLater


async def test_504_on_post_is_outcome_unknown_but_retry_later_on_get(orders_server: Running) -> None:
    async with client_for(orders_server) as client:
        with pytest.raises(OutcomeUnknown):
            await client.request("POST", "/status/504", json={})
        with pytest.raises(RetryLater):
            await client.request("GET", "/status/504")


@pytest.mark.parametrize("code", [400, 404, 409, 422])
async def test_other_4xx_is_give_up_with_the_body_message(orders_server: Running, code: int) -> None:
    async with client_for(orders_server) as client:
        with pytest.raises(GiveUp, match=f"HTTP {code}: failure {code}") as info:
            await client.request("POST", f"/status/{code}", json={})
    assert info.value.code == f"E{code}"


async def test_a_long_error_body_is_truncated(orders_server: Running) -> None:
    async with client_for(orders_server) as client:
        with pytest.raises(GiveUp) as info:
            await client.request("GET", "/long-error")
    assert len(info.value.message) < 400
    assert info.value.message.endswith("...")


async def test_401_without_a_way_to_renew_is_access_denied(orders_server: Running) -> None:
    async with client_for(orders_server) as client:
        with pytest.raises(AccessDenied, match="credentials rejected"):
            await client.request("GET", "/secure/bearer")


async def test_a_200_that_is_not_json_is_give_up_malformed(orders_server: Running) -> None:
    async with client_for(orders_server) as client:
        with pytest.raises(GiveUp, match=r"malformed response: .*<html>oops"):
            await client.request("GET", "/malformed")


async def test_concurrency_is_bounded_per_client(orders_server: Running) -> None:
    import asyncio
    import time

    async with RestClient(orders_server.url, max_concurrency=2, timeout=5) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client.request("GET", "/slow", params={"seconds": 0.3}) for _ in range(4)))
        elapsed = time.perf_counter() - started
    # four 0.3 s calls, two at a time: about 0.6 s (all at once would be 0.3 s, one by one 1.2 s)
    assert 0.55 < elapsed < 1.15


def test_reauthenticate_is_a_distinct_action() -> None:
    assert Reauthenticate("x").action == "reauthenticate"
