"""Callback crypto: the official test vector, tampering, and a round trip through the sandbox's delivery."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ferry.connectors.dingtalk.crypto import CallbackCrypto, CallbackError, callback_params
from ferry.sandbox.serve import ServerThread

# the configure-stream-push FAQ's test vector (reference §6.2)
TOKEN = "123456"
AES_KEY = "1234567890123456789012345678901234567890123"
OWNER = "dingsnotzck6pm5veliw"
SIGNATURE = "9a95a004dd16f5c307e849b994173f76aa26e5eb"
TIMESTAMP = "1614767836"
NONCE = "A7Co0cJLMzIDtMMI"
ENCRYPT = "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA=="


def test_official_vector_verifies_and_decrypts_to_success() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, OWNER)
    assert crypto.signature(TIMESTAMP, NONCE, ENCRYPT) == SIGNATURE
    crypto.verify(SIGNATURE, TIMESTAMP, NONCE, ENCRYPT)
    assert crypto.decrypt(ENCRYPT) == "success"


def test_encrypting_with_the_vectors_random_prefix_reproduces_it() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, OWNER)
    # the first block of plaintext is the random prefix: recover it, then encryption must be byte-exact
    import base64

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(AES_KEY + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = dec.update(base64.b64decode(ENCRYPT)) + dec.finalize()
    assert len(raw) == 64 and raw[-1] == 17  # 47 bytes padded to a 32-byte block
    assert crypto.encrypt("success", random16=raw[:16]) == ENCRYPT


def test_tampering_and_wrong_keys_are_refused() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, OWNER)
    with pytest.raises(CallbackError, match="signature"):
        crypto.verify("0" * 40, TIMESTAMP, NONCE, ENCRYPT)
    with pytest.raises(CallbackError, match="owner key"):
        CallbackCrypto(TOKEN, AES_KEY, "dingsomebodyelse").decrypt(ENCRYPT)
    with pytest.raises(CallbackError):
        CallbackCrypto(TOKEN, "A" * 43, OWNER).decrypt(ENCRYPT)
    with pytest.raises(CallbackError, match="base64"):
        crypto.decrypt("not base64!")
    with pytest.raises(ValueError, match="43"):
        CallbackCrypto(TOKEN, "short", OWNER)
    assert TOKEN not in repr(crypto) and AES_KEY not in repr(crypto)


def test_reply_round_trip_and_query_spellings() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, OWNER)
    reply = crypto.reply()
    crypto.verify(reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"])
    assert crypto.decrypt(reply["encrypt"]) == "success"
    event = {"EventType": "bpms_instance_change", "title": "张三提交的付款申请"}
    encrypt = crypto.encrypt(json.dumps(event, ensure_ascii=False))
    sig = crypto.signature("1", "n", encrypt)
    assert crypto.open(sig, "1", "n", encrypt) == event
    assert callback_params({"msg_signature": "s", "timeStamp": "t", "nonce": "n"}) == ("s", "t", "n")
    with pytest.raises(CallbackError):
        callback_params({"signature": "s"})


def test_round_trip_through_the_sandboxs_event_delivery(sandbox: Any) -> None:
    aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    crypto = CallbackCrypto("ferrytoken", aes_key, sandbox.config.app_key)
    seen: list[dict[str, Any]] = []

    async def handle(request: Request) -> Response:
        signature, timestamp, nonce = callback_params(dict(request.query_params))
        event = crypto.open(signature, timestamp, nonce, (await request.json())["encrypt"])
        seen.append(event)
        return JSONResponse(crypto.reply())

    with ServerThread(Starlette(routes=[Route("/cb", handle, methods=["POST"])])) as receiver:
        r = sandbox.http.put(
            "/_sandbox/callback",
            json={"url": f"{receiver.url}/cb", "token": "ferrytoken", "aes_key": aes_key},
        )
        assert r.json()["registered"] is True
        running = sandbox.http.get("/_sandbox/instances", params={"status": "RUNNING"}).json()["instances"][0]
        answer = sandbox.http.post(f"/_sandbox/instances/{running['process_instance_id']}/approve").json()
    assert seen[0] == {"EventType": "check_url"}
    finish = seen[-1]
    assert (finish["EventType"], finish["type"], finish["result"]) == (
        "bpms_instance_change",
        "finish",
        "agree",
    )
    assert finish["processInstanceId"] == running["process_instance_id"]
    assert all(d["ok"] for e in answer["events"] for d in e["deliveries"])
