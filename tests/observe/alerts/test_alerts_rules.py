"""alerts.yaml: validated like a scheme (file:line:col, suggestions), secrets only by reference, defaults
that work with no file, a JSON Schema equal to the shipped one; the CLI over it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferry.errors import FerryError
from ferry.observe.alerts import AlertsConfigError, load_rules
from ferry.observe.alerts.rules import BUILTIN_RULES
from ferry.observe.alerts.schema import alerts_json_schema
from ferry.scheme.load import SchemeError

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "alerts.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_no_file_gives_every_builtin_rule_and_no_channel(tmp_path: Path) -> None:
    rules = load_rules(tmp_path)  # a schemes folder without alerts.yaml
    assert [r.name for r in rules.rules] == list(BUILTIN_RULES)
    assert rules.channels == [] and rules.allowance("dingtalk_main") == 5000
    dead = rules.rule("record_dead")
    assert (dead.group_by, dead.group_wait, dead.repeat_interval) == (["rule", "scheme"], 30.0, 14400.0)


def test_a_file_changes_builtins_by_name_adds_rules_and_channels(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """\
defaults:
  group_wait: 10s
  console_url: https://ferry.example.com/
channels:
  - name: finance
    type: dingtalk
    url: ${DING_URL}
    secret: ${DING_SECRET}
    keyword: 告警
rules:
  - name: failure_rate
    threshold: 0.2
    window: 30m
  - name: run_stalled
    enabled: false
  - name: payments_in_doubt
    kind: in_doubt_old
    older_than: 10m
    severity: critical
    channels: [finance]
quota:
  dingtalk_main: 10000
""",
    )
    env = {
        "DING_URL": "https://oapi.dingtalk.com/robot/send?access_token=t0ken-abc",
        "DING_SECRET": "SECxyz123",
    }
    rules = load_rules(p, lookup=env.get)
    names = [r.name for r in rules.rules]
    assert "run_stalled" not in names and names[-1] == "payments_in_doubt"
    rate = rules.rule("failure_rate")
    assert (rate.threshold, rate.window, rate.group_wait) == (0.2, 1800.0, 10.0)
    extra = rules.rule("payments_in_doubt")
    assert (extra.kind, extra.older_than, extra.severity, extra.channels) == (
        "in_doubt_old",
        600.0,
        "critical",
        ["finance"],
    )
    [finance] = rules.channels
    assert finance.secret == "SECxyz123" and finance.url == env["DING_URL"]
    assert rules.console_url == "https://ferry.example.com" and rules.allowance("dingtalk_main") == 10000


def test_mistakes_are_reported_with_file_line_and_a_suggestion(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        """\
defaults:
  group_wiat: 30s
channels:
  - name: ding
    type: dingtalk
    url: ${DING_URL}
    secert: ${X}
rules:
  - name: record_dead
    severity: loud
  - name: failure_rate
    repeat_interval: often
  - name: mine
