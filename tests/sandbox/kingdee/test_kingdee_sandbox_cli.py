"""`ferry sandbox kingdee`: starts with its options, serves, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from ferry.sandbox.serve import free_port

# register only this command: the test must not depend on the other CLI modules
RUNNER = """
import sys, typer
from ferry.cli import sandbox_kingdee
app, group = typer.Typer(), typer.Typer()
app.add_typer(group, name="sandbox")
sandbox_kingdee.register(group)
app(sys.argv[1:])
"""


def test_cli_runs_the_sandbox_until_sigterm() -> None:
    port = free_port()
    args = [
        "sandbox",
        "kingdee",
        "--port",
        str(port),
        "--seed-bills",
        "4",
        "--random-seed",
        "5",
        "--faults",
        "limit=0.25",
        "--latency",
        "0-5",
        "--session-ttl",
        "30",
        "--username",
        "alice",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                config = httpx.get(url + "/_sandbox/config").json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert config["username"] == "alice" and config["session_ttl"] == 30
        assert "password" not in config and "app_secret" not in config
        assert len(httpx.get(url + "/_sandbox/bills").json()["bills"]) == 4
        faults = httpx.get(url + "/_sandbox/faults").json()
        assert faults["faults"]["limit"]["rate"] == 0.25 and faults["latency_ms"] == [0, 5]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Kingdee sandbox:" in out and "stopped" in out
