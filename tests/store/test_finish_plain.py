"""The SQLite finish's fast path for plain outcomes (no error, response, content, retry or watch times)
builds exactly what the general path builds for the same outcome, and a batch mixing both is stored
as each says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ferry.store import Collected, Ledger, Outcome

AT = "2026-12-01 00:00:01.000000"


def plain_outcomes() -> list[Outcome]:
    request = {"FormId": "AP_PAYBILL", "FAmount": 12.5, "FEntity": [{"FQty": 1}]}
    return [
        Outcome(1, "written", reason="written", target_id="T1", target_number="FKD1", request=request),
        Outcome(2, "written", reason="saved as a draft", target_id="T2", draft=True, request=request),
        Outcome(3, "written", reason=None, target_number="FKD3"),
        Outcome(4, "skipped", reason="nothing to do", count_attempt=False),
        Outcome(5, "written", reason="cut", target_id="T" * 300, target_number="N\x00O", request=request),
        Outcome(6, "written", reason="NaN in it", target_id="T6", request={"FAmount": math.nan}),
        Outcome(7, "quarantined", reason="理由\x00", count_attempt=False),
    ]


@pytest.mark.parametrize("outcome", plain_outcomes(), ids=lambda o: f"record{o.record_id}")
def test_a_plain_outcome_is_built_as_the_general_path_builds_it(outcome: Outcome, tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    shape, row, event = ledger._plain_rows(outcome, "worker", 2, AT)
    update, general_event = ledger._outcome_rows(outcome, "worker", 2, AT)
    optional = update[4:16]
    assert shape == tuple(value is not None for value in optional)
    assert row == (*update[:4], *[value for value in optional if value is not None], *update[16:])
    assert event == general_event
    ledger.close()


def test_a_batch_of_plain_and_other_outcomes_is_stored_as_each_says(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    ledger.collect("s", [Collected(f"R{i}", f"N{i}", {"i": i}) for i in range(4)])
    claimed = ledger.claim("s", owner="w", limit=4, lease_seconds=60)
    a, b, c, d = claimed
    lost = ledger.finish(
        "w",
        [
            a.outcome("written", reason="written", target_id="TA", target_number="NA", request={"x": 1}),
            b.outcome("failed", reason="try again", error_type="retry", error_message="busy"),
            c.outcome("written", reason="written", target_id="TC"),
            d.outcome("in_doubt", reason="no answer", response={"raw": "?"}),
        ],
    )
    assert lost == []
    rows = {r.source_id: r for r in (ledger.get("s", f"R{i}") for i in range(4)) if r is not None}
    assert (rows["R0"].status, rows["R0"].target_id, rows["R0"].target_number) == ("written", "TA", "NA")
    assert rows["R0"].request == {"x": 1} and rows["R0"].attempts == 1
    assert (rows["R1"].status, rows["R1"].last_error_type, rows["R1"].last_error_message) == (
        "failed",
        "retry",
        "busy",
    )
    assert (rows["R2"].status, rows["R2"].target_id, rows["R2"].target_number) == ("written", "TC", None)
    assert rows["R3"].status == "in_doubt" and rows["R3"].response == {"raw": "?"}
    details = {e.to_status: e.detail for e in ledger.history(rows["R2"].id)}
    assert details["written"] == {"owner": "w", "attempts": 1, "target_id": "TC"}
    ledger.close()
