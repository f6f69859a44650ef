"""Declarative rules in the scheme: each kind, its severity and message, strict keys, today's expressions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from quality_db import AddRecords

from ferry import expr
from ferry.quality import Checker
from ferry.scheme import QualityRule, SchemeError, load_scheme
from ferry.store import Ledger

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
CTX = expr.Context(tz=TZ)


def verdicts(rule: dict[str, Any], *contents: dict[str, Any]) -> list[str]:
    """Each content's decision under one rule."""
    c = Checker("s", [QualityRule.model_validate(rule)], None, tz=TZ)
    out = c.assess(list(enumerate(contents)), CTX, NOW)
    return [out[i].decision for i in range(len(contents))]


def test_each_rule_kind() -> None:
    assert verdicts(
        {"name": "r", "kind": "required", "fields": ["a", "b.c"]},
        {"a": 1, "b": {"c": "x"}},
        {"a": 1, "b": {"c": "null"}},
        {"a": " "},
    ) == ["go", "quarantine", "quarantine"]
    assert verdicts(
        {"name": "t", "kind": "type", "field": "n", "type": "integer"},
        {"n": "12"},
        {"n": "1.5"},
        {"n": True},
        {},
    ) == ["go", "quarantine", "quarantine", "go"]
    assert verdicts(
        {"name": "t", "kind": "type", "field": "d", "type": "date"}, {"d": "2026-11-01"}, {"d": "soon"}
    ) == ["go", "quarantine"]
    assert verdicts(
        {"name": "x", "kind": "regex", "field": "no", "pattern": r"FKSQ\d{6}"},
        {"no": "FKSQ700001"},
        {"no": "FKSQ70000"},
        {"no": "xFKSQ700001"},
    ) == ["go", "quarantine", "quarantine"]
    assert verdicts(
        {"name": "x", "kind": "range", "field": "amt", "min": 0.01, "max": 1000000},
        {"amt": "0.01"},
        {"amt": "0"},
        {"amt": "1,000,000.01"},
        {"amt": "abc"},
    ) == ["go", "quarantine", "quarantine", "quarantine"]
    assert verdicts(
        {"name": "x", "kind": "enum", "field": "cur", "values": ["CNY", "USD"]},
        {"cur": "CNY"},
        {"cur": "EUR"},
    ) == ["go", "quarantine"]
    assert verdicts(
        {"name": "x", "kind": "length", "field": "s", "min_length": 2, "max_length": 4},
        {"s": "abc"},
        {"s": "a"},
        {"s": "abcde"},
    ) == ["go", "quarantine", "quarantine"]
    assert verdicts(
        {"name": "x", "kind": "lookup", "lookup": "kingdee_bill"},
        {"kingdee_bill": {"FBillNo": "1"}},
        {"kingdee_bill": None},
    ) == ["go", "quarantine"]


def test_date_rule_not_in_the_future_and_not_in_a_closed_period() -> None:
    rule = {
        "name": "d",
        "kind": "date",
        "field": "day",
        "closed_before": "2026-10-01",
        "closed_months": ["2026-10"],
        "severity": "block",
    }
    got = verdicts(
        rule,
        {"day": "2026-11-20"},
        {"day": "2026-11-21"},
        {"day": "2026-09-30"},
        {"day": "2026-10-15"},
        {"day": int(NOW.timestamp() * 1000)},
    )
    assert got == ["go", "hold", "hold", "hold", "go"]


def test_a_pass_is_a_verdict_with_the_values_it_looked_at() -> None:
    rule = QualityRule.model_validate({"name": "cur", "kind": "enum", "field": "cur", "values": ["CNY"]})
    c = Checker("s", [rule], None, tz=TZ)
    result = c.assess([(1, {"cur": "CNY"})], CTX, NOW)[1]
    assert result.findings == () and result.decision == "go"
    [verdict] = result.passed
    assert (verdict.rule, verdict.verdict, verdict.values) == ("cur", "pass", {"value": "CNY"})


def test_severity_and_message_templates() -> None:
    rule = QualityRule.model_validate(
        {
            "name": "big",
            "kind": "range",
            "field": "amt",
            "max": 100,
            "severity": "warn",
            "message": "{{amt}} over 100 for {{payee}}",
        }
    )
    c = Checker("s", [rule], None, tz=TZ)
    [finding] = c.assess([(1, {"amt": "150", "payee": "甲"})], CTX, NOW)[1].findings
    assert (finding.verdict, finding.severity, finding.message) == ("warn", "warn", "150 over 100 for 甲")
    assert finding.values == {"value": "150", "why": "too large"}
    default = verdicts(
        {"name": "r", "kind": "range", "field": "amt", "max": 100, "severity": "block"}, {"amt": "150"}
    )
    assert default == ["hold"]


