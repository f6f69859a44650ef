"""SIGKILL in the middle of collect or dispatch loses no record and writes none twice (real subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.sandbox.serve import ServerThread
from ferry.store import Ledger

N = 60


def start(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FERRY_DATABASE_URL": f"sqlite:///{tmp_path / 'ferry.db'}"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "run",
            str(tmp_path / "scheme.yaml"),
            "--connections",
            str(tmp_path / "connections.yaml"),
            "--lease",
            "1",
            "--json",
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("phase", ["collect", "dispatch"])
def test_sigkill_then_restart_loses_nothing_and_duplicates_nothing(tmp_path: Path, phase: str) -> None:
    erp = Erp(latency_s=0.03)
    shop = shop_app(orders(N), latency_s=0.15 if phase == "collect" else 0.0)
    with ServerThread(shop) as s, ServerThread(erp.app()) as t:
        (tmp_path / "scheme.yaml").write_text(scheme_yaml(batch_size=1), encoding="utf-8")
        (tmp_path / "connections.yaml").write_text(connections_yaml(s.url, t.url), encoding="utf-8")
        ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
        ledger.migrate()
        if phase == "collect":
            proc = start(tmp_path, "--collect-only")
        else:
            first = start(tmp_path, "--collect-only")
            assert first.wait(60) == 0, first.stderr.read() if first.stderr else ""
            proc = start(tmp_path, "--dispatch-only")
        # kill it once it is visibly half-way through its work
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if phase == "dispatch" and erp.posts >= N // 3:
                break
            if phase == "collect" and ledger.counts("shop-to-erp").get("pending", 0) >= 10:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the process finished before it could be killed; the test proves nothing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if phase == "collect":
            assert 0 < ledger.counts("shop-to-erp").get("pending", 0) < N

        time.sleep(1.2)  # leases of the killed process expire
        again = start(tmp_path)
        _out, errs = again.communicate(timeout=120)
        assert again.returncode == 0, errs.decode()

        counts = ledger.counts("shop-to-erp")
        assert counts == {"written": N}, counts
        for o in orders(N):
            assert erp.count(o["id"]) == 1, o["id"]
        ledger.close()
