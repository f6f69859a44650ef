"""After a flagship run against both sandboxes, `ferry apis --json` and `/metrics` give the same call
counts as the sandboxes' own counters (DingTalk's quota counter and calls by API, Kingdee's call log);
`/metrics` parses, passes `promtool check metrics` where promtool is installed, and holds no secret."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ferry.console.app import create_app
from ferry.console.metrics import router
from ferry.console.settings import ConsoleSettings
from ferry.console.web import ConsoleState
from ferry.demo import FLAGSHIP, _connections
from ferry.engine.runner import Engine
from ferry.observe.usage import connection_infos
from ferry.sandbox import linked
from ferry.sandbox.dingtalk.app import create_app as create_dingtalk
from ferry.sandbox.dingtalk.config import SandboxConfig as DingTalkConfig
from ferry.sandbox.kingdee import KingdeeSandbox
from ferry.sandbox.kingdee import SandboxConfig as KingdeeConfig
from ferry.sandbox.serve import ServerThread
from ferry.scheme import load_scheme
from ferry.store import Ledger


@dataclass
class FlagshipRun:
    db: str
    ledger: Ledger
    dingtalk: dict[str, Any]
    kingdee: dict[str, Any]
    secrets: list[str]
    infos: dict[str, Any]


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlagshipRun]:
    import asyncio

    scheme = load_scheme(FLAGSHIP)
    code = scheme.source.params["process_code"]
    dt_cfg = DingTalkConfig(
        seed_instances=0,
        random_seed=4,
        latency_ms=(1, 3),
        qps=20,
        process_code=str(code[0] if isinstance(code, list) else code),
    )
    kd_cfg = KingdeeConfig(random_seed=4, latency_ms=(1, 3))
    db = f"sqlite:///{tmp_path_factory.mktemp('flagship') / 'ferry.db'}"
    ledger = Ledger(db)
    ledger.migrate()
    with ServerThread(create_dingtalk(dt_cfg)) as dingtalk, ServerThread(KingdeeSandbox(kd_cfg)) as kingdee:
        linked.seed(dingtalk.url, kingdee.url, linked.plan(30, seed=4))
        conns = _connections(dingtalk.url, kingdee.url, dt_cfg, kd_cfg, 19.0)
        infos = connection_infos(conns, [scheme])
        # the metrics router instruments the ledger before the run, as `ferry serve` would
        metrics_router = router(ledger, conns, [scheme])
        engine = Engine(ledger, conns)

        async def run() -> None:
            try:
                await engine.collect(scheme)
                await engine.dispatch(scheme)
            finally:
                await engine.aclose()

        asyncio.run(run())
        ledger.flush()
        dt_view = httpx.get(f"{dingtalk.url}/_sandbox/calls").json()
        kd_view = httpx.get(f"{kingdee.url}/_sandbox/stats").json()
    run_ = FlagshipRun(db, ledger, dt_view, kd_view, [dt_cfg.app_secret, kd_cfg.app_secret], infos)
    run_.router = metrics_router  # type: ignore[attr-defined]
    yield run_
    ledger.close()


def sandbox_dingtalk_calls(view: dict[str, Any]) -> int:
    return sum(outcomes["requests"] for outcomes in view["by_api"].values())


def test_ferry_apis_json_agrees_with_the_sandboxes(flagship: FlagshipRun, tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ferry", "apis", "--json", "--period", "1d", "--db", flagship.db],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    by_conn: dict[str, dict[str, int]] = {}
    metered = 0
    for a in data["apis"]:
        by_conn.setdefault(a["connection"], {})[a["api"]] = a["calls"]
        metered += a["metered"] if a["connection"] == "dingtalk_main" else 0
    assert flagship.dingtalk["metered_used"] > 0
    assert metered == flagship.dingtalk["metered_used"]
    # DingTalk: the same calls, API by API (the sandbox counts every request it received)
    assert by_conn["dingtalk_main"] == {api: c["requests"] for api, c in flagship.dingtalk["by_api"].items()}
    assert sum(by_conn["dingtalk_main"].values()) == sandbox_dingtalk_calls(flagship.dingtalk)
    # Kingdee: the same calls, operation by operation
    assert by_conn["kingdee_main"] == {op: n for op, n in flagship.kingdee["calls"].items() if n}
    quota = next(q for q in data["quotas"] if q["connection"] == "dingtalk_main")
    assert quota["used"] == flagship.dingtalk["metered_used"]
    assert quota["allowance"] == 5000
    for secret in flagship.secrets:
        assert secret not in r.stdout


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_agree_with_the_sandboxes_parse_and_hold_no_secret(flagship: FlagshipRun) -> None:
    settings = ConsoleSettings.from_env(env={})
    app = create_app(ConsoleState(flagship.ledger, settings), routers=[flagship.router])  # type: ignore[attr-defined]
    answer = TestClient(app).get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    found = families(text)

    def total(name: str, connection: str, suffix: str = "") -> float:
        return sum(
            s.value
            for s in found[name].samples
            if s.labels.get("connection") == connection and s.name.endswith(suffix)
        )

    dt_calls = sandbox_dingtalk_calls(flagship.dingtalk)
    kd_calls = sum(flagship.kingdee["calls"].values())
    # lasting counts read from the ledger
    assert total("ferry_api_calls", "dingtalk_main") == dt_calls
    assert total("ferry_api_calls", "kingdee_main") == kd_calls
    assert total("ferry_api_metered_calls", "dingtalk_main") == flagship.dingtalk["metered_used"]
    # this process's histogram saw every call too
    assert total("ferry_api_request_duration_seconds", "dingtalk_main", "_count") >= dt_calls
    assert total("ferry_api_request_duration_seconds", "kingdee_main", "_count") >= kd_calls
    quota = {
        s.name: s.value
        for s in found["ferry_api_quota_used"].samples
        if s.labels["connection"] == "dingtalk_main"
    }
    assert quota == {"ferry_api_quota_used": flagship.dingtalk["metered_used"]}
    allowance = [s.value for s in found["ferry_api_quota_allowance"].samples]
    assert allowance == [5000]
    records = {(s.labels["scheme"], s.labels["status"]): s.value for s in found["ferry_records"].samples}
    counts = flagship.ledger.counts()
    assert sum(records.values()) == sum(counts.values()) > 0
    assert {s.labels["kind"] for s in found["ferry_last_success_timestamp_seconds"].samples} == {
        "collect",
        "dispatch",
    }
    assert found["ferry_ledger_up"].samples[0].value == 1
    assert any(s.labels.get("outcome") == "written" for s in found["ferry_dispatch_attempts"].samples)
    waited = {s.labels.get("connection") for s in found["ferry_rate_limiter_wait_seconds"].samples}
    # DingTalk's token buckets and Kingdee's concurrency slots both report their waits
    assert {"dingtalk_main", "kingdee_main"} <= waited
    assert "ferry_build_info" in found
    # naming: one prefix; counters end in _total on the wire
    for family in found.values():
        assert family.name.startswith("ferry_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
    for secret in flagship.secrets:
        assert secret not in text
    assert "access_token" not in text

    # the shipped Grafana dashboard and alert rules only name metrics that exist
    root = Path(__file__).parents[2] / "deploy"
    shipped = (root / "grafana" / "ferry.json").read_text() + (
        root / "prometheus" / "ferry-rules.yml"
    ).read_text()
    # a labelled family is declared (HELP, TYPE) before its first sample: count its names too
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    exposed = {s.name for f in found.values() for s in f.samples}
    exposed |= {f.name + x for f in found.values() for x in suffixes.get(f.type, ("",))}
    for name in set(re.findall(r"ferry_[a-z_]+", shipped)) - {"ferry_rules"}:
        assert name in exposed, name

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus); the text parser passed")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = subprocess.run(
        [promtool, "check", "rules", str(root / "prometheus" / "ferry-rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
