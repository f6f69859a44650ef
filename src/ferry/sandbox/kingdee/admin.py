"""The ``/_sandbox/`` admin API: config, reset, bills and their links, pay-bill counts, faults, stats, forms."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ferry.sandbox.kingdee.bills import AP_PAYBILL, CN_PAYAPPLY, Bill, OperationError, get_ci
from ferry.sandbox.kingdee.faults import FAULT_NAMES, parse_latency
from ferry.sandbox.kingdee.seed import payment_request, seed_payment_requests
from ferry.sandbox.kingdee.state import SandboxState


class Admin(SandboxState):
    """The admin endpoints' handlers (routed in :meth:`~ferry.sandbox.kingdee.app.KingdeeSandbox._routes`)."""

    async def admin_index(self, request: Request) -> Response:
        """List the admin endpoints."""
        return JSONResponse(
            {
                "service": "Ferry Kingdee sandbox",
                "base_url": str(request.base_url) + "k3cloud/",
                "endpoints": {
                    "GET /_sandbox/config": "non-secret settings; PUT {envelope_style, session_ttl}",
                    "POST /_sandbox/reset": "clear bills, sessions, faults, counters; body {seed_bills?}",
                    "GET /_sandbox/bills?form_id=&status=": "bill summaries",
                    "POST /_sandbox/bills": "seed bills: {form_id?, count?} or {bills: [{number, amount, amounts, status, "
                    "settle_type, supplier, purpose, date, fields}]}",
                    "GET /_sandbox/bills/{form_id}/{number_or_id}": "one bill with its life-cycle state and links",
                    "GET /_sandbox/paybills/count?source=": "AP_PAYBILL bills per source bill number",
                    "GET|PUT|DELETE /_sandbox/faults": "faults {name: rate | {rate, ops, count}} and latency_ms [min,max]",
                    "GET /_sandbox/stats": "call counters, logins, faults fired, live sessions",
                    "POST /_sandbox/sessions/expire": "drop every session (as after 20 idle minutes)",
                    "POST /_sandbox/forms": "register a generic form {form_id, name?}",
                },
                "faults": list(FAULT_NAMES),
            }
        )

    async def admin_config(self, request: Request) -> Response:
        """Non-secret settings; ``PUT`` changes ``envelope_style`` or ``session_ttl`` at run time."""
        if request.method == "PUT":
            body = await request.json()
            if "envelope_style" in body:
                if body["envelope_style"] not in ("modern", "legacy"):
                    return JSONResponse({"error": "envelope_style must be modern or legacy"}, status_code=400)
                self.envelope_style = body["envelope_style"]
            if "session_ttl" in body:
                self.sessions.ttl = float(body["session_ttl"])
        return JSONResponse(
            {
                "acct_id": self.creds.acct_id,
                "username": self.creds.username,
                "app_id": self.creds.app_id,
                "lcid": self.creds.lcid,
                "session_ttl": self.sessions.ttl,
                "envelope_style": self.envelope_style,
                "forms": sorted(spec.form_id for spec in self.store.specs.values()),
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        """Back to an empty store (reseeded with ``seed_bills``), no sessions, no faults, zero counters."""
        body = await _json_body(request)
        seeded = self.reset(int(body.get("seed_bills", 0) or 0))
        return JSONResponse({"reset": True, "seeded": [b.number for b in seeded]})

    def _summary(self, bill: Bill) -> dict[str, Any]:
        total = sum(
            float(get_ci(r, "FAPPLYAMOUNTFOR") or get_ci(r, "FPAYTOTALAMOUNTFOR") or 0)
            for e in (CN_PAYAPPLY.entries + AP_PAYBILL.entries[:1])
            for r in bill.entry_rows(e)
        )
        return {
            "id": bill.fid,
            "form_id": bill.form_id,
            "number": bill.number,
            "status": bill.status,
            "amount": round(total, 2),
            "pushed_amount": round(sum(bill.pushed.values()), 2),
            "sources": sorted({link.source_number for link in bill.links}),
        }

    async def admin_bills(self, request: Request) -> Response:
        """``GET``: summaries; ``POST``: seed payment requests (or generic bills)."""
        if request.method == "GET":
            form_id = request.query_params.get("form_id", CN_PAYAPPLY.form_id)
            status = request.query_params.get("status")
            with self.store.lock:
                bills = [b for b in self.store.bills(form_id) if status is None or b.status == status]
                return JSONResponse({"bills": [self._summary(b) for b in bills]})
        body = await _json_body(request)
        form_id = str(body.get("form_id") or CN_PAYAPPLY.form_id)
        created: list[Bill] = []
        try:
            if form_id.casefold() == CN_PAYAPPLY.form_id.casefold():
                if "bills" in body:
                    for item in body["bills"]:
                        created.append(
                            payment_request(
                                self.store,
                                self.rng,
                                number=item.get("number"),
                                amount=item.get("amount"),
                                amounts=item.get("amounts"),
                                status=item.get("status", "C"),
                                # an explicit null (or "missing_settle_type": true) leaves the settle type out
                                settle_type=None
                                if item.get("missing_settle_type")
                                else item.get("settle_type", "JSFS04_SYS"),
                                supplier=item.get("supplier"),
                                purpose=item.get("purpose", "SFKYT01_SYS"),
                                date=item.get("date"),
                                fields=item.get("fields"),
                            )
                        )
                else:
                    created = seed_payment_requests(self.store, int(body.get("count", 1)), self.rng)
            else:
                for item in body.get("bills", []):
                    outcome = self.store.save_one(
                        form_id, item.get("model", item.get("fields", {})), 0, draft=item.get("status") == "Z"
                    )
                    if not outcome.ok or outcome.bill_id is None:
                        return JSONResponse({"error": [e.message for e in outcome.errors]}, status_code=400)
                    bill = self.store.get(form_id, fid=outcome.bill_id)
                    assert bill is not None
                    target = str(item.get("status", bill.status))
                    if target in ("B", "C") and bill.status == "A":
                        self.store.transition(bill, "Submit", 0)
                    if target == "C" and bill.status == "B":
                        self.store.transition(bill, "Audit", 0)
                    created.append(bill)
        except (ValueError, OperationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"bills": [self._summary(b) for b in created]})

    async def admin_bill(self, request: Request) -> Response:
        """One bill with model, status, pushed amounts and links, by number or internal id."""
        form_id, key = request.path_params["form_id"], request.path_params["key"]
        with self.store.lock:
            bill = self.store.get(form_id, number=key)
            if bill is None and key.isdigit():
                bill = self.store.get(form_id, fid=int(key))
            if bill is None:
                return JSONResponse({"error": f"no {form_id} bill {key}"}, status_code=404)
            return JSONResponse(
                {
                    **self._summary(bill),
                    "model": bill.package(),
                    "pushed": {str(k): v for k, v in bill.pushed.items()},
                    "links": [vars_of(link) for link in bill.links],
                }
            )

    async def admin_paybill_count(self, request: Request) -> Response:
        """AP_PAYBILL bills linked to each source number (``?source=A&source=B``; all sources if none)."""
        sources = request.query_params.getlist("source")
        include_drafts = request.query_params.get("include_drafts", "true").lower() != "false"
        with self.store.lock:
            counts = self.store.paybill_counts(sources, include_drafts)
        return JSONResponse({"counts": counts, "total": sum(counts.values())})

    async def admin_faults(self, request: Request) -> Response:
        """Read, set (``PUT``/``POST`` merge; ``"replace": true`` first clears) or clear (``DELETE``) faults."""
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method in ("PUT", "POST"):
            body = await _json_body(request)
            try:
                if body.get("replace"):
                    self.faults.clear()
                self.faults.set_many(body.get("faults", {}))
                latency = body.get("latency_ms")
                if isinstance(latency, str):
                    self.faults.latency_ms = parse_latency(latency)
                elif isinstance(latency, list) and len(latency) == 2:
                    self.faults.latency_ms = parse_latency(f"{int(latency[0])}-{int(latency[1])}")
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.describe())

    async def admin_stats(self, request: Request) -> Response:
        """Counters: calls per operation, logins per mode, faults fired, live sessions."""
        return JSONResponse(
            {
                "calls": dict(self.calls),
                "logins": dict(self.logins),
                "faults_fired": dict(self.faults.fired),
                "sessions_live": self.sessions.count(),
            }
        )

    async def admin_expire_sessions(self, request: Request) -> Response:
        """Drop all sessions, as if every one had been idle past its TTL."""
        return JSONResponse({"dropped": self.sessions.drop_all()})

    async def admin_forms(self, request: Request) -> Response:
        """Register one more generic form."""
        body = await _json_body(request)
        if not body.get("form_id"):
            return JSONResponse({"error": "form_id is required"}, status_code=400)
        spec = self.store.register_form(str(body["form_id"]), body.get("name"))
        return JSONResponse({"form_id": spec.form_id, "name": spec.name})


def vars_of(link: Any) -> dict[str, Any]:
    """A dataclass-with-slots as a dict (for JSON)."""
    return {name: getattr(link, name) for name in link.__slots__}


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    data = json.loads(body)
    return data if isinstance(data, dict) else {}