def test_todays_expression_rules_keep_their_reason_and_when() -> None:
    rule = QualityRule.model_validate(
        {
            "name": "has-no",
            "check": "LENGTH(IFNULL({{no}}, '')) > 0",
            "message": "no number on {{id}}",
            "when": "{{kind}} = 'pay'",
        }
    )
    c = Checker("s", [rule], None, tz=TZ)
    out = c.assess([(1, {"id": "A", "kind": "pay"}), (2, {"id": "B", "kind": "other"})], CTX, NOW)
    assert out[1].reason() == "quality rule 'has-no' failed: no number on A"
    assert out[2].decision == "go"


def test_a_rule_that_cannot_be_evaluated_never_passes() -> None:
    rule = QualityRule.model_validate(
        {"name": "boom", "check": "REPEAT('a', {{n}}) = 1", "severity": "block"}
    )
    c = Checker("s", [rule], None, tz=TZ)
    [finding] = c.assess([(1, {"n": 100_000_000})], CTX, NOW)[1].findings
    assert finding.verdict == "error" and finding.effect == "hold"


def test_unique_within_window(ledger: Ledger, add: AddRecords) -> None:
    rule = QualityRule.model_validate(
        {
            "name": "one-order",
            "kind": "unique",
            "fields": ["customer", "order"],
            "window_days": 7,
            "severity": "block",
        }
    )
    c = Checker("pay", [rule], None, tz=TZ, history=ledger)
    a, b, d = add(
        {"customer": "甲", "order": "7"}, {"customer": "甲", "order": "7"}, {"customer": "乙", "order": "7"}
    )
    assert c.assess([(a, {"customer": "甲", "order": "7"})], CTX, NOW)[a].decision == "go"
    later = c.assess([(b, {"customer": "甲", "order": "7"}), (d, {"customer": "乙", "order": "7"})], CTX, NOW)
    assert later[b].decision == "hold" and later[b].findings[0].matched == (a,)
    assert later[d].decision == "go"
    # outside the window the same value is fine again
    far = c.assess([(b, {"customer": "甲", "order": "7"})], CTX, NOW + dt.timedelta(days=8))
    assert far[b].decision == "go"


SCHEME = """\
id: s
source: {api: /x}
target: {api: /y}
quality:
  - name: ok
    kind: regex
    field: no
    pattern: "A\\\\d+"
{bad}
"""


@pytest.mark.parametrize(
    ("bad", "wanted"),
    [
        ("  - {name: typo, kind: range, field: a, maxx: 3}", "maxx"),
        ("  - {name: shape, kind: range, field: a}", "needs 'min' or 'max'"),
        ("  - {name: extra, kind: enum, field: a, values: [1], pattern: x}", "does not take 'pattern'"),
        ("  - {name: sev, kind: required, field: a, severity: stop}", "severity"),
        ("  - {name: re, kind: regex, field: a, pattern: '('}", "not a regular expression"),
    ],
)
def test_rule_mistakes_are_errors_with_their_line(tmp_path: Path, bad: str, wanted: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCHEME.replace("{bad}", bad), encoding="utf-8")
    with pytest.raises(SchemeError) as e:
        load_scheme(path)
    text = str(e.value)
    assert wanted in text and "s.yaml:9" in text


def test_checks_block_is_strict_too(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "id: s\nsource: {api: /x}\ntarget: {api: /y}\nchecks:\n  duplicate: {dayz: 3}\n", encoding="utf-8"
    )
    with pytest.raises(SchemeError, match="dayz"):
        load_scheme(path)
    path.write_text("id: s\nsource: {api: /x}\ntarget: {api: /y}\nchecks: {}\n", encoding="utf-8")
    checks = load_scheme(path).checks
    assert checks is not None and checks.duplicate.days == 14 and checks.outlier.z == 3.5


def test_the_flagship_and_its_qingyi_twin_still_load() -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    for path in (
        root / "dingtalk-payapply-to-paybill.yaml",
        root / "qingyi" / "dingtalk-payapply-to-paybill.json",
    ):
        scheme = load_scheme(path)
        assert [r.kind for r in scheme.quality] == ["expression"] * 3
        assert all(r.severity == "quarantine" for r in scheme.quality)


def test_a_released_rule_hold_only_warns_the_next_time(ledger: Ledger, add: AddRecords) -> None:
    """No history checks at all: a rule's hold, released by a person, does not hold the record again."""
    rule = QualityRule.model_validate(
        {"name": "big", "kind": "range", "field": "amt", "max": 100, "severity": "block"}
    )
    c = Checker("pay", [rule], None, tz=TZ, history=ledger)
    [r] = add({"amt": "150"})
    assert c.assess([(r, {"amt": "150"})], CTX, NOW)[r].decision == "hold"
    ledger.set_status([r], "held", "held by the rule")
    assert ledger.release_held([r], "alice", "approved by the CFO") == 1
    again = c.assess([(r, {"amt": "150"})], CTX, NOW)[r]
    assert again.decision == "go" and again.findings[0].verdict == "warn"
    assert [f.verdict for f in ledger.findings_of(r)] == ["block", "warn"]
