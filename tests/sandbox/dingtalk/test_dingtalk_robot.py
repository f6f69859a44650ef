"""The group robot webhook: HmacSHA256 signature, 20 messages a minute, messages readable by admin."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Any


def sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def send(
    sb: Any, text: str, *, secret: str | None = None, timestamp: str | None = None, token: str | None = None
) -> dict[str, Any]:
    ts = timestamp or str(int(time.time() * 1000))
    query = {
        "access_token": token or sb.config.robot_token,
        "timestamp": ts,
        "sign": sign(secret or sb.config.robot_secret, ts),
    }
    r = sb.http.post(
        "/robot/send?" + urllib.parse.urlencode(query), json={"msgtype": "text", "text": {"content": text}}
    )
    assert r.status_code == 200
    return dict(r.json())


def test_reference_check_value_for_the_signature() -> None:
    assert sign("SECtest0123456789", "1700000000000") == "yBKp5IlG6qCzcQWmgyRK/ziJBdVNJmHfFE2ST/CzT/g="


def test_signed_message_is_accepted_and_readable(sandbox: Any) -> None:
    assert send(sandbox, "同步失败: 3 条") == {"errcode": 0, "errmsg": "ok"}
    messages = sandbox.http.get("/_sandbox/robot/messages").json()["messages"]
    assert [m["body"]["text"]["content"] for m in messages] == ["同步失败: 3 条"]


def test_bad_signature_old_timestamp_and_unknown_token_are_refused(sandbox: Any) -> None:
    assert send(sandbox, "x", secret="SECwrong")["errcode"] == 310000
    two_hours_ago = str(int(time.time() * 1000) - 2 * 3_600_000)
    assert send(sandbox, "x", timestamp=two_hours_ago)["errmsg"] == "invalid timestamp"
    assert send(sandbox, "x", token="nobody") == {"errcode": 300005, "errmsg": "token is not exist"}
    r = sandbox.http.post(
        f"/robot/send?access_token={sandbox.config.robot_token}",
        json={"msgtype": "text", "text": {"content": "x"}},
    )
    assert r.json()["errcode"] == 310000  # signing is on, so an unsigned message is refused
    assert sandbox.http.get("/_sandbox/robot/messages").json()["messages"] == []


def test_twenty_messages_a_minute_then_blocked_for_ten_minutes(sandbox: Any) -> None:
    answers = [send(sandbox, f"告警 {n}")["errcode"] for n in range(21)]
    assert answers == [0] * 20 + [660026]
    sandbox.http.post("/_sandbox/clock", json={"advance_s": 120})
    assert send(sandbox, "still blocked")["errcode"] == 660026
    sandbox.http.post("/_sandbox/clock", json={"advance_s": 540})
    assert send(sandbox, "open again")["errcode"] == 0
    assert len(sandbox.http.get("/_sandbox/robot/messages").json()["messages"]) == 21


def test_extra_robot_with_keywords(sandbox: Any) -> None:
    sandbox.http.post("/_sandbox/robots", json={"access_token": "kw", "secret": None, "keywords": ["告警"]})
    r = sandbox.http.post(
        "/robot/send?access_token=kw",
        json={"msgtype": "markdown", "markdown": {"title": "告警", "text": "### 同步失败"}},
    )
    assert r.json()["errcode"] == 0
    r = sandbox.http.post(
        "/robot/send?access_token=kw", json={"msgtype": "text", "text": {"content": "hello"}}
    )
    assert r.json() == {"errcode": 310000, "errmsg": "keywords not in content"}


def test_a_message_sent_again_under_its_msg_uuid_is_delivered_once(sandbox: Any) -> None:
    ts = str(int(time.time() * 1000))
    query = urllib.parse.urlencode(
        {
            "access_token": sandbox.config.robot_token,
            "timestamp": ts,
            "sign": sign(sandbox.config.robot_secret, ts),
        }
    )
    body = {"msgtype": "markdown", "markdown": {"title": "t", "text": "同步失败"}, "msgUuid": "ferry-1-abc"}
    for _ in range(3):
        assert sandbox.http.post("/robot/send?" + query, json=body).json() == {"errcode": 0, "errmsg": "ok"}
    other = {**body, "msgUuid": "ferry-2-def"}
    assert sandbox.http.post("/robot/send?" + query, json=other).json()["errcode"] == 0
    messages = sandbox.http.get("/_sandbox/robot/messages").json()["messages"]
    assert [m["body"]["msgUuid"] for m in messages] == ["ferry-1-abc", "ferry-2-def"]
