"""The DingTalk HTTP-push endpoint (事件订阅 → HTTP 推送), reference §6.2.

``POST /dingtalk/events?signature=…&timestamp=…&nonce=…`` with ``{"encrypt": "…"}``. The endpoint is
on the internet, so every request is hostile until proven otherwise; the checks run cheapest first and
nothing is decrypted or parsed beyond the envelope before the signature holds:

1. the query: ``signature`` (40 hex characters), ``timestamp`` (digits), ``nonce`` (at most 128
   characters) present and well formed, else **400**;
2. the size: a ``Content-Length`` over ``max_body_bytes`` (64 KiB; DingTalk's envelope is a few KiB)
   is **413** before any byte is read, and the body is read as a stream that stops at the cap;
3. the envelope: a JSON object with a string ``encrypt``, else **400**;
4. the timestamp within ``max_skew_s`` (±10 minutes) of now (DingTalk sends milliseconds; seconds are
   accepted too), else **403**: a captured request cannot be replayed later;
5. the signature (constant time), else **403**; a request already accepted with the same signature
   (a replay within the window) is answered ``success`` again and not acted on;
6. decrypt and parse (padding, lengths, JSON), else **400**; encrypted for another app (owner key):
   **403**;
7. every event, ``check_url`` included, is answered with the encrypted ``success`` DingTalk expects
   within 2.5 s. Instance changes go to an :class:`~ferry.connectors.dingtalk.events.EventIntake`, which
   de-duplicates on ``eventId`` (or a digest of the event), and runs a bounded number of handlers in the
   background. When it is full the answer is **503** with ``Retry-After``, so DingTalk delivers the
   event again later rather than Ferry accepting it and losing it.

A malformed request is always a 4xx, never a 5xx: the reason is logged (redacted), not told.

:func:`engine_handler` wires the handler to the engine: fetch that one instance for the scheme whose
``params.process_code`` names its template, then dispatch that scheme.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from ferry.connectors.dingtalk.crypto import (
    CallbackCrypto,
    CallbackError,
    WrongRecipient,
    callback_params,
    is_signature,
)
from ferry.connectors.dingtalk.events import (
    DEFAULT_MAX_PENDING,
    DEFAULT_MAX_RUNNING,
    EventIntake,
    InstanceChangeHandler,
    SeenEvents,
    Verdict,
    event_type,
)
from ferry.engine.runner import Engine
from ferry.engine.schedule import OnPass, PassDone
from ferry.scheme import Scheme

log = logging.getLogger("ferry.console.dingtalk")

CALLBACK_PATH = "/dingtalk/events"
#: the largest request body read (DingTalk's encrypted envelope is a few KiB)
MAX_BODY_BYTES = 64 * 1024
#: how far a request's timestamp may be from now, either way
MAX_SKEW_S = 600.0
#: what a busy endpoint asks DingTalk to wait before delivering again
BUSY_RETRY_AFTER_S = 5
_MAX_NONCE = 128


class _Refused(Exception):
    def __init__(self, status: int, public: str, reason: str | None = None) -> None:
        super().__init__(public)
        self.status = status
        self.public = public
        self.reason = reason or public


def _timestamp_s(text: str) -> float:
    """A callback timestamp in seconds: DingTalk sends milliseconds; the crypto test vector uses seconds."""
    if not text.isdigit() or len(text) > 16:
        raise _Refused(400, "timestamp is not a number")
    value = int(text)
    return value / 1000.0 if value >= 10**11 else float(value)


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length", "").strip()
    if declared and (not declared.isdigit() or int(declared) > cap):
        raise _Refused(413, "request body too large", f"Content-Length {declared[:20]} over {cap}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise _Refused(413, "request body too large", f"body passed {cap} bytes")
    return bytes(body)


def _envelope(body: bytes) -> str:
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise _Refused(400, "body is not JSON") from None
    encrypt = parsed.get("encrypt") if isinstance(parsed, dict) else None
    if not isinstance(encrypt, str) or not encrypt:
        raise _Refused(400, "body has no encrypt")
    return encrypt


def callback_router(
    crypto: CallbackCrypto,
    intake: EventIntake,
    *,
    path: str = CALLBACK_PATH,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_skew_s: float = MAX_SKEW_S,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The endpoint as a router, to mount in a larger app. ``clock`` gives the time the window is
    measured from (tests)."""
    router = APIRouter()
    # signatures of requests already acted on; a replay inside the window is acknowledged, not re-run
    answered = SeenEvents(10_000)

    async def check(request: Request) -> tuple[str, dict[str, Any]]:
        try:
            signature, timestamp, nonce = callback_params(dict(request.query_params))
        except CallbackError as exc:
            raise _Refused(400, str(exc)) from None
        if not is_signature(signature):
            raise _Refused(400, "signature is not 40 hex characters")
        if len(nonce) > _MAX_NONCE:
            raise _Refused(400, "nonce too long")
        sent_at = _timestamp_s(timestamp)
        encrypt = _envelope(await _read_capped(request, max_body_bytes))
        skew = sent_at - clock()
        if abs(skew) > max_skew_s:
            raise _Refused(403, "signature or payload rejected", f"timestamp {skew:+.0f} s from now")
        try:
            crypto.verify(signature, timestamp, nonce, encrypt)
        except CallbackError as exc:
            raise _Refused(403, "signature or payload rejected", str(exc)) from None
        try:
            event = crypto.open(signature, timestamp, nonce, encrypt)
        except WrongRecipient as exc:
            raise _Refused(403, "signature or payload rejected", str(exc)) from None
        except CallbackError as exc:
            # signed, yet unreadable: a wrong aes_key or owner key on our side, or a forged payload
            raise _Refused(400, "payload rejected", str(exc)) from None
        return signature.lower(), event

    @router.post(path)
    async def receive(request: Request) -> JSONResponse:
        try:
            signature, event = await check(request)
        except _Refused as refused:
            # the reason is ours to log, not the caller's to learn from
            log.warning("DingTalk callback refused (%s): %s", refused.status, refused.reason)
            return JSONResponse({"error": refused.public}, status_code=refused.status)
        if signature in answered:
            return JSONResponse(crypto.reply("success"))
        if event_type(event) != "check_url":
            verdict = await intake.accept(event)
            if verdict is Verdict.BUSY:
                log.warning("DingTalk callback: too many events in flight; asking DingTalk to deliver later")
                return JSONResponse(
                    {"error": "busy, deliver again later"},
                    status_code=503,
                    headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
                )
        answered.add(signature)
        return JSONResponse(crypto.reply("success"))

    return router


