"""The ``/_sandbox/`` admin API: instances and transitions, faults, quota, clock, tokens, events, robots."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ferry.sandbox.dingtalk import lifecycle
from ferry.sandbox.dingtalk.state import Sandbox
from ferry.sandbox.dingtalk.stream import StreamSandbox
from ferry.sandbox.dingtalk.wire import json_body


class Admin:
    """The admin endpoints' handlers (routed in :class:`~ferry.sandbox.dingtalk.app.DingTalkApp`)."""

    s: Sandbox

    async def admin_info(self, request: Request) -> Response:
        s = self.s
        return JSONResponse(
            {
                "app_key": s.config.app_key,
                "corp_id": s.config.corp_id,
                "process_code": s.config.process_code,
                "instances": len(s.store),
                "anchor_ms": s.anchor_ms,
                "monthly_quota": s.monthly_quota,
                "qps": s.qps,
                "token_ttl_s": s.token_ttl_s,
                "robot_token": s.config.robot_token,
                "faults": s.faults_view(),
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        body = await json_body(request) or {}
        self.s.reset(body.get("seed_instances"), body.get("random_seed"))
        return JSONResponse({"instances": len(self.s.store)})

    async def admin_list(self, request: Request) -> Response:
        status = request.query_params.get("status")
        items = [i.summary() for i in self.s.store.all() if status is None or i.status == status]
        return JSONResponse({"instances": items})

    async def admin_read(self, request: Request) -> Response:
        inst = self.s.find(request.path_params["instance_id"])
        if inst is None:
            return JSONResponse({"error": "no such instance"}, status_code=404)
        return JSONResponse(inst.admin_view())

    async def admin_create(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        try:
            inst, specs = self.s.create_instance(body)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        events = await self.s.emit(specs)
        return JSONResponse({**inst.admin_view(), "events": [e.view() for e in events]}, status_code=201)

    async def admin_transition(self, request: Request) -> Response:
        inst = self.s.find(request.path_params["instance_id"])
        if inst is None:
            return JSONResponse({"error": "no such instance"}, status_code=404)
        body = await json_body(request) or {}
        at = int(body.get("at_ms") or self.s.clock.now_ms())
        remark = str(body.get("remark", ""))
        action = request.path_params["action"]
        try:
            if action == "approve":
                specs = lifecycle.approve(
                    self.s.store, inst, at, remark, all_steps=not body.get("one_step", False)
                )
            elif action == "refuse":
                specs = lifecycle.refuse(inst, at, remark)
            elif action in ("revoke", "terminate"):
                specs = lifecycle.revoke(inst, at)
            elif action == "cancel":
                specs = lifecycle.revoke(inst, at, status="CANCELED")
            else:
                return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        except lifecycle.TransitionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        events = await self.s.emit(specs)
        return JSONResponse({**inst.admin_view(), "events": [e.view() for e in events]})

    async def admin_faults(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await json_body(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            try:
                self.s.set_faults(body)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.s.faults_view())

    async def admin_calls(self, request: Request) -> Response:
        return JSONResponse(self.s.calls_view())

    async def admin_quota(self, request: Request) -> Response:
        body = await json_body(request) or {}
        if "monthly_quota" in body:
            self.s.monthly_quota = int(body["monthly_quota"])
        if "used" in body:
            self.s.quota_used[self.s.month()] = int(body["used"])
        return JSONResponse(self.s.calls_view())

    async def admin_clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = await json_body(request) or {}
            self.s.clock.advance(float(body.get("advance_s", 0)))
        return JSONResponse({"now_ms": self.s.clock.now_ms(), "offset_s": self.s.clock.offset_s})

    async def admin_expire_tokens(self, request: Request) -> Response:
        return JSONResponse({"expired": self.s.expire_all_tokens()})

    async def admin_callback(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await json_body(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
            try:
                answer = await self.s.register_callback(body)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(answer, status_code=200 if answer["registered"] else 422)
        if request.method == "DELETE":
            self.s.callback = None
        cb = self.s.callback
        return JSONResponse({"url": cb.url if cb else None, "owner_key": cb.owner_key if cb else None})

    async def admin_events(self, request: Request) -> Response:
        iid = request.query_params.get("instance_id")
        return JSONResponse(
            {
                "events": [
                    e.view() for e in self.s.events if iid is None or e.payload["processInstanceId"] == iid
                ]
            }
        )

    async def admin_redeliver(self, request: Request) -> Response:
        event = self.s.events_by_id.get(request.path_params["event_id"])
        if event is None:
            return JSONResponse({"error": "no such event"}, status_code=404)
        streaming = isinstance(self.s, StreamSandbox) and self.s.stream.subscribed
        if self.s.callback is None and not streaming:
            return JSONResponse({"error": "no callback or stream client registered"}, status_code=409)
        record = await self.s.deliver(event)
        return JSONResponse({"delivery": record, "event": event.view()})

    async def admin_add_robot(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not body.get("access_token"):
            return JSONResponse({"error": "access_token is required"}, status_code=400)
        self.s.robots.add(str(body["access_token"]), body.get("secret"), body.get("keywords"))
        return JSONResponse({"access_token": body["access_token"]}, status_code=201)

    async def admin_robot_messages(self, request: Request) -> Response:
        token = request.query_params.get("access_token")
        msgs = [
            {"access_token": m.access_token, "at": m.at, "body": m.body}
            for m in self.s.robots.messages
            if token is None or m.access_token == token
        ]
        return JSONResponse({"messages": msgs})
