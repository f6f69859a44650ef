"""Benchmark: unsigned oversized POSTs to the DingTalk callback, hardened endpoint beside a naive one.

    .venv/bin/python bench/bench_callback.py [--mib 64] [--parallel 4]

``--parallel`` clients each stream ``--mib`` MiB of chunked, unsigned body at the endpoint (no
Content-Length, so the size cannot be refused from the headers). Side by side, in one process:

- *naive*: what the endpoint did before, ``await request.body()`` and then the signature check;
- *hardened*: :func:`ferry.console.dingtalk_callback.make_callback_app` (64 KiB cap, read as a stream).

Printed: the peak Python memory while the requests run (tracemalloc; the server shares the process),
how long until every client had its answer, and the status codes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ferry.console.dingtalk_callback import CALLBACK_PATH, make_callback_app
from ferry.sandbox.serve import ServerThread

MIB = 1024 * 1024
TOKEN, AES_KEY = "benchtoken1", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def naive_app() -> FastAPI:
    app = FastAPI()

    @app.post(CALLBACK_PATH)
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()  # the whole body first, as before
        return JSONResponse({"error": "signature or payload rejected", "read": len(body)}, status_code=403)

    return app


async def _ignore(process_code: str, instance_id: str) -> None:
    return None


async def flood(url: str, mib: int, parallel: int) -> list[str]:
    query = {"signature": "a" * 40, "timestamp": str(int(time.time() * 1000)), "nonce": "x"}

    async def body() -> AsyncIterator[bytes]:
        block = b"x" * (64 * 1024)
        for _ in range(mib * 16):
            yield block

    async def one(http: httpx.AsyncClient) -> str:
        try:
            answer = await http.post(url + CALLBACK_PATH, params=query, content=body())
            return str(answer.status_code)
        except httpx.HTTPError as e:
            # the server answered early and closed while we were still sending
            return type(e).__name__

    async with httpx.AsyncClient(timeout=120) as http:
        return list(await asyncio.gather(*(one(http) for _ in range(parallel))))


def measure(app: Any, mib: int, parallel: int) -> tuple[float, float, list[str]]:
    with ServerThread(app) as server:
        tracemalloc.start()
        started = time.perf_counter()
        try:
            codes = asyncio.run(flood(server.url, mib, parallel))
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / MIB
        finally:
            tracemalloc.stop()
    return peak, elapsed, codes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    print(f"{args.parallel} unsigned chunked POSTs of {args.mib} MiB each")
    hardened = make_callback_app(TOKEN, AES_KEY, "benchkey", _ignore)
    for name, app in (("naive (read, then check)", naive_app()), ("hardened (64 KiB cap)", hardened)):
        peak, elapsed, codes = measure(app, args.mib, args.parallel)
        print(f"  {name:26s} peak {peak:8.1f} MiB   {elapsed:6.2f} s   answers {sorted(codes)}")


if __name__ == "__main__":
    main()
