"""Benchmark: what the shared transport's limits cost and what they save, side by side in one process.

    .venv/bin/python bench/bench_transport.py [--big-mib 65] [--calls 500]

Against a loopback server (uvicorn on a thread):

(a) a ``--big-mib`` MiB JSON page: peak Python memory (tracemalloc) reading it with plain httpx
    (``get`` + ``json()``) versus the transport with its default 16 MiB cap (refused at the cap);
(b) a trickling answer (one byte every 20 ms, ~10 s in all) with a 2 s timeout: seconds until plain
    httpx (``Timeout(2)``, per read) gives up versus the transport (a 2 s deadline per call);
(c) ``--calls`` small GETs, 8 at a time: calls per second with plain httpx versus the transport
    (the overhead of streaming, the cap and the deadline on the fast path; best of three, alternated);
(d) parsing a 10 MiB page of nested records: ``json.loads`` versus ``parse_json`` (which also walks
    the answer to refuse nesting deeper than 100 levels).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from typing import Any

import httpx

from ferry.connectors.bodies import parse_json
from ferry.connectors.errors import ConnectorError
from ferry.connectors.transport import Transport, TransportLimits
from ferry.sandbox.serve import ServerThread

MIB = 1024 * 1024


class Server:
    """``/big?mib=N`` a JSON list of N MiB; ``/trickle`` ~500 bytes at 20 ms each; ``/small`` 40 bytes."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, query = scope["path"], scope.get("query_string", b"").decode()
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
        await send(start)
        if path == "/big":
            mib = int(query.split("=")[1])
            row = json.dumps({"id": "x" * 50, "amount": 12345.67, "note": "y" * 40}).encode() + b","
            chunk = row * (64 * 1024 // len(row))
            gone = asyncio.Event()

            async def watch() -> None:
                # stop streaming once the client hung up (the capped read refuses at 16 MiB)
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone.set()

            watcher = asyncio.create_task(watch())
            await send({"type": "http.response.body", "body": b"[", "more_body": True})
            for _ in range(mib * MIB // len(chunk)):
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.sleep(0)
            watcher.cancel()
            await send({"type": "http.response.body", "body": b"{}]", "more_body": False})
        elif path == "/trickle":
            for _ in range(500):
                await asyncio.sleep(0.02)
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await send({"type": "http.response.body", "body": b"{}", "more_body": False})
        else:
            await send({"type": "http.response.body", "body": b'{"ok": true, "id": "0123456789"}'})


async def peak(run: Any) -> tuple[float, str]:
    tracemalloc.start()
    try:
        outcome = await run()
        return tracemalloc.get_traced_memory()[1] / MIB, outcome
    finally:
        tracemalloc.stop()


async def main_async(args: argparse.Namespace) -> None:
    with ServerThread(Server()) as server:
        url = server.url

        async def plain_big() -> str:
            async with httpx.AsyncClient(timeout=60) as http:
                rows = (await http.get(f"{url}/big", params={"mib": args.big_mib})).json()
                return f"read {len(rows)} rows"

        async def capped_big() -> str:
            t = Transport(limits=TransportLimits(deadline_s=60))
            try:
                await t.request("GET", f"{url}/big?mib={args.big_mib}", api="big")
                return "read"
            except ConnectorError as e:
                return f"refused ({e.code})"
            finally:
                await t.aclose()

        plain_mib, plain_what = await peak(plain_big)
        capped_mib, capped_what = await peak(capped_big)
        print(f"(a) {args.big_mib} MiB page, peak memory")
        print(f"    plain httpx          {plain_mib:8.1f} MiB  {plain_what}")
        print(f"    transport (16 MiB)   {capped_mib:8.1f} MiB  {capped_what}")
        print(f"    ratio                {plain_mib / capped_mib:8.1f} x less")

        started = time.perf_counter()
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                await http.get(f"{url}/trickle")
            plain_what = "answer read"
        except httpx.HTTPError as e:
            plain_what = type(e).__name__
        plain_s = time.perf_counter() - started
        started = time.perf_counter()
        t = Transport(limits=TransportLimits(deadline_s=2))
        try:
            await t.request("GET", f"{url}/trickle", api="trickle")
            capped_what = "answer read"
        except ConnectorError as e:
            capped_what = f"{type(e).__name__} ({e.code})"
        finally:
            await t.aclose()
        capped_s = time.perf_counter() - started
        print("(b) trickling answer, timeout 2 s")
        print(f"    plain httpx          {plain_s:8.2f} s    {plain_what}")
        print(f"    transport            {capped_s:8.2f} s    {capped_what}")

        slots = asyncio.Semaphore(8)

        async def plain_calls() -> float:
            async with httpx.AsyncClient(timeout=10) as http:

                async def one() -> None:
                    async with slots:
                        (await http.get(f"{url}/small")).json()

                started = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(args.calls)))
                return args.calls / (time.perf_counter() - started)

        async def transport_calls() -> float:
            t = Transport(limits=TransportLimits(deadline_s=10))

            async def one() -> None:
                async with slots:
                    (await t.request("GET", f"{url}/small", api="small")).json()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(args.calls)))
            rate = args.calls / (time.perf_counter() - started)
            await t.aclose()
            return rate

        await plain_calls()  # warm up
        # alternate, best of three each: the server shares this process and the machine is shared too
        plain_rate = transport_rate = 0.0
        for _ in range(3):
            plain_rate = max(plain_rate, await plain_calls())
            transport_rate = max(transport_rate, await transport_calls())
        print(f"(c) {args.calls} small GETs, 8 at a time (best of 3)")
        print(f"    plain httpx          {plain_rate:8.0f} calls/s")
        print(f"    transport            {transport_rate:8.0f} calls/s")
        print(f"    ratio                {transport_rate / plain_rate:8.2f}")

    record = {"id": "x" * 20, "amount": 1.5, "payee": {"name": "n", "bank": {"account": "a", "tags": [1, 2]}}}
    page = json.dumps({"items": [record] * (10 * MIB // len(json.dumps(record)))}).encode()
    plain_s = min(_timed(lambda: json.loads(page)) for _ in range(3))
    checked_s = min(_timed(lambda: parse_json(page)) for _ in range(3))
    print(f"(d) parsing a {len(page) / MIB:.0f} MiB page of nested records (best of 3)")
    print(f"    json.loads           {plain_s * 1000:8.0f} ms")
    print(f"    parse_json           {checked_s * 1000:8.0f} ms  (with the depth walk)")
    print(f"    ratio                {checked_s / plain_s:8.2f}")


def _timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mib", type=int, default=65)
    ap.add_argument("--calls", type=int, default=500)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
