"""Exactly once under faults: the chaos run (small in CI), and proof that it catches duplicates.

`CHAOS_INSTANCES` and `CHAOS_KILLS` set the size (CI: the defaults); a large run by hand:
`.venv/bin/python tests/chaos/chaos.py --instances 2000 --kills 20`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chaos import ROOT, SCHEME_ID, _connections, _scheme, _start_sandboxes, ground_truth, run_chaos
from ferry.connectors.settings import load_connections
from ferry.engine.runner import Engine
from ferry.scheme import load_scheme
from ferry.store import Ledger

INSTANCES = int(os.environ.get("CHAOS_INSTANCES", "60"))
KILLS = int(os.environ.get("CHAOS_KILLS", "10"))


# ten rounds of start-and-kill, each bounded by the harness itself (20 s at most a round, then a bounded
# settle): on a loaded 2-core machine the whole run has taken from 2 to over 5 minutes
@pytest.mark.timeout(900)
def test_faults_and_sigkills_lose_nothing_and_duplicate_nothing() -> None:
    result = run_chaos(instances=INSTANCES, kills=KILLS, seed=11)
    print("\n" + result.report())
    # each failure message carries the report: the wrong records' rows and events, the kept directory
    assert result.kills >= KILLS, result.report()
    assert result.missing == [], "approved requests without a payment bill\n" + result.report()
    assert result.duplicates == [], "requests with more than one payment bill\n" + result.report()
    assert result.unexpected == [], "payment bills for requests that should have none\n" + result.report()
    assert result.ledger_disagrees == [], (
        "expected requests whose ledger record is not written\n" + result.report()
    )
    assert result.without_reason == [], "records not written without a reason\n" + result.report()
    assert result.unsettled == [], "records left unsettled\n" + result.report()
    # the run really met trouble: faults fired on both systems, including lost answers after commit
    assert sum(n for k, n in result.faults.items() if k.startswith("dingtalk")) > 0
    assert sum(n for k, n in result.faults.items() if k.startswith("kingdee")) > 0


def test_without_reconciliation_the_check_finds_duplicates() -> None:
    """The negative control: no probe before a resend, and a Kingdee rule that does not stop a second
    Push, with many answers lost after commit. The same check must now see duplicate payment bills."""
    result = run_chaos(
        instances=30,
        kills=2,
        seed=5,
        reconcile=False,
        push_control=False,
        dingtalk_faults="",
        kingdee_faults="drop_after_commit=0.4",
        settle_timeout_s=120,
        keep_failed=False,
    )
    print("\n" + result.table())
    assert result.duplicates, "with reconciliation off, lost answers must have produced duplicate bills"
    assert not result.ok


def test_reconciliation_alone_prevents_duplicates_when_kingdee_would_not() -> None:
    """The positive control for the same conditions: Kingdee would accept a second Push, and still no
    duplicate appears, because every unknown outcome is settled by asking Kingdee first."""
    result = run_chaos(
        instances=30,
        kills=2,
        seed=5,
        reconcile=True,
        push_control=False,
        dingtalk_faults="",
        kingdee_faults="drop_after_commit=0.4",
        settle_timeout_s=120,
    )
    print("\n" + result.table())
    assert result.faults.get("kingdee drop_after_commit", 0) > 0
    assert result.ok, result.table()


def test_a_repeat_paid_before_its_original_was_stored_holds_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order, not faults: the planted repeat stored before the request it repeats (as when the original's
    detail call comes back after later ones, or the next process stores it after a SIGKILL) is paid, and
    the original is held as its duplicate. The ground truth takes exactly that pair as settled."""
    scheme = _scheme(tmp_path)
    sandboxes, dt_url, kd_url = _start_sandboxes(tmp_path, 60, 11, "", "", True)
    try:
        conns, secrets = _connections(tmp_path, dt_url, kd_url)
        for name, value in secrets.items():
            monkeypatch.setenv(name, value)
        db_url = f"sqlite:///{tmp_path / 'ferry.db'}"
        plan = json.loads((tmp_path / "plan.json").read_text("utf-8"))
        repeat = next(p for p in plan if p["kind"] == "duplicate")
        original = next(p for p in plan if p["bill_number"] == repeat["duplicate_of"])
        ledger = Ledger(db_url)
        ledger.migrate()

        async def store_repeat_first() -> None:
            async with Engine(ledger, load_connections(conns)) as engine:
                await engine.collect_ids(load_scheme(scheme), [repeat["instance_id"]])

        asyncio.run(store_repeat_first())
        command = [sys.executable, "-m", "ferry.cli.main", "run", str(scheme), "--connections", str(conns)]
        env = {**os.environ, "FERRY_DATABASE_URL": db_url}
        for _ in range(2):  # the second pass finds nothing left
            subprocess.run(
                [*command, "--json"], env=env, capture_output=True, cwd=ROOT, timeout=300, check=True
            )
        truth = ground_truth(tmp_path, ledger, kd_url)
        rows = {r.source_id: r for r in ledger.list_records(scheme=SCHEME_ID, limit=1000)}
        ledger.close()
    finally:
        sandboxes.send_signal(signal.SIGTERM)
        sandboxes.communicate(timeout=30)
    assert rows[original["instance_id"]].status == "held", truth.diagnosis
    assert truth.swapped == [
        f"{original['bill_number']} held as a duplicate of {repeat['bill_number']}, which was paid"
    ]
    assert truth.missing == [] and truth.unexpected == [] and truth.duplicates == []
    assert truth.ledger_disagrees == [] and truth.without_reason == [] and truth.unsettled == []
    assert truth.diagnosis == []
