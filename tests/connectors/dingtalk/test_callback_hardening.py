"""The DingTalk HTTP-push endpoint against hostile requests, over real HTTP on loopback.

Each test reproduces a finding of the security review: unsigned giant bodies read before the signature
check, stale timestamps accepted, replays without ``eventId`` acted on every time, a non-ASCII
signature answered with a 500, and one unbounded background task per event.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from ferry.connectors.dingtalk.crypto import CallbackCrypto
from ferry.console.dingtalk_callback import CALLBACK_PATH, make_callback_app
from ferry.sandbox.serve import ServerThread

TOKEN = "ferrytoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OWNER = "dingappkey"
CRYPTO = CallbackCrypto(TOKEN, AES_KEY, OWNER)


class Handler:
    """Records calls; blocks while ``gate`` is closed (the server runs on another thread)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    async def __call__(self, process_code: str, instance_id: str) -> None:
        self.calls.append(instance_id)
        while not self.gate.is_set():
            await asyncio.sleep(0.01)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.calls


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Handler]]:
    handler = Handler()
    app = make_callback_app(TOKEN, AES_KEY, OWNER, handler, max_running=1, max_pending=2)
    with ServerThread(app) as server:
        yield server.url + CALLBACK_PATH, handler
        handler.gate.set()


def finish(instance: str, **extra: Any) -> dict[str, Any]:
    return {"EventType": "bpms_instance_change", "processInstanceId": instance, "type": "finish", **extra}