def make_callback_app(
    token: str,
    aes_key: str,
    owner_key: str,
    handler: InstanceChangeHandler,
    *,
    path: str = CALLBACK_PATH,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_skew_s: float = MAX_SKEW_S,
    max_running: int = DEFAULT_MAX_RUNNING,
    max_pending: int = DEFAULT_MAX_PENDING,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """A FastAPI app with the callback endpoint; its ``state.intake`` is the :class:`EventIntake`."""
    crypto = CallbackCrypto(token, aes_key, owner_key)
    intake = EventIntake(handler, max_running=max_running, max_pending=max_pending)
    app = FastAPI(title="Ferry DingTalk callback", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(
        callback_router(
            crypto, intake, path=path, max_body_bytes=max_body_bytes, max_skew_s=max_skew_s, clock=clock
        )
    )
    app.state.intake = intake
    return app


def schemes_for(schemes: Sequence[Scheme], process_code: str) -> list[Scheme]:
    """The schemes an event of ``process_code`` concerns (all DingTalk-parametrised ones when it is "")."""
    out = []
    for scheme in schemes:
        codes: Any = scheme.source.params.get("process_code")
        if codes is None:
            continue
        listed = [codes] if isinstance(codes, str) else list(codes)
        if not process_code or process_code in listed:
            out.append(scheme)
    return out


def engine_handler(
    engine: Engine, schemes: Sequence[Scheme], *, on_pass: OnPass | None = None
) -> InstanceChangeHandler:
    """Fetch the changed instance into each matching scheme's ledger, then dispatch that scheme;
    ``on_pass`` is told of each pass (``ferry serve`` logs a line)."""

    async def on_instance_change(process_code: str, instance_id: str) -> None:
        matched = schemes_for(schemes, process_code)
        if not matched:
            log.info("DingTalk event for %s (%s): no scheme reads that template", instance_id, process_code)
        for scheme in matched:
            started = time.perf_counter()
            report = await engine.collect_ids(scheme, [instance_id], trigger="event")
            if on_pass is not None:
                on_pass(PassDone(scheme.id, "collect", "event", time.perf_counter() - started, report))
            if report.records:
                started = time.perf_counter()
                written = await engine.dispatch(scheme, trigger="event")
                if on_pass is not None:
                    on_pass(PassDone(scheme.id, "dispatch", "event", time.perf_counter() - started, written))

    return on_instance_change


__all__ = [
    "CALLBACK_PATH",
    "MAX_BODY_BYTES",
    "MAX_SKEW_S",
    "callback_router",
    "engine_handler",
    "make_callback_app",
    "schemes_for",
]
