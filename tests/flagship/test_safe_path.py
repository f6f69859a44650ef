"""A user's mistake never moves money: wrong or missing connections stop `ferry run` before its first
metered call, and a refused Kingdee login leaves the records pending with no attempt counted.

`ferry sandbox both` runs as its own process; `ferry run` and `ferry check` run as the user would
run them. The sandboxes' own counters say what was called.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.sandbox import linked
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.store import Ledger

ROOT = Path(__file__).parents[2]
FLAGSHIP = ROOT / "examples" / "dingtalk-payapply-to-paybill.yaml"
SCHEME_ID = "dingtalk-payapply-to-paybill"


@dataclass
class Both:
    dt_url: str
    kd_url: str
    plan: list[dict[str, Any]]
    #: the connections.yaml `ferry sandbox both --connections-out` wrote, and its export lines
    connections_file: Path
    exports: dict[str, str]

    def dingtalk_calls(self) -> int:
        """Business calls the DingTalk sandbox served or refused (token calls are not counted)."""
        by_api = httpx.get(f"{self.dt_url}/_sandbox/calls", timeout=10).json()["by_api"]
        return sum(int(v.get("requests", 0)) for api, v in by_api.items() if "token" not in api.lower())


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    folder = tmp_path_factory.mktemp("both")
    plan_file, conns = folder / "plan.json", folder / "connections.yaml"
    args = ["--dingtalk-port", "0", "--kingdee-port", "0", "--instances", "24", "--latency", "1-3"]
    proc, dt_url, kd_url, printed = linked.start_both(
        [*args, "--plan-out", str(plan_file), "--connections-out", str(conns)], cwd=str(ROOT), output=True
    )
    exports = dict(
        line.strip().removeprefix("export ").split("=", 1)
        for line in printed.splitlines()
        if "export " in line
    )
    try:
        yield Both(dt_url, kd_url, json.loads(plan_file.read_text("utf-8")), conns, exports)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def connections(both: Both, *, kingdee: bool = True, dingtalk_key: str = "dingtalk_main") -> str:
    dt, kd = DingTalkConfig(), KingdeeConfig()
    text = (
        f'{dingtalk_key}: {{type: dingtalk, api_base: "{both.dt_url}", oapi_base: "{both.dt_url}", '
        f'app_key: {dt.app_key}, app_secret: "${{DT_SECRET}}"}}\n'
    )
    if kingdee:
        text += (
            f'kingdee_main: {{type: kingdee, base_url: "{both.kd_url}/k3cloud/", auth_mode: sign, '
            f'acct_id: "{kd.acct_id}", username: {kd.username}, app_id: {kd.app_id}, '
            f'app_secret: "${{KD_SECRET}}"}}\n'
        )
    return text


def ferry(
    tmp_path: Path, *args: str, conns: str, kd_secret: str | None = None
) -> subprocess.CompletedProcess[str]:
    dt, kd = DingTalkConfig(), KingdeeConfig()
    (tmp_path / "connections.yaml").write_text(conns, encoding="utf-8")
    env = {
        **os.environ,
        "DT_SECRET": dt.app_secret,
        "KD_SECRET": kd.app_secret if kd_secret is None else kd_secret,
        "FERRY_DATABASE_URL": f"sqlite:///{tmp_path / 'ferry.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "ferry.cli.main", *args, "--connections", str(tmp_path / "connections.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def test_a_missing_connection_stops_the_run_before_any_dingtalk_call(tmp_path: Path, both: Both) -> None:
    before = both.dingtalk_calls()
    # the sandbox counts what it serves: a pass that did run would show here
    assert ferry(tmp_path, "run", str(FLAGSHIP), "--collect-only", conns=connections(both)).returncode == 0
    assert both.dingtalk_calls() > before
    before = both.dingtalk_calls()
    run = ferry(tmp_path, "run", str(FLAGSHIP), conns=connections(both, kingdee=False))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "target.connection: no connection 'kingdee_main'" in run.stderr
    # a typo in the connection name: the closest defined one is suggested
    run = ferry(tmp_path, "run", str(FLAGSHIP), conns=connections(both, dingtalk_key="dingtalk_mian"))
    assert run.returncode == 1 and "did you mean 'dingtalk_mian'" in run.stderr
    assert both.dingtalk_calls() == before


def test_a_wrong_kingdee_secret_counts_no_attempt_and_fixing_it_writes_them_all(
    tmp_path: Path, both: Both
) -> None:
    kd = KingdeeConfig()
    collected = ferry(tmp_path, "run", str(FLAGSHIP), "--collect-only", "--json", conns=connections(both))
    assert collected.returncode == 0, collected.stderr
    wrong = ferry(tmp_path, "run", str(FLAGSHIP), conns=connections(both), kd_secret="not-the-secret-0")
    assert wrong.returncode == 1
    assert "Traceback" not in wrong.stderr and "login" in wrong.stderr
    assert "not-the-secret-0" not in wrong.stderr + wrong.stdout and kd.app_secret not in wrong.stderr
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    try:
        pending = ledger.list_records(scheme=SCHEME_ID, status="pending", limit=500)
        assert pending, "the collected approvals wait for Kingdee"
        assert all(r.attempts == 0 for r in pending)
        assert "dead" not in ledger.counts(SCHEME_ID)
    finally:
        ledger.close()
    fixed = ferry(tmp_path, "run", str(FLAGSHIP), "--json", conns=connections(both))
    assert fixed.returncode == 0, fixed.stderr
    expected = [p["bill_number"] for p in both.plan if p["expects_payment_bill"] and p["kind"] != "late"]
    counts = linked.paybill_counts(both.kd_url, expected)
    assert counts and all(v == 1 for v in counts.values()), counts

    # a refused approval replayed by hand is read again from DingTalk and stays skipped: no bill
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    try:
        refused = [
            r
            for r in ledger.list_records(scheme=SCHEME_ID, status="skipped", limit=500)
            if "refused" in (r.reason or "")
        ]
    finally:
        ledger.close()
    assert refused, "the sandbox seeds refused approvals"
    row = refused[0]
    bill = str(row.content.get("金蝶单据编号"))
    replay = ferry(
        tmp_path,
        "records",
        "replay",
        str(row.id),
        "--status",
        "skipped",
        "--scheme-file",
        str(FLAGSHIP),
        "--yes",
        conns=connections(both),
    )
    assert replay.returncode == 0, replay.stderr
    assert f"left out {row.id}: still skipped at the source" in replay.stdout
    again = ferry(tmp_path, "run", str(FLAGSHIP), "--json", conns=connections(both))
    assert again.returncode == 0, again.stderr
    assert linked.paybill_counts(both.kd_url, [bill]) == {bill: 0}


def test_ferry_check_reports_every_check_and_fails_on_an_unknown_process_code(
    tmp_path: Path, both: Both
) -> None:
    good = ferry(tmp_path, "check", str(FLAGSHIP), "--json", conns=connections(both))
    assert good.returncode == 0, good.stderr
    checks = json.loads(good.stdout)
    whats = {c["what"] for c in checks}
    assert {"access token", "login", "form CN_PAYAPPLY", "form AP_PAYBILL", "monthly quota"} <= whats
    assert any(w.startswith("process code ") for w in whats)
    assert all(c["ok"] for c in checks)
    typo = tmp_path / "typo.yaml"
    typo.write_text(FLAGSHIP.read_text("utf-8").replace("PROC-FERRY7PAYREQ01", "PROC-NOSUCHCODE"), "utf-8")
    before = both.dingtalk_calls()
    bad = ferry(tmp_path, "run", str(typo), conns=connections(both))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "process code PROC-NOSUCHCODE" in bad.stderr and "no such template" in bad.stderr
    # the check itself is the one metered call; no listing or detail call followed it
    assert both.dingtalk_calls() == before + 1


def test_sandbox_both_prints_a_ready_connections_file(tmp_path: Path, both: Both) -> None:
    text = both.connections_file.read_text("utf-8")
    assert "${FERRY_SANDBOX_DINGTALK_SECRET}" in text and "${FERRY_SANDBOX_KINGDEE_SECRET}" in text
    assert all(secret not in text for secret in both.exports.values())
    env = {**os.environ, **both.exports, "FERRY_DATABASE_URL": f"sqlite:///{tmp_path / 'ferry.db'}"}
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferry.cli.main",
            "check",
            str(FLAGSHIP),
            "--connections",
            str(both.connections_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert check.returncode == 0, check.stdout + check.stderr
