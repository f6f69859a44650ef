"""A WeCom group robot (企业微信群机器人) as an ASGI app: ``POST /cgi-bin/webhook/send?key=...``.

As the real robot: the key is the only secret; every answer is HTTP 200 with ``errcode``/``errmsg``; at most
20 messages a minute per robot (a sliding minute; beyond it ``45009 api freq out of limit``); markdown
content at most 4,096 bytes (``40058``); an unknown key ``93000 invalid webhook url``. Accepted messages are
kept for tests (``GET /_sandbox/messages``). Imports nothing of Ferry's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MSGTYPES = ("text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card")
MARKDOWN_MAX_BYTES = 4096


@dataclass
class WeComRobots:
    keys: set[str]
    per_minute: int = 20
    clock: Callable[[], float] = time.time
    sent_at: dict[str, list[float]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def send(self, key: str, body: Any) -> dict[str, Any]:
        if key not in self.keys:
            return {"errcode": 93000, "errmsg": "invalid webhook url, hint: [sandbox]"}
        if not isinstance(body, dict) or body.get("msgtype") not in MSGTYPES:
            return {"errcode": 40008, "errmsg": "invalid message type, hint: [sandbox]"}
        if body["msgtype"] == "markdown":
            content = (body.get("markdown") or {}).get("content")
            if not isinstance(content, str) or not content:
                return {"errcode": 41009, "errmsg": "missing markdown.content, hint: [sandbox]"}
            if len(content.encode()) > MARKDOWN_MAX_BYTES:
                return {
                    "errcode": 40058,
                    "errmsg": "markdown.content exceed max length 4096, hint: [sandbox]",
                }
        now = self.clock()
        recent = [t for t in self.sent_at.get(key, []) if t > now - 60]
        if len(recent) >= self.per_minute:
            self.sent_at[key] = recent
            return {"errcode": 45009, "errmsg": "api freq out of limit, hint: [sandbox]"}
        self.sent_at[key] = [*recent, now]
        self.messages.append({"key": key, "at": now, "body": body})
        return {"errcode": 0, "errmsg": "ok"}


def create_wecom_app(keys: list[str], per_minute: int = 20) -> Starlette:
    robots = WeComRobots(set(keys), per_minute)

    async def send(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return JSONResponse({"errcode": 40016, "errmsg": "invalid json, hint: [sandbox]"})
        return JSONResponse(robots.send(request.query_params.get("key", ""), body))

    async def messages(request: Request) -> JSONResponse:
        return JSONResponse({"messages": robots.messages})

    app = Starlette(
        routes=[
            Route("/cgi-bin/webhook/send", send, methods=["POST"]),
            Route("/_sandbox/messages", messages, methods=["GET"]),
        ]
    )
    app.state.robots = robots
    return app


__all__ = ["WeComRobots", "create_wecom_app"]
