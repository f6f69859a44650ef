"""A failing source does not hold back records already collected; the command says why, without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.sandbox.serve import ServerThread, free_port
from ferry.store import Ledger


def test_dispatch_runs_when_collect_fails(tmp_path: Path) -> None:
    erp = Erp()
    db = f"sqlite:///{tmp_path / 'f.db'}"
    env = {**os.environ, "FERRY_DATABASE_URL": db}
    (tmp_path / "s.yaml").write_text(scheme_yaml(), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "ferry.cli.main",
        "run",
        str(tmp_path / "s.yaml"),
        "--connections",
        str(tmp_path / "c.yaml"),
        "--json",
    ]
    with ServerThread(erp.app()) as target:
        with ServerThread(shop_app(orders(12))) as shop:
            (tmp_path / "c.yaml").write_text(connections_yaml(shop.url, target.url), encoding="utf-8")
            first = subprocess.run(
                [*command, "--collect-only"], env=env, capture_output=True, text=True, timeout=120
            )
            assert first.returncode == 0, first.stderr
        # the shop is gone: nothing listens on its port any more
        dead_shop = f"http://127.0.0.1:{free_port()}"
        (tmp_path / "c.yaml").write_text(connections_yaml(dead_shop, target.url), encoding="utf-8")
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert "collect:" in second.stderr
    summary = json.loads(second.stdout)
    assert summary["errors"] and summary["errors"][0].startswith("collect:")
    assert summary["dispatch"]["written"] == 12
    ledger = Ledger(db)
    assert ledger.counts("shop-to-erp") == {"written": 12}
    runs = ledger.list_runs("shop-to-erp")
    assert next(r.status for r in runs if r.kind == "collect") == "failed"
    ledger.close()
