"""Exactly once under faults: the chaos run (small in CI), and proof that it catches duplicates.

`CHAOS_INSTANCES` and `CHAOS_KILLS` set the size (CI: the defaults); a large run by hand:
`.venv/bin/python tests/chaos/chaos.py --instances 2000 --kills 20`.
"""

from __future__ import annotations

import os

import pytest

from chaos import run_chaos

INSTANCES = int(os.environ.get("CHAOS_INSTANCES", "60"))
KILLS = int(os.environ.get("CHAOS_KILLS", "10"))


# ten rounds of start-and-kill, each bounded by the harness itself (20 s at most a round, then a bounded
# settle): on a loaded 2-core machine the whole run has taken from 2 to over 5 minutes
@pytest.mark.timeout(900)
def test_faults_and_sigkills_lose_nothing_and_duplicate_nothing() -> None:
    result = run_chaos(instances=INSTANCES, kills=KILLS, seed=11)
    print("\n" + result.report())
    # each failure message carries the report: the wrong records' rows and events, the kept directory
    assert result.kills >= KILLS, result.report()
    assert result.missing == [], "approved requests without a payment bill\n" + result.report()
    assert result.duplicates == [], "requests with more than one payment bill\n" + result.report()
    assert result.unexpected == [], "payment bills for requests that should have none\n" + result.report()
    assert result.ledger_disagrees == [], (
        "expected requests whose ledger record is not written\n" + result.report()
    )
    assert result.without_reason == [], "records not written without a reason\n" + result.report()
    assert result.unsettled == [], "records left unsettled\n" + result.report()
    # the run really met trouble: faults fired on both systems, including lost answers after commit
    assert sum(n for k, n in result.faults.items() if k.startswith("dingtalk")) > 0
    assert sum(n for k, n in result.faults.items() if k.startswith("kingdee")) > 0


def test_without_reconciliation_the_check_finds_duplicates() -> None:
    """The negative control: no probe before a resend, and a Kingdee rule that does not stop a second
    Push, with many answers lost after commit. The same check must now see duplicate payment bills."""
    result = run_chaos(
        instances=30,
        kills=2,
        seed=5,
        reconcile=False,
        push_control=False,
        dingtalk_faults="",
        kingdee_faults="drop_after_commit=0.4",
        settle_timeout_s=120,
    )
    print("\n" + result.table())
    assert result.duplicates, "with reconciliation off, lost answers must have produced duplicate bills"
    assert not result.ok


def test_reconciliation_alone_prevents_duplicates_when_kingdee_would_not() -> None:
    """The positive control for the same conditions: Kingdee would accept a second Push, and still no
    duplicate appears, because every unknown outcome is settled by asking Kingdee first."""
    result = run_chaos(
        instances=30,
        kills=2,
        seed=5,
        reconcile=True,
        push_control=False,
        dingtalk_faults="",
        kingdee_faults="drop_after_commit=0.4",
        settle_timeout_s=120,
    )
    print("\n" + result.table())
    assert result.faults.get("kingdee drop_after_commit", 0) > 0
    assert result.ok, result.table()
