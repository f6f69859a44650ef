"""The group robot webhook (自定义机器人): signature check, 20 messages a minute, received messages kept.

Answers follow what was seen on the real service (reference §7): an unknown token gives
``300005 token is not exist`` and the rate limit ``660026 sending too many messages per minute``
(the documentation names 400101 and 410100 instead). A ``msgUuid`` already accepted is answered ``ok``
and not delivered again (the robot's idempotency key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any


def robot_sign(secret: str, timestamp_ms: str) -> str:
    """base64(HmacSHA256(secret, timestamp + "\\n" + secret)), before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Robot:
    access_token: str
    secret: str | None
    keywords: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    blocked_until: float = 0.0
    #: msgUuid of every accepted message: a message sent again under the same id is taken as the same
    uuids: set[str] = field(default_factory=set)


@dataclass
class RobotMessage:
    access_token: str
    at: float
    body: dict[str, Any]


class RobotHub:
    """All robots of the sandbox and every message they accepted."""

    def __init__(self, per_minute: int, block_s: int) -> None:
        self.per_minute = per_minute
        self.block_s = block_s
        self.robots: dict[str, Robot] = {}
        self.messages: list[RobotMessage] = []

    def add(self, access_token: str, secret: str | None, keywords: list[str] | None = None) -> Robot:
        robot = Robot(access_token, secret, list(keywords or []))
        self.robots[access_token] = robot
        return robot

    def send(
        self, access_token: str, timestamp: str | None, sign: str | None, body: Any, now: float
    ) -> dict[str, Any]:
        """Check and accept one message; returns the JSON answer (always HTTP 200)."""
        robot = self.robots.get(access_token)
        if robot is None:
            return {"errcode": 300005, "errmsg": "token is not exist"}
        if robot.secret is not None:
            if not timestamp or not sign:
                return {
                    "errcode": 310000,
                    "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                }
            try:
                ts = int(timestamp)
            except ValueError:
                return {"errcode": 310000, "errmsg": "invalid timestamp"}
            if abs(now * 1000 - ts) > 3_600_000:
                return {"errcode": 310000, "errmsg": "invalid timestamp"}
            if not hmac.compare_digest(sign, robot_sign(robot.secret, timestamp)):
                return {
                    "errcode": 310000,
                    "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                }
        if not isinstance(body, dict) or "msgtype" not in body:
            return {"errcode": 40035, "errmsg": "缺少参数 json"}
        if body["msgtype"] not in ("text", "markdown", "link", "actionCard", "feedCard"):
            return {"errcode": 400105, "errmsg": "不支持的消息类型"}
        if robot.keywords and not any(k in str(body) for k in robot.keywords):
            return {"errcode": 310000, "errmsg": "keywords not in content"}
        uuid = body.get("msgUuid")
        if isinstance(uuid, str) and uuid in robot.uuids:
            return {"errcode": 0, "errmsg": "ok"}
        if now < robot.blocked_until:
            return {"errcode": 660026, "errmsg": "sending too many messages per minute"}
        robot.sent_at = [t for t in robot.sent_at if t > now - 60]
        if len(robot.sent_at) >= self.per_minute:
            # over the limit: the robot is throttled for ten minutes (reference §7)
            robot.blocked_until = now + self.block_s
            return {"errcode": 660026, "errmsg": "sending too many messages per minute"}
        robot.sent_at.append(now)
        if isinstance(uuid, str):
            robot.uuids.add(uuid)
        self.messages.append(RobotMessage(access_token, now, body))
        return {"errcode": 0, "errmsg": "ok"}
