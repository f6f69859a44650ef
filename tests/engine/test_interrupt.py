"""Ctrl-C during ``ferry run``: the batch in flight is finished (once) or given back / left in doubt
(twice); no record is left ``writing``; the exit status is 130 and the command says what it did."""

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


def start(tmp_path: Path, shop_url: str, erp_url: str) -> tuple[subprocess.Popen[str], str]:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    (tmp_path / "s.yaml").write_text(scheme_yaml(batch_size=1), encoding="utf-8")
    (tmp_path / "c.yaml").write_text(connections_yaml(shop_url, erp_url), encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "run",
            str(tmp_path / "s.yaml"),
            "--connections",
            str(tmp_path / "c.yaml"),
            "--db",
            db,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    return proc, db


def wait_for_a_write_in_flight(erp: Erp, done: int, timeout: float = 60.0) -> None:
    """Until ``done`` writes were answered and the next one has arrived but is not answered yet."""
    deadline = time.monotonic() + timeout
    while not (erp.posts >= done and erp.arrived > erp.posts):
        assert time.monotonic() < deadline, "the target never received the writes"
        time.sleep(0.01)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_dispatch_leaves_no_record_writing(tmp_path: Path, presses: int) -> None:
    erp = Erp(latency_s=0.6)
    with ServerThread(shop_app(orders(12))) as shop, ServerThread(erp.app()) as target:
        proc, db = start(tmp_path, shop.url, target.url)
        wait_for_a_write_in_flight(erp, 1)
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.1)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert "stopping: finishing the batch in flight" in err
    assert ("stopped at once" if presses == 2 else "stopped: the batch in flight was finished") in err
    ledger = Ledger(db)
    try:
        counts = ledger.counts("shop-to-erp")
        assert "writing" not in counts, counts
        assert counts.get("pending", 0) > 0, counts  # it stopped early
        # nothing the target holds is pending: every document is written or in doubt in the ledger
        for row in ledger.list_records(scheme="shop-to-erp", limit=100):
            if erp.count(row.source_id):
                assert row.status in ("written", "in_doubt"), (row.source_id, row.status)
        runs = ledger.list_runs("shop-to-erp")
        assert next(r.status for r in runs if r.kind == "dispatch") == "interrupted"
    finally:
        ledger.close()
