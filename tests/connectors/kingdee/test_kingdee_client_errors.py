"""Faults and failures mapped to typed errors; adaptive slow-down; every call recorded."""

from __future__ import annotations

import pytest
from kd_client_support import ClientFactory, Server, make_auth

from ferry.connectors.errors import GiveUp, OutcomeUnknown, RetryLater, SlowDown
from ferry.connectors.kingdee import AuthMode, KingdeeClient
from ferry.observe.calls import MemoryCallRecorder
from ferry.ratelimit.concurrency import AdaptiveConcurrency
from ferry.sandbox.serve import free_port

PUSH_ARGS = {"target_form_id": "AP_PAYBILL"}


@pytest.mark.parametrize(
    ("fault", "error", "code"), [("conflict", SlowDown, "MsgCode=13"), ("limit", SlowDown, "MsgCode=14")]
)
async def test_conflict_and_limit_slow_down(
    make_client: ClientFactory,
    server: Server,
    recorder: MemoryCallRecorder,
    fault: str,
    error: type,
    code: str,
) -> None:
    server.seed({"number": "FKSQ000001", "amount": 1})
    limiter = AdaptiveConcurrency(4)
    client = make_client(AuthMode.SIGNED_HEADERS, concurrency=limiter)
    server.fault(fault, ["push"])
    with pytest.raises(error) as err:
        await client.push("CN_PAYAPPLY", ["FKSQ000001"], **PUSH_ARGS)
    assert err.value.code == code and limiter.limit == 2
    call = recorder.calls[-1]
    assert (call.api, call.status, call.error_code, call.http_status) == ("Push", "slow_down", code, 200)
    assert (await client.push("CN_PAYAPPLY", ["FKSQ000001"], **PUSH_ARGS)).all_created


async def test_http_5xx_and_response_error_retry_later(
    client: KingdeeClient, server: Server, recorder: MemoryCallRecorder
) -> None:
    server.fault("error5xx", ["save"])
    with pytest.raises(RetryLater) as err:
        await client.save("CN_PAYAPPLY", {"FPAYAPPLYENTRY": [{"FAPPLYAMOUNTFOR": 1}]})
    assert err.value.code == "HTTP 500" and not isinstance(err.value, OutcomeUnknown)
    assert client.limiter.limit == 2 and recorder.calls[-1].http_status == 500
    server.fault("response_error")
    with pytest.raises(RetryLater, match="server exception"):
        await client.execute_bill_query("CN_PAYAPPLY", "FBillNo")
    assert recorder.calls[-1].error_code == "response_error"


async def test_drop_after_commit_on_a_write_is_outcome_unknown(
    client: KingdeeClient, server: Server, recorder: MemoryCallRecorder
) -> None:
    server.seed({"number": "FKSQ000001", "amount": 1})
    server.fault("drop_after_commit", ["push"])
    with pytest.raises(OutcomeUnknown):
        await client.push("CN_PAYAPPLY", ["FKSQ000001"], **PUSH_ARGS)
    assert recorder.calls[-1].status == "reconcile" and recorder.calls[-1].error_code == "RemoteProtocolError"


async def test_timeouts_unknown_for_writes_retryable_for_reads(
    make_client: ClientFactory, server: Server
) -> None:
    client = make_client(AuthMode.SIGNED_HEADERS, timeout=0.2)
    await client.execute_bill_query("CN_PAYAPPLY", "FBillNo")  # session open before the latency starts
    server.admin("PUT", "faults", json={"latency_ms": "400-400"})
    # the deadline covers the whole call: it names the phase it struck in
    with pytest.raises(OutcomeUnknown, match=r"timed out after 0\.2 s while waiting for the answer"):
        await client.save("CN_PAYAPPLY", {"FPAYAPPLYENTRY": [{"FAPPLYAMOUNTFOR": 1}]})
    with pytest.raises(RetryLater) as err:
        await client.execute_bill_query("CN_PAYAPPLY", "FBillNo")
    assert not isinstance(err.value, OutcomeUnknown) and err.value.code == "Timeout"


async def test_connection_refused_is_retry_later(recorder: MemoryCallRecorder) -> None:
    client = KingdeeClient(
        f"http://127.0.0.1:{free_port()}/k3cloud", make_auth(AuthMode.SIGNED_HEADERS), recorder=recorder
    )
    try:
        with pytest.raises(RetryLater) as err:
            await client.push("CN_PAYAPPLY", ["FKSQ000001"], **PUSH_ARGS)
        assert err.value.code == "ConnectError" and not isinstance(err.value, OutcomeUnknown)
    finally:
        await client.aclose()


async def test_not_found_and_bad_form_give_up(client: KingdeeClient) -> None:
    with pytest.raises(GiveUp) as err:
        await client.save("NO_SUCH_FORM", {"FX": 1})
    assert err.value.code == "MsgCode=4"
    with pytest.raises(GiveUp) as err:
        await client.view("CN_PAYAPPLY", number="FKSQ404")
    assert err.value.code == "MsgCode=10"


async def test_http_404_gives_up(make_client: ClientFactory, server: Server) -> None:
    client = KingdeeClient(server.url + "/not-k3cloud/", make_auth(AuthMode.SIGNED_HEADERS))
    try:
        with pytest.raises(GiveUp) as err:
            await client.execute_bill_query("CN_PAYAPPLY", "FBillNo")
        assert err.value.code == "HTTP 404"
    finally:
        await client.aclose()
