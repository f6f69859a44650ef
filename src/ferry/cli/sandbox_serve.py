"""The serving loop `ferry sandbox dingtalk` and `ferry sandbox kingdee` share (imported only by them)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping

import typer

from ferry.sandbox.serve import ServerThread


def serve_sandbox(server: ServerThread, name: str, banner: list[str], faults: Mapping[str, float]) -> None:
    """Start ``server``, echo ``banner`` and the fault rates, and serve until Ctrl-C or SIGTERM.

    ``banner`` may name ``server.url`` before the start: the port is fixed when the server is made."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    for line in banner:
        typer.echo(line)
    if faults:
        typer.echo("  faults: " + ", ".join(f"{k}={v:g}" for k, v in faults.items()))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        typer.echo(f"{name} sandbox stopped.")
