"""The DingTalk HTTP-push endpoint (事件订阅 → HTTP 推送), reference §6.2.

``POST /dingtalk/events?signature=…&timestamp=…&nonce=…`` with ``{"encrypt": "…"}``: the signature is
checked (403 when it fails), the body decrypted with the app's aes_key and owner key (the AppKey for
a console-configured internal app), and every event, ``check_url`` included, is answered with the
encrypted ``success`` DingTalk expects within 2.5 s. Instance changes go to an
:class:`~ferry.connectors.dingtalk.events.EventIntake`, which de-duplicates on ``eventId`` and runs the
handler in the background, so the answer never waits for the fetch.

:func:`engine_handler` wires the handler to the engine: fetch that one instance for the scheme whose
``params.process_code`` names its template, then dispatch that scheme.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from ferry.connectors.dingtalk.crypto import CallbackCrypto, CallbackError, callback_params
from ferry.connectors.dingtalk.events import EventIntake, InstanceChangeHandler, event_type
from ferry.engine.runner import Engine
from ferry.scheme import Scheme

log = logging.getLogger("ferry.console.dingtalk")

CALLBACK_PATH = "/dingtalk/events"


def callback_router(crypto: CallbackCrypto, intake: EventIntake, *, path: str = CALLBACK_PATH) -> APIRouter:
    """The endpoint as a router, to mount in a larger app."""
    router = APIRouter()

    @router.post(path)
    async def receive(request: Request) -> JSONResponse:
        try:
            signature, timestamp, nonce = callback_params(dict(request.query_params))
        except CallbackError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        encrypt = body.get("encrypt") if isinstance(body, dict) else None
        if not isinstance(encrypt, str) or not encrypt:
            return JSONResponse({"error": "body has no encrypt"}, status_code=400)
        try:
            event = crypto.open(signature, timestamp, nonce, encrypt)
        except CallbackError as exc:
            # the reason is ours to log, not the caller's to learn from
            log.warning("DingTalk callback refused: %s", exc)
            return JSONResponse({"error": "signature or payload rejected"}, status_code=403)
        kind = event_type(event)
        if kind != "check_url":
            await intake.accept(event)
        return JSONResponse(crypto.reply("success"))

    return router


def make_callback_app(
    token: str,
    aes_key: str,
    owner_key: str,
    handler: InstanceChangeHandler,
    *,
    path: str = CALLBACK_PATH,
) -> FastAPI:
    """A FastAPI app with the callback endpoint; its ``state.intake`` is the :class:`EventIntake`."""
    crypto = CallbackCrypto(token, aes_key, owner_key)
    intake = EventIntake(handler)
    app = FastAPI(title="Ferry DingTalk callback", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(callback_router(crypto, intake, path=path))
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


def engine_handler(engine: Engine, schemes: Sequence[Scheme]) -> InstanceChangeHandler:
    """Fetch the changed instance into each matching scheme's ledger, then dispatch that scheme."""

    async def on_instance_change(process_code: str, instance_id: str) -> None:
        matched = schemes_for(schemes, process_code)
        if not matched:
            log.info("DingTalk event for %s (%s): no scheme reads that template", instance_id, process_code)
        for scheme in matched:
            report = await engine.collect_ids(scheme, [instance_id], trigger="event")
            if report.records:
                await engine.dispatch(scheme, trigger="event")

    return on_instance_change


__all__ = ["CALLBACK_PATH", "callback_router", "engine_handler", "make_callback_app", "schemes_for"]
