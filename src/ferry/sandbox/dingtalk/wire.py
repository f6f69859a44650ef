"""The two hosts' answer shapes, and the reading of a request body that every handler shares.

The legacy host answers HTTP 200 with ``errcode`` bodies and a ``request_id``; the v1.0 host answers a real
HTTP status with ``code``/``message``/``requestid`` bodies and an ``x-acs-request-id`` header.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


def _request_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(13))


def _v1_request_id() -> str:
    raw = secrets.token_hex(16).upper()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def legacy(body: dict[str, Any]) -> JSONResponse:
    """A legacy-host answer: HTTP 200 whatever happened, with a ``request_id``."""
    return JSONResponse({**body, "request_id": _request_id()})


def legacy_error(errcode: int, errmsg: str) -> JSONResponse:
    return legacy({"errcode": errcode, "errmsg": errmsg})


def legacy_wrapped(sub_code: str, sub_msg: str) -> JSONResponse:
    """The TOP gateway's wrapping: ``errcode`` 88 with the real cause in ``sub_code`` (reference §1.3, §5.2)."""
    return legacy(
        {
            "errcode": 88,
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "errmsg": f"ding talk error[subcode={sub_code},submsg={sub_msg}]",
        }
    )


def v1_error(status: int, code: str, message: str) -> JSONResponse:
    rid = _v1_request_id()
    return JSONResponse(
        {"requestid": rid, "code": code, "message": message},
        status_code=status,
        headers={"x-acs-request-id": rid},
    )


def v1_ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"x-acs-request-id": _v1_request_id()})


async def json_body(request: Request) -> Any:
    """The body as JSON: ``{}`` when empty, ``None`` when it is not JSON."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return None


def is_int(value: Any) -> bool:
    """An integer, or a string of one, as the APIs accept for numbers (``bool`` is not)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("-").isdigit()