""",
    )
    with pytest.raises(SchemeError) as e:
        load_rules(p)
    text = str(e.value)
    assert f"{p}:2:3: defaults.group_wiat: unknown key (did you mean 'group_wait'?)" in text
    assert f"{p}:7:5: channels[0].secert: unknown key (did you mean 'secret'?)" in text
    assert f"{p}:10:5: rules[0].severity:" in text
    assert f"{p}:12:5: rules[1].repeat_interval: a duration looks like 30s" in text
    assert f"{p}:13:5: rules[2]: rule 'mine' is not a built-in rule: give its kind" in text
    assert isinstance(e.value, FerryError)


def test_a_literal_secret_or_an_unset_reference_is_refused_without_its_value(tmp_path: Path) -> None:
    literal = write(
        tmp_path,
        "channels:\n  - name: ops\n    type: webhook\n    url: https://hooks.example.com/x\n    secret: hunter2-very-secret\n",
    )
    with pytest.raises(SchemeError) as e:
        load_rules(literal)
    assert f"{literal}:2:5: channels[0]: secret holds a literal secret" in str(e.value)
    assert "hunter2" not in str(e.value)
    unset = write(tmp_path, "channels:\n  - name: wx\n    type: wecom\n    url: ${WECOM_URL}\n")
    with pytest.raises(
        AlertsConfigError, match=r"channel 'wx': url refers to \$\{WECOM_URL\}, which is not set"
    ):
        load_rules(unset, lookup={}.get)


def test_the_shipped_json_schema_is_the_models() -> None:
    shipped = json.loads((ROOT / "schemas" / "alerts.schema.json").read_text("utf-8"))
    assert shipped == alerts_json_schema(), (
        "regenerate with: ferry alerts schema > schemas/alerts.schema.json"
    )
    props = shipped["$defs"]["RuleSpec"]["properties"]
    assert shipped["$defs"]["RuleSpec"]["additionalProperties"] is False
    assert {"type": "string", "pattern": props["group_wait"]["anyOf"][1]["pattern"]} in props["group_wait"][
        "anyOf"
    ]


def ferry(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ferry", *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=full
    )


def test_cli_check_silence_ls_unsilence(tmp_path: Path) -> None:
    write(tmp_path, "defaults:\n  group_wiat: 30s\n")
    bad = ferry("alerts", "check", cwd=tmp_path)
    assert bad.returncode == 1 and "alerts.yaml:2:3: defaults.group_wiat: unknown key" in bad.stderr
    assert "Traceback" not in bad.stderr
    write(tmp_path, "rules:\n  - name: quota_80\n    threshold: 0.7\n")
    ok = ferry("alerts", "check", cwd=tmp_path)
    assert ok.returncode == 0 and "rule quota_80 (quota, warning)" in ok.stdout

    db = f"sqlite:///{tmp_path}/ferry.db"
    made = ferry(
        "alerts", "silence", "scheme=pay", "rule=record_dead", "--for", "1h", "--db", db, cwd=tmp_path
    )
    assert made.returncode == 0 and made.stdout.startswith("silence 1 until")
    listed = ferry("alerts", "ls", "--json", "--db", db, cwd=tmp_path)
    [silence] = json.loads(listed.stdout)["silences"]
    assert silence["matchers"] == {"scheme": "pay", "rule": "record_dead"}
    assert ferry("alerts", "unsilence", "1", "--db", db, cwd=tmp_path).returncode == 0
    assert json.loads(ferry("alerts", "ls", "--json", "--db", db, cwd=tmp_path).stdout)["silences"] == []
    again = ferry("alerts", "unsilence", "1", "--db", db, cwd=tmp_path)
    assert again.returncode == 1 and "no silence 1 in force" in again.stderr
    wrong = ferry("alerts", "silence", "pay", "--db", db, cwd=tmp_path)
    assert wrong.returncode == 1 and "is not label=value" in wrong.stderr
    unknown = ferry("alerts", "test", "nowhere", "--db", db, cwd=tmp_path)
    assert unknown.returncode == 1 and "no channel 'nowhere'" in unknown.stderr


def test_allowances_come_from_connection_settings_unless_alerts_yaml_says_otherwise(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "quota:\n  dingtalk_b: 9000\n"))
    rules.use_allowances({"dingtalk_a": 20000, "dingtalk_b": 100})
    assert (rules.allowance("dingtalk_a"), rules.allowance("dingtalk_b"), rules.allowance("other")) == (
        20000,
        9000,
        5000,
    )


def test_scheme_intervals_read_the_source_schedule() -> None:
    from ferry.observe.alerts import scheme_intervals
    from ferry.scheme import parse_scheme

    base = {"source": {"api": "x", "connector": "http"}, "target": {"api": "y", "connector": "http"}}
    every = parse_scheme({"id": "a", **base, "source": {**base["source"], "schedule": {"interval": "5m"}}})
    cron = parse_scheme({"id": "b", **base, "source": {**base["source"], "schedule": {"cron": "0 * * * *"}}})
    assert scheme_intervals([every, cron]) == {"a": 300.0}


def test_the_serve_wiring_reads_alerts_yaml_the_connections_quota_and_the_intervals(tmp_path: Path) -> None:
    from ferry.cli.alerts_cmd import alert_service_for
    from ferry.connectors.settings import ConnectionSettings
    from ferry.scheme import parse_scheme
    from ferry.store import Ledger

    write(tmp_path, "rules:\n  - name: source_quiet\n    enabled: false\n")
    base = {
        "source": {"api": "x", "connector": "http", "schedule": {"interval": "10m"}},
        "target": {"api": "y", "connector": "http"},
    }
    conns = {
        "dd": ConnectionSettings("dd", "dingtalk", {"monthly_quota": 20000}),
        "kd": ConnectionSettings("kd", "kingdee", {}),
    }
    with Ledger(f"sqlite:///{tmp_path}/f.db") as ledger:
        service = alert_service_for(ledger, tmp_path, [parse_scheme({"id": "pay", **base})], conns)
    assert "source_quiet" not in [r.name for r in service.rules.rules]
    assert service.rules.allowance("dd") == 20000 and service.intervals == {"pay": 600.0}
