"""``ferry apis``: text and --json over a planted ledger, and a clear error for a misspelt period."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from ferry.observe.calls import ApiCall
from ferry.store import Ledger

ROOT = Path(__file__).parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferry", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_apis_json_and_text(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ferry.db'}"
    ledger = Ledger(db)
    ledger.migrate()
    now = dt.datetime.now(dt.UTC)
    for i in range(30):
        ledger.record(
            ApiCall(
                "dingtalk_main",
                "v1.0/workflow/processInstances",
                "ok",
                40.0 + i,
                metered=True,
                at=now - dt.timedelta(hours=3, minutes=i),
            )
        )
    ledger.record(
        ApiCall(
            "dingtalk_main",
            "v1.0/workflow/processInstances",
            "slow_down",
            5.0,
            error_code="Forbidden.AccessDenied.QpsLimitForApi",
            at=now - dt.timedelta(minutes=2),
        )
    )
    ledger.record(ApiCall("kingdee_main", "Save", "ok", 90.0, at=now - dt.timedelta(hours=30)))
    ledger.close()
    (tmp_path / "connections.yaml").write_text(
        "dingtalk_main:\n  type: dingtalk\n  app_key: dingabc\n  app_secret: ${DT_SECRET}\n  monthly_quota: 40\n"
    )
    env_file = tmp_path / "connections.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "ferry", "apis", "--json", "--db", db, "--connections", str(env_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**__import__("os").environ, "DT_SECRET": "s3cr3t-value"},
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    apis = {(a["connection"], a["api"]): a for a in data["apis"]}
    # the Kingdee call is older than the default 24 h period
    assert list(apis) == [("dingtalk_main", "v1.0/workflow/processInstances")]
    a = apis[("dingtalk_main", "v1.0/workflow/processInstances")]
    assert a["calls"] == 31 and a["metered"] == 30 and a["throttles"] == 1
    assert a["errors_by_code"] == {"Forbidden.AccessDenied.QpsLimitForApi": 1}
    assert 25 <= a["latency_ms"]["p50"] <= 100
    quota = data["quotas"][0]
    assert quota["allowance"] == 40 and quota["used"] == 30 and quota["left"] == 10
    assert "s3cr3t-value" not in r.stdout

    week = run("apis", "--period", "7d", "--db", db, cwd=tmp_path)
    assert week.returncode == 0, week.stderr
    assert "kingdee_main" in week.stdout and "Save" in week.stdout
    assert "30 of 40 metered calls used" in week.stdout


def test_a_misspelt_period_is_one_clear_line(tmp_path: Path) -> None:
    r = run("apis", "--period", "7days", "--db", f"sqlite:///{tmp_path / 'f.db'}", cwd=tmp_path)
    assert r.returncode == 2
    assert "--period must look like 24h, 7d, 2w or month" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
