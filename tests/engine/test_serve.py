"""`ferry serve` runs schemes on their schedules and stops cleanly on SIGTERM (a real subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.sandbox.serve import ServerThread, free_port
from ferry.store import Ledger


def test_serve_runs_on_schedule_and_sigterm_finishes_in_flight_work(tmp_path: Path) -> None:
    erp = Erp(latency_s=0.02)
    with ServerThread(shop_app(orders(40))) as shop, ServerThread(erp.app()) as target:
        schemes = tmp_path / "schemes"
        schemes.mkdir()
        text = (
            scheme_yaml(batch_size=5)
            .replace("  initial_days: 1\n", "  initial_days: 1\n  schedule: {interval: 1s}\n")
            .replace("  batch_size: 5\n", "  batch_size: 5\n  schedule: {interval: 1s}\n")
        )
        (schemes / "shop.yaml").write_text(text, encoding="utf-8")
        (tmp_path / "connections.yaml").write_text(connections_yaml(shop.url, target.url), encoding="utf-8")
        env = {**os.environ, "FERRY_DATABASE_URL": f"sqlite:///{tmp_path / 'ferry.db'}"}

        def serve() -> subprocess.Popen[bytes]:
            args = ["serve", str(schemes), "--connections", str(tmp_path / "connections.yaml")]
            args += ["--port", str(free_port())]  # serve listens (the console); never a fixed port in tests
            return subprocess.Popen(
                [sys.executable, "-m", "ferry.cli.main", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )

        proc = serve()
        ledger = Ledger(env["FERRY_DATABASE_URL"])
        ledger.migrate()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and erp.posts < 10:
            time.sleep(0.02)
        assert proc.poll() is None, "serve exited by itself"
        proc.send_signal(signal.SIGTERM)  # mid-dispatch: the current batch finishes, no new one starts
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert "stopped" in err.decode()
        counts = ledger.counts("shop-to-erp")
        # nothing was left half-done: no record is held under a lease after a clean stop
        assert "writing" not in counts, counts
        assert counts.get("written", 0) == erp.posts
        assert sum(counts.values()) == 40

        # started again, it finishes the rest and writes nothing twice
        proc = serve()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ledger.counts("shop-to-erp").get("written", 0) < 40:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert ledger.counts("shop-to-erp") == {"written": 40}
        assert all(erp.count(o["id"]) == 1 for o in orders(40))
        ledger.close()
