"""``ferry records ls|show`` and ``ferry runs ls`` for people (80 columns, nothing cut) and scripts
(``--json``); a record found by any business key; a misspelt status refused with a suggestion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ferry.cli.main import app
from ferry.store import Collected, Ledger

LONG = (
    "quality rule 'amount-matches' failed: the approved amount 12800.50 differs from Kingdee's "
    "12700.50 on FKSQ202603020017 — fix the payment request in Kingdee, then replay this record"
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'ferry.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    ledger.collect(
        "dingtalk-payapply-to-paybill",
        [
            Collected(
                source_id=f"inst-{i:04d}",
                number=f"2026030210150000{i:04d}",
                content={"金蝶单据编号": f"FKSQ{i:04d}"},
            )
            for i in range(1, 6)
        ],
    )
    claimed = ledger.claim("dingtalk-payapply-to-paybill", owner="w", limit=5, lease_seconds=60)
    ledger.finish(
        "w",
        [
            claimed[0].outcome("written", target_id="100023", target_number="FKD00000042"),
            claimed[1].outcome("quarantined", reason=LONG, error_type="quality", count_attempt=False),
            *(c.outcome("pending") for c in claimed[2:]),
        ],
    )
    run_id = ledger.start_run("dingtalk-payapply-to-paybill", "dispatch", "manual", owner="w")
    ledger.finish_run(run_id, status="failed", error="dispatch: " + LONG)
    ledger.close()
    yield url


def ferry(*args: str) -> Result:
    return CliRunner().invoke(app, [*args], env={"COLUMNS": "80"}, catch_exceptions=False)


def test_a_kingdee_bill_number_finds_its_record(db: str) -> None:
    found = ferry("records", "ls", "--find", "FKD00000042", "--json", "--db", db)
    assert found.exit_code == 0, found.output
    rows = json.loads(found.output)
    assert [r["source_id"] for r in rows] == ["inst-0001"] and rows[0]["target_number"] == "FKD00000042"
    by_content = json.loads(ferry("records", "ls", "--find", "FKSQ0002", "--json", "--db", db).output)
    assert [r["source_id"] for r in by_content] == ["inst-0002"]
    nothing = ferry("records", "ls", "--find", "NO-SUCH-KEY", "--db", db)
    assert nothing.exit_code == 0 and "no record matches 'NO-SUCH-KEY'" in nothing.output


def test_a_misspelt_status_is_refused_with_the_valid_ones(db: str) -> None:
    result = ferry("records", "ls", "--status", "wrtten", "--db", db)
    assert result.exit_code == 2
    assert "unknown status 'wrtten' (did you mean 'written'?)" in result.output
    assert "valid statuses: pending, writing, written" in result.output


def test_lists_fit_80_columns_and_never_cut_a_reason(db: str) -> None:
    for args in (("records", "ls"), ("runs", "ls")):
        result = ferry(*args, "--db", db)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert max(len(line) for line in lines) <= 80, max(lines, key=len)
        # the long reason is the last column, folded over lines: read it back down that column
        last_cells = [line.split("│")[-2] for line in lines if line.startswith("│")]
        column = "".join(cell.strip() for cell in last_cells).replace(" ", "")
        assert LONG.replace(" ", "") in column, column


def test_show_puts_the_story_before_the_payload_and_json_is_whole(db: str) -> None:
    ledger = Ledger(db)
    quarantined = ledger.get("dingtalk-payapply-to-paybill", "inst-0002")
    ledger.close()
    assert quarantined is not None
    text = ferry("records", "show", str(quarantined.id), "--db", db).output
    assert text.index("reason:") < text.index("events") < text.index("source content")
    assert "FKSQ202603020017" in text
    shown = json.loads(ferry("records", "show", str(quarantined.id), "--json", "--db", db).output)
    assert shown["record"]["reason"] == LONG and shown["record"]["status"] == "quarantined"
    assert [e["to"] for e in shown["events"]][-1] == "quarantined"
    runs = json.loads(ferry("runs", "ls", "--json", "--db", db).output)
    assert runs[0]["status"] == "failed" and runs[0]["error"].endswith("replay this record")
