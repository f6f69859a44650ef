"""Property tests over the DingTalk callback's request parsing, through the ASGI app in process: any
request gets a 200, 4xx or a deliberate 503, never another 5xx, and only a validly signed, fresh,
decryptable instance event ever reaches the handler."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from fuzzing import FAST, json_values
from hypothesis import given
from hypothesis import strategies as st

from ferry.connectors.dingtalk.crypto import CallbackCrypto
from ferry.console.dingtalk_callback import CALLBACK_PATH, make_callback_app

TOKEN = "ferrytoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OWNER = "dingappkey"
CRYPTO = CallbackCrypto(TOKEN, AES_KEY, OWNER)
ALLOWED = {200, 400, 403, 413}

calls: list[str] = []


async def handler(process_code: str, instance_id: str) -> None:
    calls.append(instance_id)


APP = make_callback_app(TOKEN, AES_KEY, OWNER, handler)

query_text = st.text(max_size=60) | st.sampled_from(["a" * 40, "A" * 40, "0" * 41, "１" * 40])
bodies = (
    st.binary(max_size=200)
    | json_values().map(lambda v: json.dumps(v).encode())
    | st.builds(lambda e: json.dumps({"encrypt": e}).encode(), st.text(max_size=120))
)


async def _post(params: dict[str, str], body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://ferry") as http:
        return await http.post(CALLBACK_PATH, params=params, content=body)


@FAST
@given(
    names=st.lists(
        st.sampled_from(["signature", "msg_signature", "timestamp", "timeStamp", "nonce", "x"]), max_size=4
    ),
    values=st.lists(query_text, min_size=4, max_size=4),
    body=bodies,
)
def test_any_unsigned_request_is_refused_with_a_4xx(names: list[str], values: list[str], body: bytes) -> None:
    params = dict(zip(names, values, strict=False))
    before = len(calls)
    answer = asyncio.run(_post(params, body))
    assert answer.status_code in ALLOWED - {200}, (answer.status_code, answer.text)
    assert len(calls) == before


@FAST
@given(
    plaintext=json_values().map(json.dumps) | st.text(max_size=80),
    skew_s=st.sampled_from([0, -30, 30, -7200]),
)
def test_any_signed_payload_is_answered_without_a_5xx(plaintext: str, skew_s: int) -> None:
    encrypt = CRYPTO.encrypt(plaintext)
    ts, nonce = str(int((time.time() + skew_s) * 1000)), "fuzz-nonce"
    params = {"signature": CRYPTO.signature(ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    answer = asyncio.run(_post(params, json.dumps({"encrypt": encrypt}).encode()))
    assert answer.status_code in ALLOWED, (answer.status_code, answer.text)
    if skew_s == -7200:
        assert answer.status_code == 403
    if answer.status_code == 200:
        reply: Any = answer.json()
        assert CRYPTO.decrypt(reply["encrypt"]) == "success"
