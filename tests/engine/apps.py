"""Two small real HTTP services for engine tests: a paged source ("shop") and a target ("erp").

They run on loopback with ServerThread; the engine reaches them through the generic REST connector.
The erp counts documents per external id, so a test can prove that nothing was written twice.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SHOP_TZ = ZoneInfo("Asia/Shanghai")


def shop_time(value: str) -> float:
    """A time filter as the shop reads it: Unix seconds, or ``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai."""
    try:
        return float(value)
    except ValueError:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHOP_TZ).timestamp()


def shop_app(
    orders: list[dict[str, Any]], latency_s: float = 0.0, seen: list[dict[str, str]] | None = None
) -> FastAPI:
    """GET /orders?page=N&size=M[&updated_from=T&updated_to=T] -> {"data": {"items": [...], "total": T}}

    ``orders`` may be extended while the app runs. An order with a ``created`` time (Unix seconds) is
    listed only when it falls in ``[updated_from, updated_to)``, if those are given; orders without
    one are always listed. ``seen`` receives every request's query parameters.
    """
    app = FastAPI()

    @app.get("/orders")
    def list_orders(
        request: Request,
        page: int = 1,
        size: int = 10,
        updated_from: str | None = None,
        updated_to: str | None = None,
    ) -> dict[str, Any]:
        if latency_s:
            time.sleep(latency_s)
        if seen is not None:
            seen.append(dict(request.query_params))
        low = shop_time(updated_from) if updated_from else None
        high = shop_time(updated_to) if updated_to else None
        listed = [
            o
            for o in list(orders)
            if "created" not in o
            or ((low is None or o["created"] >= low) and (high is None or o["created"] < high))
        ]
        start = (page - 1) * size
        return {"code": 0, "data": {"items": listed[start : start + size], "total": len(listed)}}

    return app


class Erp:
    """The target's state, shared with the test for assertions and fault scripting."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.docs: dict[str, list[dict[str, Any]]] = {}
        self.fail_times: dict[str, int] = {}  # external_id -> how many more 503s
        self.reject: set[str] = set()  # external ids answered with 422 (permanent)
        self.latency_s = latency_s
        self.posts = 0
        #: requests that reached the endpoint (a request is in flight while arrived > posts)
        self.arrived = 0
        #: the ERP's own master data about orders, for lookups: number -> expected amount
        self.expected: dict[str, str] = {}

    def count(self, external_id: str) -> int:
        with self.lock:
            return len(self.docs.get(external_id, []))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/documents")
        async def create(request: Request) -> JSONResponse:
            body = await request.json()
            ext = str(body.get("external_id"))
            with self.lock:
                self.arrived += 1
            if self.latency_s:
                time.sleep(self.latency_s)  # a slow target (blocks this server's loop on purpose)
            with self.lock:
                self.posts += 1
                if self.fail_times.get(ext, 0) > 0:
                    self.fail_times[ext] -= 1
                    return JSONResponse({"error": "busy, try later"}, status_code=503)
                if ext in self.reject:
                    return JSONResponse({"error": f"amount invalid for {ext}"}, status_code=422)
                n = sum(len(v) for v in self.docs.values()) + 1
                doc = {"id": f"D{n:06d}", "number": f"DOC-{n:06d}", **body}
                self.docs.setdefault(ext, []).append(doc)
            return JSONResponse({"id": doc["id"], "number": doc["number"]}, status_code=201)

        @app.get("/expected")
        def expected(no: str) -> dict[str, Any]:
            amount = self.expected.get(no)
            return {"items": [] if amount is None else [{"no": no, "amount": amount}]}

        @app.get("/documents")
        def find(external_id: str) -> dict[str, Any]:
            with self.lock:
                return {
                    "items": [{"id": d["id"], "number": d["number"]} for d in self.docs.get(external_id, [])]
                }

        return app


def orders(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"O{i:05d}", "no": f"SO-{i:05d}", "amount": f"{i}.50", "customer": {"name": f"客户{i}"}}
        for i in range(1, n + 1)
    ]


def scheme_yaml(batch_size: int = 1, max_attempts: int = 3) -> str:
    return f"""
id: shop-to-erp
source:
  connection: shop
  api: /orders
  method: GET
  id: id
  number: "no"
  records_path: data.items
  pagination: {{style: page, param: page, size_param: size, page_size: 10, total_path: data.total}}
  initial_days: 1
target:
  connection: erp
  api: /documents
  method: POST
  batch_size: {batch_size}
  params: {{id_path: id, number_path: number}}
  request:
    - {{field: external_id, value: "{{{{id}}}}"}}
    - {{field: number, value: "{{{{no}}}}"}}
    - {{field: amount, type: number, value: "{{{{amount}}}}"}}
    - {{field: customer, value: "{{{{customer.name}}}}"}}
  probe:
    method: GET
    path: /documents
    params: {{external_id: "{{source_id}}"}}
    found_path: items
    id_path: id
    number_path: number
retry: {{max_attempts: {max_attempts}, initial_delay: 0.05, max_delay: 0.2, jitter: 0}}
"""


def connections_yaml(shop_url: str, erp_url: str) -> str:
    return f"""
shop:
  type: http
  base_url: {shop_url}
erp:
  type: http
  base_url: {erp_url}
"""
