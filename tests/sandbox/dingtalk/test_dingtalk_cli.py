"""`ferry sandbox dingtalk` serves until SIGTERM and validates its options."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import typer
from typer.testing import CliRunner

from ferry.cli import sandbox_dingtalk
from ferry.sandbox.serve import free_port

# the command is registered on a bare typer group, so this test does not depend on other commands
RUNNER = """
import sys, typer
from ferry.cli import sandbox_dingtalk
app = typer.Typer(); group = typer.Typer(); app.add_typer(group, name="sandbox")
sandbox_dingtalk.register(group)
app(["sandbox", "dingtalk", *sys.argv[1:]])
"""


def run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_serves_with_the_given_options_until_sigterm() -> None:
    port = free_port()
    proc = run("--port", str(port), "--app-key", "dingclitest", "--app-secret", "s3cret", "--seed-instances", "4",
               "--qps", "7", "--monthly-quota", "9", "--token-ttl", "60", "--faults", "busy=0", "--latency", "0-1")  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                info = httpx.get(f"{url}/_sandbox/").json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert (info["app_key"], info["instances"], info["qps"], info["monthly_quota"], info["token_ttl_s"]) == (
            "dingclitest", 4, 7, 9, 60,
        )  # fmt: skip
        token = httpx.get(f"{url}/gettoken", params={"appkey": "dingclitest", "appsecret": "s3cret"}).json()
        assert token["expires_in"] == 60
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "DingTalk sandbox stopped." in out and "s3cret" not in out


def test_bad_options_are_refused_before_serving() -> None:
    app, group = typer.Typer(), typer.Typer()
    app.add_typer(group, name="sandbox")
    sandbox_dingtalk.register(group)
    runner = CliRunner()
    bad_fault = runner.invoke(app, ["sandbox", "dingtalk", "--faults", "explode=0.5"])
    assert bad_fault.exit_code == 2 and "unknown fault" in bad_fault.output
    bad_latency = runner.invoke(app, ["sandbox", "dingtalk", "--latency", "50-10"])
    assert bad_latency.exit_code == 2 and "latency" in bad_latency.output
