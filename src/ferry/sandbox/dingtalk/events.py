"""Events the sandbox pushes: ``bpms_instance_change`` / ``bpms_task_change`` over HTTP push.

An event is built once (with its ``eventId``) and can be delivered many times: DingTalk does deliver
duplicates, and a receiver must de-duplicate on ``eventId`` (reference §6.1).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

import httpx

from ferry.sandbox.dingtalk.eventcrypto import EventCipher
from ferry.sandbox.dingtalk.lifecycle import EventSpec
from ferry.sandbox.dingtalk.store import Instance

#: DingTalk gives up on an HTTP push after 2.5 s (reference §6.1)
PUSH_TIMEOUT_S = 2.5


@dataclass
class Callback:
    """The one HTTP push URL an app may register, with its token and aes_key."""

    url: str
    token: str
    aes_key: str
    owner_key: str

    @property
    def cipher(self) -> EventCipher:
        return EventCipher(self.token, self.aes_key, self.owner_key)


@dataclass
class Event:
    event_id: str
    event_type: str
    payload: dict[str, Any]
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "payload": self.payload,
            "deliveries": self.deliveries,
        }


def build_event(spec: EventSpec, inst: Instance, corp_id: str, now_ms: int) -> Event:
    """The decrypted HTTP-push body for one event (flattened business fields plus EventType etc.)."""
    event_id = secrets.token_hex(16)
    payload: dict[str, Any] = {
        "EventType": spec.event_type,
        "EventTime": now_ms,
        "CorpId": corp_id,
        "BizId": str(now_ms),
        "eventId": event_id,
        "processInstanceId": inst.id,
        "processCode": inst.process_code,
        "corpId": corp_id,
        "createTime": inst.create_ms,
        "title": inst.title,
        "type": spec.type,
        "staffId": spec.staff_id,
        "bizCategoryId": "",
        "businessId": inst.business_id,
        "url": f"https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?corpid={corp_id}&dd_share=false&showmenu=true&dd_progress=false&back=native&procInstId={inst.id}",
    }
    if spec.type in ("finish", "terminate", "cancel"):
        payload["finishTime"] = spec.at_ms
    if spec.result is not None:
        payload["result"] = spec.result
    if spec.task_id is not None:
        payload["taskId"] = spec.task_id
    if spec.remark:
        payload["remark"] = spec.remark
    return Event(event_id, spec.event_type, payload)


def _nonce() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))


async def push(callback: Callback, plaintext: str, now_ms: int) -> dict[str, Any]:
    """POST one encrypted message to the callback and check its encrypted ``success`` reply.

    Returns a delivery record: ``ok`` is true only when the reply's signature verifies and it
    decrypts to ``success`` for this app.
    """
    cipher = callback.cipher
    timestamp, nonce = str(now_ms), _nonce()
    encrypt = cipher.encrypt(plaintext)
    params = {"signature": cipher.sign(timestamp, nonce, encrypt), "timestamp": timestamp, "nonce": nonce}
    record: dict[str, Any] = {"url": callback.url, "at_ms": now_ms, "ok": False}
    try:
        async with httpx.AsyncClient(timeout=PUSH_TIMEOUT_S) as http:
            response = await http.post(callback.url, params=params, json={"encrypt": encrypt})
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    record["http_status"] = response.status_code
    try:
        reply = response.json()
        sig_ok = (
            cipher.sign(str(reply["timeStamp"]), str(reply["nonce"]), reply["encrypt"])
            == reply["msg_signature"]
        )
        message, owner = cipher.decrypt(reply["encrypt"])
    except (ValueError, KeyError, TypeError) as exc:
        record["error"] = f"reply is not an encrypted success: {exc}"
        return record
    record["ok"] = (
        response.status_code == 200 and sig_ok and message == "success" and owner == callback.owner_key
    )
    if not record["ok"]:
        record["error"] = (
            f"reply signature ok={sig_ok}, message={message!r}, owner ok={owner == callback.owner_key}"
        )
    return record


async def check_url(callback: Callback, now_ms: int) -> dict[str, Any]:
    """The ``check_url`` event DingTalk sends when the callback is saved."""
    return await push(callback, json.dumps({"EventType": "check_url"}), now_ms)
