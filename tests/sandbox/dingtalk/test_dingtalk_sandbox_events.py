"""Admin transitions push encrypted, signed events; the sandbox checks the encrypted ``success`` reply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ferry.sandbox.dingtalk.eventcrypto import EventCipher
from ferry.sandbox.serve import ServerThread

TOKEN = "123456"
AES_KEY = "1234567890123456789012345678901234567890123"
OWNER = "dingsnotzck6pm5veliw"


def test_sandbox_cipher_matches_the_official_test_vector() -> None:
    cipher = EventCipher(TOKEN, AES_KEY, OWNER)
    encrypt = "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA=="
    assert (
        cipher.sign("1614767836", "A7Co0cJLMzIDtMMI", encrypt) == "9a95a004dd16f5c307e849b994173f76aa26e5eb"
    )
    assert cipher.decrypt(encrypt) == ("success", OWNER)
    assert cipher.decrypt(cipher.encrypt("你好")) == ("你好", OWNER)


class Receiver:
    """A callback endpoint built on the sandbox's own cipher (the client's is tested in connectors)."""

    def __init__(self, owner: str, answer_plain: bool = False) -> None:
        self.cipher = EventCipher(TOKEN, AES_KEY, owner)
        self.events: list[dict[str, Any]] = []
        self.answer_plain = answer_plain
        self.app = Starlette(routes=[Route("/dingtalk/events", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        q = request.query_params
        encrypt = (await request.json())["encrypt"]
        assert self.cipher.sign(q["timestamp"], q["nonce"], encrypt) == q["signature"]
        message, _ = self.cipher.decrypt(encrypt)
        self.events.append(json.loads(message))
        if self.answer_plain:
            return PlainTextResponse("success")
        reply = self.cipher.encrypt("success")
        return JSONResponse(
            {
                "msg_signature": self.cipher.sign("1", "n", reply),
                "timeStamp": "1",
                "nonce": "n",
                "encrypt": reply,
            }
        )


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver("dingferrysandbox01")
    with ServerThread(rec.app) as server:
        yield rec, f"{server.url}/dingtalk/events"


def test_register_checks_url_then_transitions_push_events(
    sandbox: Any, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    r = sandbox.http.put("/_sandbox/callback", json={"url": url, "token": TOKEN, "aes_key": AES_KEY})
    assert r.status_code == 200 and r.json()["registered"] and r.json()["check_url"]["ok"]
    assert rec.events == [{"EventType": "check_url"}]

    created = sandbox.http.post(
        "/_sandbox/instances", json={"form": {"付款金额": "1200.00"}, "approvers": ["205937523932471911"]}
    ).json()
    iid = created["process_instance_id"]
    approved = sandbox.http.post(f"/_sandbox/instances/{iid}/approve", json={"remark": "同意"}).json()
    assert approved["status"] == "COMPLETED" and approved["result"] == "agree"
    got = [(e["EventType"], e["type"], e.get("result")) for e in rec.events[1:]]
    assert got == [
        ("bpms_instance_change", "start", None),
        ("bpms_task_change", "start", None),
        ("bpms_task_change", "finish", "agree"),
        ("bpms_instance_change", "finish", "agree"),
    ]
    finish = rec.events[-1]
    assert finish["processInstanceId"] == iid and finish["processCode"] == sandbox.config.process_code
    assert finish["CorpId"] == sandbox.config.corp_id and finish["finishTime"] >= finish["createTime"]
    assert all(d["ok"] for e in approved["events"] for d in e["deliveries"])

    # a redelivery carries the same eventId: the receiver must de-duplicate
    event_id = finish["eventId"]
    again = sandbox.http.post(f"/_sandbox/events/{event_id}/deliver").json()
    assert again["delivery"]["ok"] and rec.events[-1]["eventId"] == event_id
    listed = sandbox.http.get("/_sandbox/events", params={"instance_id": iid}).json()["events"]
    assert len(listed) == 4 and len(listed[-1]["deliveries"]) == 2


def test_refuse_and_revoke_events(sandbox: Any, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    sandbox.http.put("/_sandbox/callback", json={"url": url, "token": TOKEN, "aes_key": AES_KEY})
    a = sandbox.http.post("/_sandbox/instances", json={}).json()["process_instance_id"]
    b = sandbox.http.post("/_sandbox/instances", json={}).json()["process_instance_id"]
    assert sandbox.http.post(f"/_sandbox/instances/{a}/refuse").json()["result"] == "refuse"
    assert sandbox.http.post(f"/_sandbox/instances/{b}/revoke").json()["status"] == "TERMINATED"
    finals = [
        (e["processInstanceId"], e["type"], e.get("result"))
        for e in rec.events
        if e.get("EventType") == "bpms_instance_change" and e["type"] != "start"
    ]
    assert finals == [(a, "finish", "refuse"), (b, "terminate", None)]
    conflict = sandbox.http.post(f"/_sandbox/instances/{b}/approve")
    assert conflict.status_code == 409


def test_a_plain_success_reply_is_not_accepted(sandbox: Any) -> None:
    rec = Receiver("dingferrysandbox01", answer_plain=True)
    with ServerThread(rec.app) as server:
        r = sandbox.http.put(
            "/_sandbox/callback",
            json={"url": f"{server.url}/dingtalk/events", "token": TOKEN, "aes_key": AES_KEY},
        )
    assert r.status_code == 422 and not r.json()["registered"]
    assert "not an encrypted success" in r.json()["check_url"]["error"]
