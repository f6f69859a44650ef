"""Real local HTTP servers for the REST connector tests: an "orders" list API and a "documents" target API.

Both are FastAPI apps served on loopback by :class:`ServerThread`, so the client under test speaks real
HTTP. The orders API pages in all four styles and checks every auth mode; the documents API creates
documents, answers array batches with mixed per-item outcomes, injects faults for the next N calls, and
looks documents up by external id (for the probe).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

ORDER_COUNT = 23
BEARER_TOKEN = "bearer-Tok3n-7c1d9e"
BASIC_USER = "ferry"
BASIC_PASSWORD = "basic-Pa55w0rd-41b2"
HEADER_KEY = "header-K3y-92ab77"
QUERY_KEY = "query-K3y-5d0e21"
CLIENT_ID = "ferry-client"
CLIENT_SECRET = "client-S3cret-88ef04"

ORDERS = [{"id": f"O-{i:03d}", "amount": i * 10, "status": "done"} for i in range(1, ORDER_COUNT + 1)]


def _window(start: int, size: int) -> list[dict[str, Any]]:
    return ORDERS[start : start + size]


class Truncated(Response):
    """Declares a longer body than it sends, then ends: the client sees the connection drop mid-answer."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "D', "more_body": False})


@dataclass
class OrdersState:
    calls: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)


