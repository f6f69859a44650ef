"""``ferry records hold|release|reject``, the findings in ``records show``, and ``ferry quality report``:
on a ledger whose findings were made by the real checks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from ferry import expr
from ferry.cli.main import app
from ferry.quality import Checker
from ferry.scheme import AnomalyChecks
from ferry.store import Collected, Ledger

TZ = ZoneInfo("Asia/Shanghai")
SCHEME = "pay"


def ferry(*args: str) -> Result:
    return CliRunner().invoke(app, [*args], env={"COLUMNS": "80"}, catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    """Three payments, the third a duplicate of the first a week later: checked and held."""
    url = f"sqlite:///{tmp_path / 'ferry.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    contents = [
        {
            "payee": "杭州云栈科技有限公司",
            "amount": "1200.00",
            "date": "2026-11-02",
            "summary": "服务器租赁费",
        },
        {
            "payee": "上海启明信息技术有限公司",
            "amount": "310.00",
            "date": "2026-11-03",
            "summary": "办公用品",
        },
        {
            "payee": "杭州云栈科技有限公司",
            "amount": "1200.00",
            "date": "2026-11-09",
            "summary": "服务器租赁费",
        },
    ]
    ledger.collect(SCHEME, [Collected(f"s{i}", f"FKSQ{i}", c) for i, c in enumerate(contents)])
    claimed = ledger.claim(SCHEME, owner="w", limit=3, lease_seconds=60)
    fields = {"payee": "payee", "amount": "amount", "date": "date", "summary": "summary"}
    checker = Checker(SCHEME, [], AnomalyChecks.model_validate({"fields": fields}), tz=TZ, history=ledger)
    verdicts = checker.assess(
        [(c.id, c.content) for c in claimed], expr.Context(tz=TZ), dt.datetime.now(dt.UTC)
    )
    ledger.finish(
        "w",
        [
            c.outcome("held", reason=verdicts[c.id].reason(), error_type="quality", count_attempt=False)
            if verdicts[c.id].decision == "hold"
            else c.outcome("written", target_id=f"T{c.id}")
            for c in claimed
        ],
    )
    ledger.close()
    yield url


def test_show_lists_every_finding_with_the_record_it_matched(db: str) -> None:
    shown = ferry("records", "show", "3", "--db", db)
    assert shown.exit_code == 0, shown.output
    assert "findings" in shown.output and "block duplicate" in shown.output
    assert "matches record 1" in shown.output
    data = json.loads(ferry("records", "show", "3", "--json", "--db", db).output)
    assert data["record"]["status"] == "held"
    [finding] = data["findings"]
    assert (
        finding["rule"] == "duplicate" and finding["matched"] == [1] and finding["values"]["days_apart"] == 7
    )


def test_release_and_reject_record_who_and_why(db: str) -> None:
    # release needs a reason
    missing = CliRunner().invoke(app, ["records", "release", "3", "--db", db])
    assert missing.exit_code == 2 and "--reason" in missing.output
    # only held records are released: record 1 was written
    r = ferry("records", "release", "1", "3", "--reason", "second instalment", "--by", "alice", "--db", db)
    assert r.exit_code == 0 and "1 record(s) released" in r.output and "1 left as they were" in r.output
    data = json.loads(ferry("records", "show", "3", "--json", "--db", db).output)
    assert data["record"]["status"] == "pending"
    assert data["findings"][0]["resolution"] == "released" and data["findings"][0]["resolved_by"] == "alice"
    assert data["events"][-1]["reason"] == "released by alice: second instalment"
    # hold it again by hand, then reject it
    assert (
        "1 record(s) held"
        in ferry("records", "hold", "3", "--reason", "call the supplier", "--db", db).output
    )
    r = ferry("records", "reject", "3", "--reason", "same invoice twice", "--by", "bob", "--db", db)
    assert "1 record(s) rejected" in r.output
    data = json.loads(ferry("records", "show", "3", "--json", "--db", db).output)
    assert data["record"]["status"] == "skipped"
    # a written record cannot be held: its document exists
    assert "0 record(s) held" in ferry("records", "hold", "1", "--db", db).output


def test_quality_report(db: str) -> None:
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    data = json.loads(ferry("quality", "report", "--json", "--db", db).output)
    assert data["month"] == month
    assert data["findings"]["by_rule"] == {"duplicate": [1]} and data["findings"]["by_verdict"] == {
        "block": 1
    }
    assert [h["id"] for h in data["held"]] == [3] and data["held"][0]["age_hours"] >= 0
    assert data["held"][0]["rules"] == ["duplicate"] and data["held"][0]["matched"] == [1]
    assert data["top_payees"] == [{"payee": "杭州云栈科技有限公司", "findings": 1}]
    # the amounts are those of November 2026 (business dates), not this month
    november = json.loads(ferry("quality", "report", "--month", "2026-11", "--json", "--db", db).output)
    assert november["benford"]["pay"]["n"] == 3 and november["benford"]["pay"]["counts"][0] == 2
    text = ferry("quality", "report", "--month", "2026-11", "--db", db)
    assert text.exit_code == 0 and "held for review: 1" in text.output and "Benford pay: n=3" in text.output
    bad = ferry("quality", "report", "--month", "11/2026", "--db", db)
    assert bad.exit_code == 2 and "--month takes YYYY-MM" in bad.output and "Traceback" not in bad.output