def signed(event: Any, *, at_ms: int | None = None, nonce: str = "n0nce") -> tuple[dict[str, str], bytes]:
    encrypt = CRYPTO.encrypt(event if isinstance(event, str) else json.dumps(event))
    ts = str(at_ms if at_ms is not None else int(time.time() * 1000))
    params = {"signature": CRYPTO.signature(ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    return params, json.dumps({"encrypt": encrypt}).encode()


def post(url: str, params: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(
        url, params=params, content=body, headers={"Content-Type": "application/json"}, timeout=10
    )


def raw_request(url: str, head: str, body_chunks: Sequence[bytes] = ()) -> bytes:
    """Send a hand-made request on a socket; return what the server answered (bounded read)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server stopped reading and closed: that is the point
        sock.settimeout(5)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer and len(answer) < 65536:
                piece = sock.recv(4096)
                if not piece:
                    break
                answer += piece
        except (TimeoutError, OSError):
            pass
        return answer


# -- size before anything else ---------------------------------------------------------------------


def test_a_declared_300_mb_unsigned_body_is_refused_before_it_is_read(endpoint: tuple[str, Handler]) -> None:
    url, handler = endpoint
    query = "signature=" + "a" * 40 + f"&timestamp={int(time.time() * 1000)}&nonce=x"
    head = (
        f"POST {CALLBACK_PATH}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 314572800\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_request(url, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert time.monotonic() - started < 3
    assert handler.calls == []


def test_a_chunked_body_without_a_length_stops_at_the_cap(endpoint: tuple[str, Handler]) -> None:
    url, handler = endpoint
    query = "signature=" + "a" * 40 + f"&timestamp={int(time.time() * 1000)}&nonce=x"
    head = (
        f"POST {CALLBACK_PATH}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    block = b"x" * 16384
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    # 8 MiB offered; the server must stop long before
    answer = raw_request(url, head, [chunk] * 512)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert handler.calls == []


# -- time window and replays -----------------------------------------------------------------------


@pytest.mark.parametrize("offset_s", [-11 * 60, 11 * 60, -86_400 * 365])
def test_a_validly_signed_request_outside_the_window_is_refused(
    endpoint: tuple[str, Handler], offset_s: int
) -> None:
    url, handler = endpoint
    params, body = signed(finish("late"), at_ms=int((time.time() + offset_s) * 1000))
    answer = post(url, params, body)
    assert answer.status_code == 403
    assert handler.calls == []


def test_inside_the_window_and_in_seconds_it_is_accepted(endpoint: tuple[str, Handler]) -> None:
    url, handler = endpoint
    params, body = signed(finish("in-seconds"), at_ms=int(time.time()))  # a seconds timestamp
    assert post(url, params, body).status_code == 200
    assert handler.wait_for(1) == ["in-seconds"]


def test_an_exact_replay_is_acknowledged_and_not_acted_on(endpoint: tuple[str, Handler]) -> None:
    url, handler = endpoint
    params, body = signed(finish("once", eventId="ev-1"))
    for _ in range(3):
        answer = post(url, params, body)
        assert answer.status_code == 200
        assert CRYPTO.decrypt(answer.json()["encrypt"]) == "success"
    time.sleep(0.2)
    assert handler.calls == ["once"]


def test_an_event_without_event_id_replayed_with_new_nonces_runs_once(endpoint: tuple[str, Handler]) -> None:
    url, handler = endpoint
    event = finish("no-id", processCode="P", EventTime=1700000000000)
    for i in range(4):
        params, body = signed(event, nonce=f"nonce-{i}")
        assert post(url, params, body).status_code == 200
    time.sleep(0.2)
    assert handler.calls == ["no-id"]
    # another event of the same instance (a later change) is a different event
    params, body = signed({**event, "EventTime": 1700000009999}, nonce="other")
    assert post(url, params, body).status_code == 200
    assert handler.wait_for(2) == ["no-id", "no-id"]


# -- every malformed request is a 4xx --------------------------------------------------------------


def _good() -> tuple[dict[str, str], bytes]:
    return signed(finish("x"))


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda p, b: ({**p, "signature": "ä" * 40}, b), 400),
        (lambda p, b: ({**p, "signature": "é9" + p["signature"][2:]}, b), 400),
        (lambda p, b: ({**p, "signature": p["signature"][:39]}, b), 400),
        (lambda p, b: ({**p, "signature": "Z" * 40}, b), 400),
        (lambda p, b: ({**p, "timestamp": "12ab"}, b), 400),
        (lambda p, b: ({**p, "timestamp": "9" * 40}, b), 400),
        (lambda p, b: ({**p, "nonce": "n" * 500}, b), 400),
        (lambda p, b: (p, b"not json"), 400),
        (lambda p, b: (p, b"\xff\xfe\x00"), 400),
        (lambda p, b: (p, b"[" * 60000), 400),
        (lambda p, b: (p, b'{"encrypt": 5}'), 400),
        (lambda p, b: (p, b'["encrypt"]'), 400),
        (lambda p, b: ({**p, "signature": "0" * 40}, b), 403),
    ],
)
def test_malformed_requests_are_4xx_never_5xx(
    endpoint: tuple[str, Handler], mutate: Any, status: int
) -> None:
    url, handler = endpoint
    params, body = mutate(*_good())
    answer = post(url, params, body)
    assert answer.status_code == status, answer.text
    assert handler.calls == []


@pytest.mark.parametrize(
    "encrypt",
    ["not base64 at all!", "QUJD", "ü" * 24, "A" * 44, CRYPTO.encrypt("[1, 2")],
)
def test_a_signed_but_undecryptable_payload_is_400(endpoint: tuple[str, Handler], encrypt: str) -> None:
    url, handler = endpoint
    ts, nonce = str(int(time.time() * 1000)), "n"
    try:
        signature = CRYPTO.signature(ts, nonce, encrypt)
    except UnicodeEncodeError:
        signature = "0" * 40
    answer = post(
        url,
        {"signature": signature, "timestamp": ts, "nonce": nonce},
        json.dumps({"encrypt": encrypt}).encode(),
    )
    assert answer.status_code in (400, 403), answer.text
    assert handler.calls == []


# -- bounded work ----------------------------------------------------------------------------------


def test_when_the_intake_is_full_the_answer_asks_dingtalk_to_come_back(endpoint: tuple[str, Handler]) -> None:
    url, handler = endpoint
    handler.gate.clear()  # handlers hang: one runs, one waits (max_running=1, max_pending=2)
    for name in ("a", "b"):
        params, body = signed(finish(name, eventId=f"e-{name}"))
        assert post(url, params, body).status_code == 200
    params, body = signed(finish("c", eventId="e-c"))
    busy = post(url, params, body)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    handler.gate.set()
    assert handler.wait_for(2) == ["a", "b"]
    time.sleep(0.1)
    # the redelivery (new nonce and timestamp) is taken as new: it was not remembered while busy
    params, body = signed(finish("c", eventId="e-c"), nonce="again")
    assert post(url, params, body).status_code == 200
    assert handler.wait_for(3) == ["a", "b", "c"]
