"""Where messages go: the DingTalk and WeCom group robots, a signed webhook, and e-mail over SMTP.

Each channel sends one rendered notification and either returns or raises :class:`DeliveryFailed` with
a message a person can act on (the robot's own ``errmsg``); secrets and robot URLs never appear in it
(every message passes :func:`ferry.observe.redact.redact`). Both robots answer HTTP 200 with a non-zero
``errcode`` when they refuse a message: that is a failed delivery, not a success.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx

from ferry.observe.alerts import render
from ferry.observe.alerts.rules import ChannelSpec
from ferry.observe.redact import redact

#: DingTalk's answers to "too many messages a minute" (documented 410100; seen in practice 660026) and
#: WeCom's (45009): the robot is blocked for ten minutes, so retry after that
RATE_LIMITED = {"410100": 600.0, "660026": 600.0, "45009": 60.0}


class DeliveryFailed(Exception):
    """A message did not arrive; ``retry_after`` (seconds) when the other side said when to come back."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(redact(message))
        self.retry_after = retry_after


class Channel(Protocol):
    name: str
    type: str
    per_minute: int

    async def send(self, body: dict[str, Any], message_id: str) -> None: ...


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """URL-encoded base64(HmacSHA256(secret, timestamp + "\\n" + secret)), DingTalk's robot signature."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


class _Http:
    def __init__(self, spec: ChannelSpec, client: httpx.AsyncClient | None) -> None:
        self.spec = spec
        self.name = spec.name
        self.type: str = spec.type
        self.per_minute = spec.per_minute
        self._client = client

    async def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        client = self._client or httpx.AsyncClient(timeout=10)
        try:
            return await client.post(url, **kwargs)
        except httpx.HTTPError as e:
            # the URL holds the robot's token: say what failed, not where
            raise DeliveryFailed(f"{self.name}: {type(e).__name__}: {e}") from None
        finally:
            if self._client is None:
                await client.aclose()

    def _robot_answer(self, r: httpx.Response) -> None:
        if r.status_code != 200:
            raise DeliveryFailed(f"{self.name}: HTTP {r.status_code}")
        try:
            answer = r.json()
        except ValueError:
            raise DeliveryFailed(f"{self.name}: the robot's answer is not JSON") from None
        code = str(answer.get("errcode", "0")) if isinstance(answer, dict) else "?"
        if code != "0":
            message = answer.get("errmsg", "") if isinstance(answer, dict) else str(answer)[:200]
            raise DeliveryFailed(f"{self.name}: errcode {code}: {message}", RATE_LIMITED.get(code))


class DingTalkRobot(_Http):
    """DingTalk custom group robot (自定义机器人): signed URL, keyword, markdown or actionCard, msgUuid."""

    async def send(self, body: dict[str, Any], message_id: str) -> None:
        spec = self.spec
        assert spec.url is not None
        url = spec.url
        if spec.secret:
            ts = str(int(time.time() * 1000))
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={dingtalk_sign(spec.secret, ts)}"
        head = render.title(body)
        text = render.markdown(body, limit=render.MAX_BYTES["dingtalk"])
        if spec.keyword and spec.keyword not in text:
            # a robot with a keyword setting refuses any message without it
            head, text = f"{spec.keyword} {head}", f"{spec.keyword}\n\n{text}"
        if spec.at_mobiles:
            text += "\n\n" + " ".join(f"@{m}" for m in spec.at_mobiles)
        payload: dict[str, Any]
        if spec.msgtype == "actionCard" and body.get("link"):
            card = {"title": head, "text": text, "singleTitle": "在控制台查看", "singleURL": body["link"]}
            payload = {"msgtype": "actionCard", "actionCard": card}
        else:
            payload = {"msgtype": "markdown", "markdown": {"title": head, "text": text}}
        payload["at"] = {"atMobiles": spec.at_mobiles, "isAtAll": False}
        payload["msgUuid"] = message_id
        self._robot_answer(await self._post(url, json=payload))


class WeComRobot(_Http):
    """WeCom group robot (群机器人): the key in the URL is the only secret; markdown up to 4,096 bytes."""

    async def send(self, body: dict[str, Any], message_id: str) -> None:
        assert self.spec.url is not None
        text = render.markdown(body, limit=render.MAX_BYTES["wecom"])
        payload = {"msgtype": "markdown", "markdown": {"content": text}}
        self._robot_answer(await self._post(self.spec.url, json=payload))


class Webhook(_Http):
    """POST the notification as JSON; with a secret, ``X-Ferry-Signature: sha256=<hex HMAC of
    timestamp + "." + body>`` and ``X-Ferry-Timestamp``, so the receiver can check it and refuse replays."""

    async def send(self, body: dict[str, Any], message_id: str) -> None:
        assert self.spec.url is not None
        raw = json.dumps({"id": message_id, **body}, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Ferry-Message-Id": message_id}
        if self.spec.secret:
            ts = str(int(time.time()))
            mac = hmac.new(self.spec.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
            headers.update({self.spec.header: f"sha256={mac}", "X-Ferry-Timestamp": ts})
        r = await self._post(self.spec.url, content=raw, headers=headers)
        if not 200 <= r.status_code < 300:
            raise DeliveryFailed(f"{self.name}: HTTP {r.status_code}", 60.0 if r.status_code == 429 else None)


class Email:
    """SMTP with STARTTLS and login (smtplib, in a thread). ``ca_file`` is not a setting: the system's
    trust store is used, or ``ssl_context`` given in code (tests with a local server)."""

    def __init__(self, spec: ChannelSpec, ssl_context: ssl.SSLContext | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.type = "email"
        self.per_minute = spec.per_minute
        self.ssl_context = ssl_context

    async def send(self, body: dict[str, Any], message_id: str) -> None:
        msg = EmailMessage()
        msg["Subject"] = render.title(body)
        msg["From"] = self.spec.sender
        msg["To"] = ", ".join(self.spec.to)
        msg["Message-ID"] = f"<{message_id}@ferry>"
        msg.set_content(render.plain(body))
        try:
            await asyncio.to_thread(self._send, msg)
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryFailed(f"{self.name}: {type(e).__name__}: {e}") from None

    def _send(self, msg: EmailMessage) -> None:
        spec = self.spec
        assert spec.host is not None
        with smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout) as smtp:
            if spec.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
            if spec.username:
                smtp.login(spec.username, spec.password or "")
            smtp.send_message(msg)


def build_channel(
    spec: ChannelSpec, *, client: httpx.AsyncClient | None = None, ssl_context: ssl.SSLContext | None = None
) -> Channel:
    """The channel a (resolved) spec declares."""
    if spec.type == "dingtalk":
        return DingTalkRobot(spec, client)
    if spec.type == "wecom":
        return WeComRobot(spec, client)
    if spec.type == "webhook":
        return Webhook(spec, client)
    return Email(spec, ssl_context)


__all__ = ["Channel", "DeliveryFailed", "DingTalkRobot", "Email", "WeComRobot", "Webhook", "build_channel"]
