"""The sandbox as an ASGI app: both DingTalk hosts, the robot webhook and the ``/_sandbox/`` admin API.

The client picks the host by path, as it would pick ``oapi.dingtalk.com`` or ``api.dingtalk.com``:
``/gettoken`` and ``/topapi/...`` answer like the legacy host (always HTTP 200, ``errcode`` bodies);
``/v1.0/...`` answers like the new one (real HTTP status, ``code``/``message``/``requestid`` bodies).

:class:`DingTalkApp` is assembled from one layer per host: :mod:`.legacy_host` and :mod:`.v1_host`, both
behind the checks in :mod:`.gateway`, and :mod:`.admin` for the admin API; :mod:`.wire` shapes the answers
and :mod:`.transport` injects the faults below the app. Routing, the robot webhook and ``create_app`` stay
here.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ferry.sandbox.dingtalk.admin import Admin
from ferry.sandbox.dingtalk.config import SandboxConfig
from ferry.sandbox.dingtalk.gateway import (
    DAY_MS,
    MAX_AGE_MS,
    MAX_IDS_PER_LOOP,
    MAX_PAGE,
    MAX_SPAN_MS,
    MAX_USERS,
    Handler,
)
from ferry.sandbox.dingtalk.legacy_host import LEGACY_GET, LEGACY_LIST, LegacyHost
from ferry.sandbox.dingtalk.state import Sandbox
from ferry.sandbox.dingtalk.stream import StreamSandbox, stream_routes
from ferry.sandbox.dingtalk.transport import TransportFaults
from ferry.sandbox.dingtalk.v1_host import V1_GET, V1_LIST, V1_SCHEMA, V1Host, form_schema
from ferry.sandbox.dingtalk.wire import json_body, legacy, legacy_error, legacy_wrapped, v1_error, v1_ok


class DingTalkApp(LegacyHost, V1Host, Admin):
    """Builds the Starlette app around one :class:`Sandbox`; see the package README for the routes."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.s = sandbox
        routes = [
            Route("/gettoken", self.legacy_token, methods=["GET"]),
            Route("/topapi/processinstance/listids", self.legacy_list, methods=["POST"]),
            Route("/topapi/processinstance/get", self.legacy_get, methods=["POST"]),
            Route("/v1.0/oauth2/accessToken", self.v1_token, methods=["POST"]),
            Route("/v1.0/workflow/processes/instanceIds/query", self.v1_list, methods=["POST"]),
            Route("/v1.0/workflow/processInstances", self.v1_get, methods=["GET"]),
            Route("/v1.0/workflow/forms/schemas/processCodes", self.v1_schema, methods=["GET"]),
            Route("/robot/send", self.robot_send, methods=["POST"]),
            Route("/_sandbox/", self.admin_info, methods=["GET"]),
            Route("/_sandbox/reset", self.admin_reset, methods=["POST"]),
            Route("/_sandbox/instances", self.admin_list, methods=["GET"]),
            Route("/_sandbox/instances", self.admin_create, methods=["POST"]),
            Route("/_sandbox/instances/{instance_id}", self.admin_read, methods=["GET"]),
            Route("/_sandbox/instances/{instance_id}/{action}", self.admin_transition, methods=["POST"]),
            Route("/_sandbox/faults", self.admin_faults, methods=["GET", "PUT"]),
            Route("/_sandbox/calls", self.admin_calls, methods=["GET"]),
            Route("/_sandbox/quota", self.admin_quota, methods=["PUT"]),
            Route("/_sandbox/clock", self.admin_clock, methods=["GET", "POST"]),
            Route("/_sandbox/tokens/expire", self.admin_expire_tokens, methods=["POST"]),
            Route("/_sandbox/callback", self.admin_callback, methods=["GET", "PUT", "DELETE"]),
            Route("/_sandbox/events", self.admin_events, methods=["GET"]),
            Route("/_sandbox/events/{event_id}/deliver", self.admin_redeliver, methods=["POST"]),
            Route("/_sandbox/robots", self.admin_add_robot, methods=["POST"]),
            Route("/_sandbox/robot/messages", self.admin_robot_messages, methods=["GET"]),
            *stream_routes(sandbox),
        ]
        self.starlette = Starlette(routes=routes)

    # ================================================================ robot
    async def robot_send(self, request: Request) -> Response:
        """``POST /robot/send?access_token=&timestamp=&sign=`` (the group robot webhook)."""
        q = request.query_params
        body = await json_body(request)
        answer = self.s.robots.send(
            q.get("access_token", ""), q.get("timestamp"), q.get("sign"), body, self.s.clock.now()
        )
        return JSONResponse(answer)


def create_app(config: SandboxConfig | None = None) -> TransportFaults:
    """The sandbox ASGI app; its ``sandbox`` attribute (the :class:`Sandbox`) is there for in-process use."""
    sandbox = StreamSandbox(config or SandboxConfig())
    return TransportFaults(DingTalkApp(sandbox).starlette, sandbox)


__all__ = [
    "DAY_MS",
    "LEGACY_GET",
    "LEGACY_LIST",
    "MAX_AGE_MS",
    "MAX_IDS_PER_LOOP",
    "MAX_PAGE",
    "MAX_SPAN_MS",
    "MAX_USERS",
    "V1_GET",
    "V1_LIST",
    "V1_SCHEMA",
    "DingTalkApp",
    "Handler",
    "TransportFaults",
    "create_app",
    "form_schema",
    "legacy",
    "legacy_error",
    "legacy_wrapped",
    "v1_error",
    "v1_ok",
]
