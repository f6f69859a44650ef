"""The flagship flow end to end (in-process sandboxes, real HTTP), checked against the sandboxes' state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ferry.demo import FLAGSHIP, DemoOptions, run_demo
from ferry.store import Ledger

ROOT = Path(__file__).parents[2]
QINGYI = ROOT / "examples" / "qingyi" / "dingtalk-payapply-to-paybill.json"


async def test_demo_reconciles_and_every_case_gets_its_outcome(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    summary = await run_demo(DemoOptions(instances=40, latency_ms=(1, 5), db_url=db, random_seed=3))

    assert summary.ok and summary.missing == 0 and summary.duplicates == 0 and summary.unexpected == 0
    assert summary.event_delivered, "the late approval should arrive through its event"
    assert summary.instances == 40
    # every approval became a payment bill, was quarantined with a reason, or was held for review
    assert summary.written + summary.quarantined + summary.held == summary.approved
    assert summary.quarantined == 3  # no bill number, unknown bill, amount mismatch
    # the planted anomalies: a duplicate request a week after the first, an outlier, lines that do not add up
    assert summary.held == 3
    assert summary.held_by_rule == {"duplicate": 1, "outlier": 1, "total": 1}
    assert summary.drafts == 1
    assert summary.payment_bills == summary.written

    ledger = Ledger(db)
    rows = ledger.list_records(scheme="dingtalk-payapply-to-paybill", limit=100)
    reasons = {r.status: [] for r in rows}  # type: dict[str, list[str]]
    for r in rows:
        reasons[r.status].append(r.reason or "")
    quarantined = " | ".join(reasons["quarantined"])
    assert "has no Kingdee bill number" in quarantined
    assert "Kingdee has no payment request" in quarantined
    assert "differs from Kingdee's" in quarantined
    held = " | ".join(reasons["held"])
    assert "duplicate:" in held and "outlier:" in held and "is not the sum of its" in held
    assert all(reason.startswith("approval ") for reason in reasons.get("skipped", [])), reasons.get(
        "skipped"
    )
    drafts = [r for r in rows if r.draft]
    assert len(drafts) == 1 and drafts[0].status == "written" and drafts[0].reason
    assert "draft" in drafts[0].reason
    # the others were pushed, submitted and audited
    audited = [r for r in rows if r.status == "written" and not r.draft]
    assert audited and all(r.target_number for r in audited)
    ledger.close()


def test_demo_command_json_and_exit_status() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", "demo", "--instances", "20", "--json", "--latency", "1-3"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    for key in (
        "instances",
        "approved",
        "payment_bills",
        "drafts",
        "skipped",
        "quarantined",
        "dead",
        "missing",
        "duplicates",
        "api_calls",
        "elapsed_s",
        "records_per_s",
    ):
        assert key in summary, key
    assert summary["instances"] == 20 and summary["missing"] == 0 and summary["duplicates"] == 0
    assert any("processInstances" in api for api in summary["api_calls"])


async def test_qingyi_form_of_the_scheme_gives_the_same_result(tmp_path: Path) -> None:
    native = await run_demo(
        DemoOptions(instances=25, latency_ms=(1, 3), random_seed=5, db_url=f"sqlite:///{tmp_path / 'a.db'}")
    )
    qingyi = await run_demo(
        DemoOptions(
            instances=25,
            latency_ms=(1, 3),
            random_seed=5,
            db_url=f"sqlite:///{tmp_path / 'b.db'}",
            scheme_path=QINGYI,
        )
    )
    assert FLAGSHIP.exists() and QINGYI.exists()
    assert qingyi.ok and native.ok
    keys = (
        "instances",
        "approved",
        "payment_bills",
        "drafts",
        "written",
        "skipped",
        "quarantined",
        "dead",
        "watching",
    )
    assert {k: getattr(qingyi, k) for k in keys} == {k: getattr(native, k) for k in keys}
