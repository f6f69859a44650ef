"""Run an ASGI app with uvicorn on a background thread, on a free loopback port.

Used by ``ferry demo``, ``ferry sandbox ...`` and the tests, so the real clients talk to the sandboxes
over real HTTP. Part of the sandbox package, so it imports nothing else of Ferry's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (there is a small race; uvicorn fails loudly if lost)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # keep-alive long enough that pooled client connections are not closed under them
        timeout_keep_alive=30,
    )


class _QuietServer(uvicorn.Server):
    """uvicorn that leaves the signals (Ctrl-C) to the program whose loop it shares."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_here(
    app: Any, host: str = "127.0.0.1", log_level: str = "warning", timeout: float = 10.0
) -> AsyncIterator[str]:
    """``async with serve_here(app) as url:`` the app served on the running event loop, as ``ferry
    serve`` serves its routes beside the engine (its handlers share the loop's connectors)."""
    server = _QuietServer(_config(app, host, free_port(host), log_level))
    task = asyncio.create_task(server.serve(), name="asgi-here")
    deadline = time.monotonic() + timeout
    while not server.started:
        if task.done():
            task.result()  # its error, if it has one
            raise RuntimeError(f"server on {host}:{server.config.port} failed to start")
        if time.monotonic() > deadline:
            task.cancel()
            raise TimeoutError(f"server on {host}:{server.config.port} did not start within {timeout}s")
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        await task


class ServerThread:
    """``with ServerThread(app) as server: httpx.get(server.url + "/...")``.

    The server runs its own event loop on a daemon thread; ``stop()`` asks uvicorn to exit and waits.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._server = uvicorn.Server(_config(app, host, self.port, log_level))
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on {self.url} did not start within {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
