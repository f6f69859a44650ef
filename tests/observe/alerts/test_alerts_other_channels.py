"""The WeCom robot (the sandbox's, on loopback) and the signed webhook (a receiver on loopback that checks
the signature): real HTTP, refusals retried with back-off, WeCom's 4,096-byte markdown respected."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alerts_peers import add_records, dispatch
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ferry.observe.alerts import AlertService, Rules, build_channel
from ferry.observe.alerts.rules import AlertsFile, ChannelSpec
from ferry.observe.metrics import REGISTRY
from ferry.sandbox.serve import ServerThread
from ferry.sandbox.wecom import create_wecom_app
from ferry.store import Ledger

T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
HOOK_SECRET = "hook-secret-0123456789"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def rules() -> Rules:
    return Rules(AlertsFile.model_validate({"defaults": {"group_wait": "0s"}}))


@pytest.fixture
def wecom() -> Iterator[tuple[str, Any]]:
    app = create_wecom_app(["wx-key-1"])
    with ServerThread(app) as server:
        yield server.url, app.state.robots


async def test_the_wecom_robot_gets_a_markdown_digest_within_its_byte_limit(
    ledger: Ledger, wecom: Any
) -> None:
    url, robots = wecom
    spec = ChannelSpec.model_validate({"name": "wx", "type": "wecom", "url": "${WX}"})
    channel = build_channel(spec.model_copy(update={"url": f"{url}/cgi-bin/webhook/send?key=wx-key-1"}))
    add_records(ledger, "pay", 400, at(0))  # 400 dead records: more than 4,096 bytes of ids
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="供应商账户不存在")
    result = await AlertService(ledger, rules(), [channel]).tick(at(2))
    assert (result.sent, result.failed) == (2, 0)  # record_dead and failure_rate
    contents = [m["body"]["markdown"]["content"] for m in robots.messages]
    assert all(len(c.encode()) <= 4096 for c in contents)
    assert any("cut to fit" in c and "/records?scheme=pay" in c for c in contents)


async def test_a_wrong_wecom_key_is_a_failed_delivery_with_the_robots_message(
    ledger: Ledger, wecom: Any
) -> None:
    url, _ = wecom
    spec = ChannelSpec.model_validate({"name": "wx", "type": "wecom", "url": "${WX}"})
    channel = build_channel(spec.model_copy(update={"url": f"{url}/cgi-bin/webhook/send?key=nope"}))
    add_records(ledger, "pay", 1, at(0))
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="x")
    result = await AlertService(ledger, rules(), [channel]).tick(at(2))
    assert result.failed == 1 and "errcode 93000: invalid webhook url" in result.errors[0]
    assert "nope" not in result.errors[0]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver that checks the signature and refuses its first delivery (HTTP 503)."""
    got: list[dict[str, Any]] = []
    calls = {"n": 0}

    async def hook(request: Request) -> JSONResponse:
        calls["n"] += 1
        raw = await request.body()
        ts = request.headers["X-Ferry-Timestamp"]
        mac = hmac.new(HOOK_SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers["X-Ferry-Signature"], f"sha256={mac}"):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if calls["n"] == 1:
            return JSONResponse({"error": "warming up"}, status_code=503)
        got.append(json.loads(raw))
        return JSONResponse({"ok": True})

    with ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        yield server.url, got


async def test_the_webhook_is_signed_and_a_refusal_is_retried_after_a_back_off(
    ledger: Ledger, receiver: Any
) -> None:
    url, got = receiver
    spec = ChannelSpec.model_validate(
        {"name": "hook", "type": "webhook", "url": f"{url}/hook", "secret": "${H}"}
    )
    service = AlertService(ledger, rules(), [build_channel(spec.model_copy(update={"secret": HOOK_SECRET}))])
    retries = REGISTRY.get_sample_value("ferry_alerts_delivery_retries_total", {"channel": "hook"}) or 0
    add_records(ledger, "pay", 1, at(0))
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="x")

    first = await service.tick(at(2))
    assert first.failed == 1 and "HTTP 503" in first.errors[0]
    assert (await service.tick(at(5))).sent == 0  # backing off (10 s after the first failure)
    assert (await service.tick(at(13))).sent == 1
    [body] = got
    assert body["kind"] == "firing" and body["alerts"][0]["labels"]["record"] == "R0000" and body["id"]
    assert [d["ok"] for d in reversed(service.outbox.deliveries())] == [False, True]
    assert (
        REGISTRY.get_sample_value("ferry_alerts_delivery_retries_total", {"channel": "hook"}) == retries + 1
    )
    # a forged signature is refused by the receiver: the signature is what it checks
    forged = httpx.post(
        f"{url}/hook", content=b"{}", headers={"X-Ferry-Timestamp": "1", "X-Ferry-Signature": "sha256=00"}
    )
    assert forged.status_code == 401