def orders_app(state: OrdersState) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def note(request: Request, body: Any = None) -> None:
        state.calls.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "body": body,
                "headers": dict(request.headers),
            }
        )

    @app.get("/orders/page")
    async def by_page(request: Request, page: int = 1, page_size: int = 10) -> Any:
        note(request)
        return {"data": {"items": _window((page - 1) * page_size, page_size), "total": ORDER_COUNT}}

    @app.post("/orders/page")
    async def by_page_body(request: Request) -> Any:
        body = await request.json()
        note(request, body)
        paging = body.get("paging", body)
        page, size = int(paging["page"]), int(paging.get("size", 10))
        return {"data": {"items": _window((page - 1) * size, size)}}

    @app.get("/orders/offset")
    async def by_offset(request: Request, offset: int = 0, limit: int = 10) -> Any:
        note(request)
        return {"items": _window(offset, limit)}

    @app.get("/orders/cursor")
    async def by_cursor(request: Request, cursor: str = "c0", limit: int = 10) -> Any:
        note(request)
        start = int(cursor[1:])
        items = _window(start, limit)
        nxt = start + limit
        return {"items": items, "next_cursor": f"c{nxt}" if nxt < ORDER_COUNT else None}

    @app.get("/orders/links")
    async def by_links(request: Request, after: int = 0, limit: int = 10, absolute: int = 0) -> Any:
        note(request)
        nxt = after + limit
        link = None
        if nxt < ORDER_COUNT:
            link = f"/orders/links?after={nxt}&limit={limit}&absolute={absolute}"
            if absolute:
                link = str(request.base_url).rstrip("/") + link
        return {"items": _window(after, limit), "links": {"next": link}}

    @app.get("/orders/bare")
    async def bare(request: Request) -> Any:
        note(request)
        return ORDERS[:5]

    @app.get("/orders/loop")
    async def loop(request: Request, cursor: str = "") -> Any:
        note(request)
        return {"items": ORDERS[:2], "next_cursor": "again"}

    @app.get("/orders/stuck")
    async def stuck(request: Request) -> Any:
        # ignores every paging parameter: always the first page
        note(request)
        return {"items": ORDERS[:10]}

    @app.get("/orders/endless")
    async def endless(request: Request, page: int = 1) -> Any:
        note(request)
        return {"items": [{"id": f"E-{page}"}]}

    @app.get("/echo")
    async def echo_get(request: Request) -> Any:
        note(request)
        return {"items": [{"id": "echo", "query": dict(request.query_params)}]}

    @app.post("/echo")
    async def echo_post(request: Request) -> Any:
        body = await request.json()
        note(request, body)
        return {"items": [{"id": "echo", "query": dict(request.query_params), "body": body}]}

    # -- auth ------------------------------------------------------------------------------------

    def denied() -> JSONResponse:
        return JSONResponse({"message": "bad credentials"}, status_code=401)

    ok: dict[str, Any] = {"items": [{"id": "secret-ok"}]}

    @app.get("/secure/bearer")
    async def sec_bearer(request: Request) -> Any:
        note(request)
        return ok if request.headers.get("authorization") == f"Bearer {BEARER_TOKEN}" else denied()

    @app.get("/secure/basic")
    async def sec_basic(request: Request) -> Any:
        note(request)
        want = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
        return ok if request.headers.get("authorization") == want else denied()

    @app.get("/secure/header")
    async def sec_header(request: Request) -> Any:
        note(request)
        if request.headers.get("x-api-key") != HEADER_KEY:
            return JSONResponse({"message": "forbidden"}, status_code=403)
        return ok

    @app.get("/secure/query")
    async def sec_query(request: Request) -> Any:
        note(request)
        if request.query_params.get("api_key") != QUERY_KEY:
            # echoes the URL back, as careless APIs do: the client must redact it
            return JSONResponse({"message": f"bad key in {request.url}"}, status_code=401)
        return ok

    @app.get("/secure/query-error")
    async def sec_query_error(request: Request) -> Any:
        note(request)
        return JSONResponse({"message": f"cannot serve {request.url}"}, status_code=400)

    @app.post("/oauth/token")
    async def token(request: Request) -> Any:
        # parsed by hand: Starlette's form parsing needs python-multipart, which Ferry does not depend on
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        note(request, form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        tok = f"oauth-token-{len(state.tokens_issued) + 1:04d}"
        state.tokens_issued.append(tok)
        return {"access_token": tok, "token_type": "bearer"}

    @app.get("/secure/oauth")
    async def sec_oauth(request: Request) -> Any:
        note(request)
        auth = request.headers.get("authorization", "")
        tok = auth.removeprefix("Bearer ")
        if tok not in state.tokens_issued or tok in state.revoked:
            return JSONResponse({"message": "token expired"}, status_code=401)
        return ok

    # -- failures --------------------------------------------------------------------------------

    @app.api_route("/status/{code}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def status(request: Request, code: int) -> Any:
        note(request)
        headers = (
            {"Retry-After": "7", "X-Request-Id": "req-123"} if code == 429 else {"X-Request-Id": "req-123"}
        )
        return JSONResponse(
            {"message": f"failure {code}", "code": f"E{code}"}, status_code=code, headers=headers
        )

    @app.get("/long-error")
    async def long_error(request: Request) -> Any:
        return PlainTextResponse("x" * 5000, status_code=400)

    @app.api_route("/malformed", methods=["GET", "POST"])
    async def malformed(request: Request) -> Any:
        return PlainTextResponse("<html>oops</html>", status_code=200)

    @app.api_route("/slow", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def slow(request: Request, seconds: float = 1.0) -> Any:
        await asyncio.sleep(seconds)
        return {}

    @app.api_route("/truncated", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def truncated(request: Request) -> Any:
        return Truncated()

    @app.get("/empty")
    async def empty(request: Request) -> Any:
        return Response(status_code=204)

    return app


@dataclass
class DocsState:
    docs: list[dict[str, Any]] = field(default_factory=list)
    #: modes for the next calls to POST /docs: "429", "500", "drop" (create, then cut the answer), "slow"
    faults: list[str] = field(default_factory=list)
    calls: int = 0


def docs_app(state: DocsState) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def create(body: dict[str, Any]) -> dict[str, Any]:
        n = len(state.docs) + 1
        doc = {"id": f"D{n}", "number": f"PAY-{n:04d}", "external_id": body.get("external_id"), "body": body}
        state.docs.append(doc)
        return doc

    @app.post("/_faults")
    async def faults(request: Request) -> Any:
        body = await request.json()
        state.faults.extend([body["mode"]] * int(body.get("count", 1)))
        return {"queued": len(state.faults)}

    @app.post("/docs")
    async def post_doc(request: Request) -> Any:
        state.calls += 1
        body = await request.json()
        fault = state.faults.pop(0) if state.faults else None
        if fault == "429":
            return JSONResponse(
                {"message": "too many requests"}, status_code=429, headers={"Retry-After": "3"}
            )
        if fault == "500":
            return JSONResponse({"message": "internal error"}, status_code=500)
        if body.get("amount", 0) <= 0:
            return JSONResponse({"message": "amount must be positive", "code": "V001"}, status_code=422)
        doc = create(body)
        if fault == "drop":
            return Truncated()
        if fault == "slow":
            await asyncio.sleep(1.0)
        return JSONResponse({"data": {"id": doc["id"], "number": doc["number"]}}, status_code=201)

    @app.post("/docs/batch")
    async def post_batch(request: Request, order: str = "", plain: int = 0, short: int = 0) -> Any:
        state.calls += 1
        body = await request.json()
        items = body["items"] if isinstance(body, dict) else body
        results: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            fail = item.get("fail")
            if fail == "permanent":
                r: dict[str, Any] = {
                    "status": 422,
                    "error": {"message": "bank account missing", "code": "V002"},
                }
            elif fail == "transient":
                r = {"status": 503, "retryable": True, "error": "ledger busy"}
            elif fail == "throttled":
                r = {"status": 429, "error": "slow down"}
            else:
                doc = create(item)
                r = {"status": 201, "id": doc["id"], "number": doc["number"]}
            if not plain:
                r["index"] = i
            results.append(r)
        if order == "reversed":
            results.reverse()
        if short:
            results.pop()
        return {"results": results}

    @app.get("/docs")
    async def find(external_id: str = "", number: str = "") -> Any:
        found = [
            {"id": d["id"], "number": d["number"]}
            for d in state.docs
            if (external_id and d["external_id"] == external_id) or (number and d["number"] == number)
        ]
        return {"items": found}

    return app


@dataclass
class Running:
    url: str
    state: Any
