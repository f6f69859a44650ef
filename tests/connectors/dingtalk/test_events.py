"""Event intake: the HTTP callback endpoint against the sandbox's real pushes, and the shared intake."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dingtalk_approvals import create_running

from ferry.connectors.dingtalk.crypto import CallbackCrypto
from ferry.connectors.dingtalk.events import EventIntake, SeenEvents, parse_instance_change
from ferry.console.dingtalk_callback import CALLBACK_PATH, make_callback_app, schemes_for
from ferry.sandbox.serve import ServerThread
from ferry.scheme import Scheme

TOKEN = "ferrytoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
# the official test vector (reference §6.2)
VECTOR = {
    "token": "123456",
    "aes_key": "1234567890123456789012345678901234567890123",
    "owner_key": "dingsnotzck6pm5veliw",
    "signature": "9a95a004dd16f5c307e849b994173f76aa26e5eb",
    "timestamp": "1614767836",
    "nonce": "A7Co0cJLMzIDtMMI",
    "encrypt": "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==",
}


class Calls:
    """What the handler was called with; the server runs on another thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, process_code: str, instance_id: str) -> None:
        self.calls.append((process_code, instance_id))

    def wait_for(self, n: int, timeout: float = 5.0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.calls


@pytest.fixture
def callback(sandbox: Any) -> Iterator[tuple[Any, Calls]]:
    calls = Calls()
    app = make_callback_app(TOKEN, AES_KEY, sandbox.config.app_key, calls)
    with ServerThread(app) as server:
        answer = sandbox.http.put(
            "/_sandbox/callback", json={"url": server.url + CALLBACK_PATH, "token": TOKEN, "aes_key": AES_KEY}
        )
        assert answer.status_code == 200, answer.text
        # registering sent check_url, and the sandbox verified our encrypted success
        assert answer.json()["registered"] is True and answer.json()["check_url"]["ok"] is True
        yield sandbox, calls


def events_of(sb: Any, instance_id: str) -> list[dict[str, Any]]:
    return list(sb.http.get("/_sandbox/events", params={"instance_id": instance_id}).json()["events"])


def test_a_finish_event_calls_the_handler_once_even_when_delivered_twice(callback: tuple[Any, Calls]) -> None:
    sb, calls = callback
    iid = create_running(sb)
    answer = sb.http.post(f"/_sandbox/instances/{iid}/approve", json={}).json()
    assert all(d["ok"] for e in answer["events"] for d in e["deliveries"])  # every push answered success
    assert calls.wait_for(1) == [(sb.config.process_code, iid)]

    finish = next(
        e
        for e in events_of(sb, iid)
        if e["event_type"] == "bpms_instance_change" and e["payload"]["type"] == "finish"
    )
    again = sb.http.post(f"/_sandbox/events/{finish['event_id']}/deliver").json()
    assert again["delivery"]["ok"] is True  # a duplicate is still acknowledged ...
    time.sleep(0.2)
    assert calls.calls == [(sb.config.process_code, iid)]  # ... but not acted on


def test_start_and_task_events_are_acknowledged_and_ignored(callback: tuple[Any, Calls]) -> None:
    sb, calls = callback
    iid = create_running(sb)
    events = events_of(sb, iid)
    assert events and all(d["ok"] for e in events for d in e["deliveries"])
    time.sleep(0.2)
    assert calls.calls == []


@pytest.mark.parametrize("action", ["refuse", "revoke"])
def test_refused_and_revoked_instances_are_fetched_too(callback: tuple[Any, Calls], action: str) -> None:
    sb, calls = callback
    iid = create_running(sb)
    sb.http.post(f"/_sandbox/instances/{iid}/{action}", json={}).raise_for_status()
    assert calls.wait_for(1) == [(sb.config.process_code, iid)]


def test_registration_fails_with_the_wrong_token(sandbox: Any) -> None:
    calls = Calls()
    with ServerThread(make_callback_app("othertoken", AES_KEY, sandbox.config.app_key, calls)) as server:
        answer = sandbox.http.put(
            "/_sandbox/callback", json={"url": server.url + CALLBACK_PATH, "token": TOKEN, "aes_key": AES_KEY}
        )
    assert answer.status_code == 422
    assert answer.json()["check_url"]["http_status"] == 403


# ---------------------------------------------------------------------------------- in process


async def post(app: Any, params: dict[str, str], body: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ferry") as http:
        return await http.post(CALLBACK_PATH, params=params, json=body)


def signed(crypto: CallbackCrypto, message: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    encrypt = crypto.encrypt(json.dumps(message))
    ts, nonce = str(int(time.time() * 1000)), "nonce0123456789a"
    return {"signature": crypto.signature(ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}, {
        "encrypt": encrypt
    }


async def test_the_official_vector_passes_the_signature_check_and_a_tampered_one_does_not() -> None:
    calls = Calls()
    # the vector was signed in 2021 (its timestamp is in seconds): measure the window from then
    app = make_callback_app(
        VECTOR["token"], VECTOR["aes_key"], VECTOR["owner_key"], calls, clock=lambda: 1614767836.0
    )
    params = {k: VECTOR[k] for k in ("signature", "timestamp", "nonce")}
    crypto = CallbackCrypto(VECTOR["token"], VECTOR["aes_key"], VECTOR["owner_key"])
    crypto.verify(params["signature"], params["timestamp"], params["nonce"], VECTOR["encrypt"])
    # the vector's plaintext is "success", not JSON: signed and decrypted, then refused as a payload
    answer = await post(app, params, {"encrypt": VECTOR["encrypt"]})
    assert answer.status_code == 400 and answer.json() == {"error": "payload rejected"}
    tampered = {**params, "signature": "0" * 40}
    answer = await post(app, tampered, {"encrypt": VECTOR["encrypt"]})
    assert answer.status_code == 403 and "rejected" in answer.json()["error"]
    answer = await post(app, {**params, "timestamp": "1614767837"}, {"encrypt": VECTOR["encrypt"]})
    assert answer.status_code == 403
    assert calls.calls == []


async def test_check_url_and_events_get_an_encrypted_success_reply() -> None:
    calls = Calls()
    app = make_callback_app(TOKEN, AES_KEY, "dingappkey", calls)
    crypto = CallbackCrypto(TOKEN, AES_KEY, "dingappkey")
    for message in (
        {"EventType": "check_url"},
        {
            "EventType": "bpms_instance_change",
            "eventId": "e1",
            "processInstanceId": "i1",
            "processCode": "P",
            "type": "finish",
        },
    ):
        params, body = signed(crypto, message)
        answer = await post(app, params, body)
        assert answer.status_code == 200
        reply = answer.json()
        assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
        crypto.verify(reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"])
        assert crypto.decrypt(reply["encrypt"]) == "success"
    await app.state.intake.drain()
    assert calls.calls == [("P", "i1")]


async def test_bad_requests_are_refused() -> None:
    app = make_callback_app(TOKEN, AES_KEY, "dingappkey", Calls())
    assert (await post(app, {}, {"encrypt": "x"})).status_code == 400
    assert (await post(app, {"signature": "s", "timestamp": "1", "nonce": "n"}, {"no": 1})).status_code == 400
    # an event encrypted for another app fails even with a valid signature
    other = CallbackCrypto(TOKEN, AES_KEY, "otherapp")
    params, body = signed(other, {"EventType": "check_url"})
    assert (await post(app, params, body)).status_code == 403


async def test_legacy_spellings_of_the_query_are_accepted() -> None:
    calls = Calls()
    app = make_callback_app(TOKEN, AES_KEY, "k", calls)
    crypto = CallbackCrypto(TOKEN, AES_KEY, "k")
    params, body = signed(crypto, {"EventType": "check_url"})
    legacy = {
        "msg_signature": params["signature"],
        "timeStamp": params["timestamp"],
        "nonce": params["nonce"],
    }
    assert (await post(app, legacy, body)).status_code == 200


# ---------------------------------------------------------------------------------- the intake


async def test_intake_deduplicates_filters_and_retries_after_a_failure() -> None:
    seen: list[str] = []
    fail = {"i2"}

    async def handler(code: str, iid: str) -> None:
        seen.append(iid)
        if iid in fail:
            fail.discard(iid)
            raise RuntimeError("target down")

    intake = EventIntake(handler, background=False)
    base = {"EventType": "bpms_instance_change", "processCode": "P", "type": "finish"}
    assert await intake.accept({**base, "eventId": "a", "processInstanceId": "i1"})
    assert not await intake.accept({**base, "eventId": "a", "processInstanceId": "i1"})
    assert not await intake.accept({**base, "eventId": "b", "processInstanceId": "i1", "type": "start"})
    assert not await intake.accept(
        {"EventType": "bpms_task_change", "eventId": "c", "processInstanceId": "i1"}
    )
    # a failed handler forgets its event, so the redelivery is acted on
    assert await intake.accept({**base, "eventId": "d", "processInstanceId": "i2"})
    assert await intake.accept({**base, "eventId": "d", "processInstanceId": "i2"})
    assert seen == ["i1", "i2", "i2"]
    assert intake.counts == {"accepted": 3, "duplicate": 1, "ignored": 2, "failed": 1, "busy": 0}


def test_seen_events_are_bounded() -> None:
    seen = SeenEvents(3)
    assert all(seen.add(x) for x in "abcd")
    assert len(seen) == 3 and "a" not in seen and not seen.add("d")


def test_a_stream_event_parses_like_a_pushed_one() -> None:
    stream = {
        "eventId": "c7c7",
        "eventType": "bpms_instance_change",
        "processInstanceId": "9Qgx",
        "processCode": "Pro-1",
        "type": "finish",
        "result": "agree",
    }
    change = parse_instance_change(stream)
    assert change is not None and (change.event_id, change.process_code, change.instance_id) == (
        "c7c7",
        "Pro-1",
        "9Qgx",
    )
    assert change.result == "agree"
    assert parse_instance_change({"EventType": "check_url"}) is None


def test_events_are_routed_to_the_schemes_of_their_template() -> None:
    def scheme(sid: str, codes: Any) -> Scheme:
        return Scheme.model_validate(
            {"id": sid, "source": {"api": "x", "params": {"process_code": codes}}, "target": {"api": "y"}}
        )

    a, b = scheme("a", "P1"), scheme("b", ["P2", "P3"])
    other = Scheme.model_validate({"id": "c", "source": {"api": "x"}, "target": {"api": "y"}})
    assert schemes_for([a, b, other], "P3") == [b]
    assert schemes_for([a, b, other], "") == [a, b]
    assert schemes_for([a, b, other], "P9") == []


async def test_the_handler_runs_in_the_background() -> None:
    started = asyncio.Event()

    async def slow(code: str, iid: str) -> None:
        started.set()
        await asyncio.sleep(30)

    app = make_callback_app(TOKEN, AES_KEY, "k", slow)
    crypto = CallbackCrypto(TOKEN, AES_KEY, "k")
    params, body = signed(
        crypto,
        {"EventType": "bpms_instance_change", "eventId": "z", "processInstanceId": "i", "type": "finish"},
    )
    t0 = time.monotonic()
    answer = await post(app, params, body)
    assert answer.status_code == 200 and time.monotonic() - t0 < 1.0
    await asyncio.wait_for(started.wait(), 1.0)  # the handler runs after the answer
    for task in list(app.state.intake._tasks):
        task.cancel()
