"""`ferry sandbox both` as its own process, and `ferry run` of the flagship scheme against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ferry.sandbox import linked
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig

ROOT = Path(__file__).parents[2]


def test_ferry_run_against_ferry_sandbox_both(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    args = ["--dingtalk-port", "0", "--kingdee-port", "0", "--instances", "30", "--latency", "1-3"]
    sandboxes, dt_url, kd_url = linked.start_both([*args, "--plan-out", str(plan_file)], cwd=str(ROOT))
    try:
        dt, kd = DingTalkConfig(), KingdeeConfig()
        (tmp_path / "connections.yaml").write_text(
            f"""
dingtalk_main: {{type: dingtalk, api_base: "{dt_url}", oapi_base: "{dt_url}", app_key: {dt.app_key}, app_secret: "${{DT_SECRET}}"}}
kingdee_main:
  type: kingdee
  base_url: "{kd_url}/k3cloud/"
  auth_mode: sign
  acct_id: "{kd.acct_id}"
  username: {kd.username}
  app_id: {kd.app_id}
  app_secret: "${{KD_SECRET}}"
""",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "DT_SECRET": dt.app_secret,
            "KD_SECRET": kd.app_secret,
            "FERRY_DATABASE_URL": f"sqlite:///{tmp_path / 'ferry.db'}",
        }
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "ferry.cli.main",
                "run",
                "examples/dingtalk-payapply-to-paybill.yaml",
                "--connections",
                str(tmp_path / "connections.yaml"),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env=env,
        )
        assert run.returncode == 0, run.stderr
        assert dt.app_secret not in run.stdout + run.stderr and kd.app_secret not in run.stdout + run.stderr
        summary = json.loads(run.stdout)
        plan = json.loads(plan_file.read_text("utf-8"))
        expected = [p["bill_number"] for p in plan if p["expects_payment_bill"] and p["kind"] != "late"]
        counts = linked.paybill_counts(kd_url, expected)
        assert all(v == 1 for v in counts.values()), counts
        assert summary["statuses"]["written"] == len(expected)
    finally:
        sandboxes.send_signal(signal.SIGTERM)
        out, _ = sandboxes.communicate(timeout=30)
    assert sandboxes.returncode == 0
    assert "sandboxes stopped." in out
