"""``ferry demo --serve``: after the summary the demo's console stays up (URL and how to log in printed)
over the demo's ledger, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ferry.sandbox.serve import free_port

ROOT = Path(__file__).parents[2]


def test_demo_serve_leaves_the_console_running_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    out, log = tmp_path / "out.txt", tmp_path / "err.txt"
    args = ["demo", "--instances", "12", "--latency", "1-3", "--serve", "--port", str(port)]
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ferry", *args], env=env, cwd=tmp_path, stdout=stdout, stderr=stderr
        )
        try:
            deadline = time.monotonic() + 180
            while f"console: http://127.0.0.1:{port}" not in log.read_text(encoding="utf-8"):
                assert proc.poll() is None, log.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the console was not announced"
                time.sleep(0.2)
            # the summary came first, then the console over the demo's ledger
            assert "reconciled" in out.read_text(encoding="utf-8")
            assert "no login needed" in log.read_text(encoding="utf-8")
            page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
            assert page.status_code == 200 and "dingtalk-payapply-to-paybill" in page.text
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json() == {"status": "ready"}
            time.sleep(0.5)
            assert proc.poll() is None, "the console must stay up until stopped"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    assert code == 0, log.read_text(encoding="utf-8")
    assert "Traceback" not in log.read_text(encoding="utf-8")
