"""The demo ends by sending what the run left (the amount-mismatch quarantine among them) to the sandbox's
DingTalk group robot, which checks the signature and accepts it."""

from __future__ import annotations

from pathlib import Path

from ferry.demo import DemoOptions, run_demo


async def test_the_demo_alerts_the_sandbox_robot_about_its_quarantined_records(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    summary = await run_demo(DemoOptions(instances=20, latency_ms=(1, 3), db_url=db, random_seed=3))
    assert summary.quarantined >= 1
    assert any("record_dead" in t and "dingtalk-payapply-to-paybill" in t for t in summary.alerts), (
        summary.alerts
    )
