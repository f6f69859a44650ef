"""``ferry run`` shows how far collect is when the source says how many records there are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from apps import Erp, connections_yaml, orders, scheme_yaml, shop_app

from ferry.sandbox.serve import ServerThread


def test_the_collect_bar_has_the_total_the_source_gives(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(scheme_yaml(), encoding="utf-8")
    with ServerThread(shop_app(orders(23))) as shop, ServerThread(Erp().app()) as erp:
        (tmp_path / "c.yaml").write_text(connections_yaml(shop.url, erp.url), encoding="utf-8")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "ferry.cli.main",
                "run",
                str(tmp_path / "s.yaml"),
                "--connections",
                str(tmp_path / "c.yaml"),
                "--db",
                f"sqlite:///{tmp_path / 'f.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "100"},
        )
    assert run.returncode == 0, run.stderr
    # the shop's answer says data.total = 23: the bar reads 23/23, not 23/?
    assert "23/23" in run.stderr, run.stderr
