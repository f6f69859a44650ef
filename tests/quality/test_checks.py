"""The history-aware payment checks against a real ledger (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from quality_db import AddRecords

from ferry import expr
from ferry.quality import Assessment, Checker
from ferry.scheme import AnomalyChecks
from ferry.store import Ledger

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
CTX = expr.Context(tz=TZ)
FIELDS = {
    "payee": "payee",
    "amount": "amount",
    "date": "date",
    "summary": "summary",
    "reference": "invoice",
    "account": "account",
    "details": "lines",
    "detail_amount": "amount",
    "amount_words": "words",
    "applicant": "applicant",
    "approver": "approver",
}


def checker(ledger: Ledger, **config: Any) -> Checker:
    checks = AnomalyChecks.model_validate({"fields": FIELDS, **config})
    return Checker("pay", [], checks, tz=TZ, history=ledger)


def pay(
    payee: str = "杭州云栈科技有限公司", amount: str = "1200.00", date: str = "2026-11-02", **more: Any
) -> dict[str, Any]:
    return {
        "payee": payee,
        "amount": amount,
        "date": date,
        "summary": "支付服务器租赁费",
        "account": "571908765410201",
        **more,
    }


def assess(c: Checker, ledger: Ledger, ids: list[int], *contents: dict[str, Any]) -> dict[int, Assessment]:
    return c.assess(list(zip(ids, contents, strict=True)), CTX, NOW)


def rules_of(a: Assessment) -> set[str]:
    return {f.rule for f in a.findings}


def test_a_duplicate_a_week_later_is_held_with_the_earlier_record(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger)
    first, second = pay(), pay(date="2026-11-09", summary="支付服务器租赁费 11月")
    [a] = add(first)
    assert assess(c, ledger, [a], first)[a].decision == "go"
    [b] = add(second)
    verdict = assess(c, ledger, [b], second)[b]
    assert verdict.decision == "hold"
    [dup] = [f for f in verdict.findings if f.rule == "duplicate"]
    assert dup.matched == (a,)
    assert dup.values["days_apart"] == 7 and dup.values["amount"] == "1200.00"
    assert "7 day(s) apart" in (verdict.reason() or "")
    # the finding is stored: the record's story shows it
    [stored] = ledger.findings_of(b)
    assert stored.rule == "duplicate" and stored.matched == [a] and stored.payee == "杭州云栈科技有限公司"


def test_no_duplicate_past_the_window_or_with_another_summary_or_amount(
    ledger: Ledger, add: AddRecords
) -> None:
    c = checker(ledger)
    base = pay()
    [a] = add(base)
    assess(c, ledger, [a], base)
    late = pay(date="2026-11-17")  # 15 days later
    other = pay(date="2026-11-05", summary="办公用品采购 文具")
    cents = pay(date="2026-11-05", amount="1200.01")
    ids = add(late, other, cents)
    result = assess(c, ledger, ids, late, other, cents)
    assert [result[i].decision for i in ids] == ["go", "go", "go"]
    # a wider window catches the late one
    wide = checker(ledger, duplicate={"days": 30})
    assert "duplicate" in rules_of(wide.assess([(ids[0], late)], CTX, NOW)[ids[0]])


def test_two_duplicates_in_one_batch_hold_only_the_later(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger)
    one, two = pay(), pay(date="2026-11-03")
    ids = add(one, two)
    result = assess(c, ledger, ids, one, two)
    assert result[ids[0]].decision == "go"
    assert result[ids[1]].decision == "hold"


def test_two_workers_checking_the_same_duplicate_at_once_both_hold(ledger: Ledger, add: AddRecords) -> None:
    """Facts are stored before the checks look: two batches in flight see each other."""
    c = checker(ledger)
    one, two = pay(), pay(date="2026-11-03")
    a, b = add(one, two)
    # both are being dispatched (writing) by different workers; both facts are in before either looks
    ledger.claim("pay", owner="w1", limit=2, lease_seconds=60)
    c.history.note_facts("pay", {a: c.payments.facts(c.payments.payment(one))})  # type: ignore[union-attr]
    verdict_b = assess(c, ledger, [b], two)[b]
    verdict_a = assess(c, ledger, [a], one)[a]
    assert verdict_b.decision == "hold" and verdict_a.decision == "hold"


def test_a_rejected_or_released_record_is_not_a_duplicate_again(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger)
    one, two = pay(), pay(date="2026-11-04")
    a, b = add(one, two)
    assess(c, ledger, [a], one)
    assert assess(c, ledger, [b], two)[b].decision == "hold"
    ledger.set_status([b], "held", "held by the check")
    assert ledger.release_held([b], "alice", "a second instalment, agreed with the supplier") == 1
    again = assess(c, ledger, [b], two)[b]
    assert again.decision == "go"
    assert [f.verdict for f in again.findings] == ["warn"] and "released" in again.findings[0].message
    # a rejected earlier record was never paid: it matches nothing
    three = pay(date="2026-11-06")
    [d] = add(three)
    ledger.set_status([a, b], "skipped", "rejected")
    assert assess(c, ledger, [d], three)[d].decision == "go"


def test_near_miss_invoice_numbers_are_the_same_reference(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger, duplicate={"enabled": False})
    first = pay(invoice="INV-2026-0417")
    [a] = add(first)
    assess(c, ledger, [a], first)
    cases = {
        "inv 2026 0417": True,  # spaces, case
        "INV-2026-O417": True,  # the letter O for zero
        "INV-2026-0417A": True,  # a resubmit suffix
        "INV-2026-0471": True,  # one transposition
        "INV-2026-0418": False,  # another invoice
        "INV-2026-4071": False,  # two transpositions
    }
    for number, same in cases.items():
        record = pay(invoice=number, payee="另一家公司", amount="9.99")
        [i] = add(record)
        found = assess(c, ledger, [i], record)[i]
        assert ("reference" in rules_of(found)) == same, number
        if same:
            assert found.findings[0].matched[0] == a
        ledger.set_status([i], "skipped", "not this test's subject")


def test_outlier_by_modified_z_score_and_the_small_history_cap(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger, duplicate={"enabled": False}, outlier={"cap": 50_000})
    history = [pay(amount=f"{1000 + 37 * i}.00", date=f"2026-10-{i + 1:02d}") for i in range(12)]
    ids = add(*history)
    assess(c, ledger, ids, *history)
    normal, huge = pay(amount="1300.00"), pay(amount="25000.00")
    n, h = add(normal, huge)
    result = assess(c, ledger, [n, h], normal, huge)
    assert "outlier" not in rules_of(result[n])
    [finding] = [f for f in result[h].findings if f.rule == "outlier"]
    assert finding.verdict == "warn" and result[h].decision == "go"  # a warning lets it through
    # the 12 past payments and the normal one just before it in the batch
    assert finding.values["z"] > 3.5 and finding.values["history"] == 13
    # a payee with three past payments: only the cap applies
    few = [pay(payee="新供应商", amount="100.00", date=f"2026-11-0{i + 1}") for i in range(3)]
    assess(c, ledger, add(*few), *few)
    under, over = pay(payee="新供应商", amount="40000.00"), pay(payee="新供应商", amount="60000.00")
    u, o = add(under, over)
    result = assess(c, ledger, [u, o], under, over)
    assert "outlier" not in rules_of(result[u])
    assert "above the cap" in next(f for f in result[o].findings if f.rule == "outlier").message


def test_total_words_self_approval_and_new_account(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger, duplicate={"enabled": False})
    known = pay(account="111")
    [k] = add(known)
    assess(c, ledger, [k], known)
    good = pay(
        amount="1200.50",
        lines=[{"amount": "1000.25"}, {"amount": "200.25"}],
        words="壹仟贰佰元伍角",
        applicant="u1",
        approver=["u2"],
        account="111",
        date="2026-12-30",
    )
    bad = pay(
        amount="1200.50",
        lines=[{"amount": "1000.25"}, {"amount": "100.25"}],
        words="壹仟贰佰元整",
        applicant="u1",
        approver=["u3", "u1"],
        account="222",
        date="2026-12-30",
    )
    g, b = add(good, bad)
    result = assess(c, ledger, [g, b], good, bad)
    assert result[g].findings == ()
    # a pass is a verdict too; the duplicate check is off here, so it says nothing
    assert {v.rule for v in result[g].passed} == {
        "reference",
        "outlier",
        "total",
        "amount_words",
        "new_account",
        "self_approval",
    }
    assert rules_of(result[b]) == {"total", "amount_words", "self_approval", "new_account"}
    assert result[b].decision == "hold"
    total = next(f for f in result[b].findings if f.rule == "total")
    assert total.values["sum"] == "1100.50"
    assert next(f for f in result[b].findings if f.rule == "new_account").verdict == "warn"


def test_a_check_can_be_switched_off_and_made_a_warning(ledger: Ledger, add: AddRecords) -> None:
    c = checker(ledger, duplicate={"severity": "warn"}, total={"enabled": False})
    one, two = pay(), pay(date="2026-11-03", lines=[{"amount": "1"}])
    a, b = add(one, two)
    result = assess(c, ledger, [a, b], one, two)
    assert result[b].decision == "go" and rules_of(result[b]) == {"duplicate"}


def test_dingtalk_form_defaults_read_the_upper_text_and_approvers(ledger: Ledger, add: AddRecords) -> None:
    """The payment defaults read a DingTalk record: 大写 from the MoneyField's ext_value, approvers from
    the operation records."""
    c = Checker("pay", [], AnomalyChecks(), tz=TZ, history=ledger)
    record = {
        "支付对象": "杭州云栈科技有限公司",
        "付款金额": "500.00",
        "create_time": "2026-11-02 10:00:00",
        "originator_userid": "u1",
        "_raw": {
            "form_component_values": [
                {"name": "付款金额", "value": "500.00", "ext_value": '{"upper":"伍佰元整"}'}
            ],
            "operation_records": [
                {"userid": "u1", "operation_type": "START_PROCESS_INSTANCE", "operation_result": "NONE"},
                {"userid": "u1", "operation_type": "EXECUTE_TASK_NORMAL", "operation_result": "AGREE"},
            ],
        },
    }
    [r] = add(record)
    assert rules_of(assess(c, ledger, [r], record)[r]) == {"self_approval"}
    record["_raw"]["form_component_values"][0]["ext_value"] = '{"upper":"伍仟元整"}'
    record["_raw"]["operation_records"][1]["userid"] = "u9"
    assert rules_of(assess(c, ledger, [r], record)[r]) == {"amount_words"}


def test_the_mad_floor_keeps_a_very_regular_payee_from_flagging_ordinary_amounts(
    ledger: Ledger, add: AddRecords
) -> None:
    history = [pay(payee="房东", amount=f"{1000 + i}.00", date=f"2026-10-{i + 1:02d}") for i in range(12)]
    textbook = checker(ledger, duplicate={"enabled": False}, outlier={"mad_floor": 0})
    assess(textbook, ledger, add(*history), *history)
    rise = pay(payee="房东", amount="1100.00")
    [r] = add(rise)
    assert "outlier" in rules_of(assess(textbook, ledger, [r], rise)[r])  # z = 0.6745 * 94 / 3
    floored = checker(ledger, duplicate={"enabled": False})  # the default floor: MAD >= 20% of the median
    assert "outlier" not in rules_of(assess(floored, ledger, [r], rise)[r])
    double = pay(payee="房东", amount="2400.00")
    [d] = add(double)
    assert "outlier" in rules_of(assess(floored, ledger, [d], double)[d])


def test_a_ledger_error_in_a_lookup_is_a_store_error_not_a_held_record(
    ledger: Ledger, add: AddRecords
) -> None:
    import pytest
    import sqlalchemy as sa

    from ferry.errors import StoreError

    c = checker(ledger)
    first = pay()
    [a] = add(first)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE quality_facts RENAME TO quality_facts_gone"))
    with pytest.raises(StoreError, match="could not be read for the quality checks"):
        ledger.payee_facts("pay", "x", before=10)
    with pytest.raises(StoreError):
        assess(c, ledger, [a], first)
    assert ledger.findings_of(a) == []
