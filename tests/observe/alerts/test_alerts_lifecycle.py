"""The life cycle over the ledger: silences and inhibition mute, repeats wait repeat_interval, a restart
keeps firing alerts; and the rules that read api_calls and runs (auth, quota, stalled, in doubt, late)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alerts_peers import add_records, dispatch, robot_messages, robot_spec, robot_text

from ferry.observe.alerts import AlertBook, AlertService, Rules, build_channel, evaluate
from ferry.observe.alerts.rules import AlertsFile
from ferry.observe.calls import ApiCall
from ferry.store import Ledger

T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def rules(**spec: Any) -> Rules:
    defaults = {
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": "1h",
        **spec.pop("defaults", {}),
    }
    return Rules(AlertsFile.model_validate({"defaults": defaults, **spec}))


async def test_a_silence_mutes_until_it_ends_and_then_the_alert_is_announced(
    ledger: Ledger, robot: Any
) -> None:
    service = AlertService(ledger, rules(), [build_channel(robot_spec(robot))])
    book = AlertBook(ledger)
    silence = book.silence({"scheme": "pay"}, at(600), by="cli:test", now=at(0))
    add_records(ledger, "pay", 2, at(0))
    dispatch(
        ledger, "pay", at(1), "quarantined", error_type="quality", reason="amount differs from the approval"
    )
    await service.tick(at(2))
    assert robot_messages(robot) == []
    assert [a["muted"] for a in book.list_alerts("silenced")] == ["silenced", "silenced"]

    assert book.unsilence(silence, now=at(100)) and not book.unsilence(silence, now=at(101))
    await service.tick(at(101))
    [message] = robot_messages(robot)
    assert (
        "R0000" in robot_text(message)
        and "R0001" in robot_text(message)
        and "quarantined" in robot_text(message)
    )


async def test_a_failing_login_mutes_the_record_failures_it_causes(ledger: Ledger, robot: Any) -> None:
    service = AlertService(ledger, rules(), [build_channel(robot_spec(robot))])
    add_records(ledger, "pay", 3, at(0))
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="Kingdee: session lost")
    for i in range(3):
        ledger.record(ApiCall("kingdee_main", "Login", "reauthenticate", 5.0, 200, "-1", at=at(i)))
    ledger.flush()
    with ledger.engine.begin() as conn:  # the engine's recorder stores the scheme of each call
        conn.exec_driver_sql("UPDATE api_calls SET scheme = 'pay'")
    await service.tick(at(5))
    [message] = robot_messages(robot)
    assert "auth_failing" in robot_text(message) and "kingdee_main" in robot_text(message)
    assert {a["rule"]: a["muted"] for a in AlertBook(ledger).list_alerts("firing")}[
        "record_dead"
    ] == "inhibited"


async def test_firing_repeats_only_after_repeat_interval_and_a_restart_remembers(
    ledger_url: str, robot: Any
) -> None:
    spec = robot_spec(robot)
    with Ledger(ledger_url) as ledger:
        add_records(ledger, "pay", 1, at(0))
        dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="bad")
        first = AlertService(ledger, rules(), [build_channel(spec)])
        await first.tick(at(2))
        await first.tick(at(600))
    assert len(robot_messages(robot)) == 1
    with Ledger(ledger_url) as ledger:  # a new process: the alert is still firing and already announced
        second = AlertService(ledger, rules(), [build_channel(spec)])
        assert (await second.tick(at(1200))).sent == 0
        assert (await second.tick(at(3700))).sent == 1
    texts = [robot_text(m) for m in robot_messages(robot)]
    assert len(texts) == 2 and "R0000" in texts[1]


def test_quota_auth_stalled_in_doubt_and_late_rules_read_the_ledger(ledger: Ledger) -> None:
    decided = rules(quota={"dingtalk_main": 100})
    for i in range(85):
        ledger.record(ApiCall("dingtalk_main", "listids", "ok", 3.0, 200, metered=True, at=at(i)))
    add_records(ledger, "pay", 2, at(0))
    dispatch(ledger, "pay", at(1), "in_doubt", error_type="reconcile", error_message="timeout after send")
    run_id = ledger.start_run("pay", "dispatch", "schedule", owner="w1", now=at(0))
    now = at(3 * 3600)
    found = {
        (f.rule.name, f.labels.get("connection") or f.labels.get("scheme")): f
        for f in evaluate(ledger, decided, now, {"pay": 300.0})
    }
    assert ("quota_80", "dingtalk_main") in found and ("quota_95", "dingtalk_main") not in found
    assert "85 of 100 metered calls" in found[("quota_80", "dingtalk_main")].summary
    assert found[("in_doubt_old", "pay")].detail["count"] == 2
    assert found[("run_stalled", "pay")].labels["run"] == str(run_id)
    assert ("scheme_late", "pay") in found  # no successful pass in 3 h for a 5-minute scheme
    ledger.finish_run(run_id, status="ok")  # ended now (wall clock, after T0): a fresh pass
    later = {f.rule.name for f in evaluate(ledger, decided, now + dt.timedelta(minutes=1), {"pay": 300.0})}
    assert "run_stalled" not in later and "scheme_late" not in later


async def test_history_is_pruned_by_age_and_firing_alerts_are_kept(ledger: Ledger, robot: Any) -> None:
    service = AlertService(ledger, rules(), [build_channel(robot_spec(robot))], retention_days=1)
    ids = add_records(ledger, "pay", 2, at(0))
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="bad")
    await service.tick(at(2))
    ledger.set_status(ids[:1], "pending", "replayed by hand", now=at(100))  # one of them is fixed
    await service.tick(at(200))
    assert len(robot_messages(robot)) == 2  # the alert, then the recovery notice of the fixed one
    assert AlertBook(ledger).prune(at(300)) > 0
    left = AlertBook(ledger).list_alerts(None)
    assert [(a["state"], a["labels"]["record"]) for a in left] == [("firing", "R0001")]
    assert service.outbox.notifications() == [] and service.outbox.deliveries() == []


async def test_a_rule_whose_read_fails_neither_stops_the_others_nor_resolves_its_alerts(
    ledger: Ledger, robot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.observe.alerts import evaluator

    service = AlertService(ledger, rules(), [build_channel(robot_spec(robot))])
    add_records(ledger, "pay", 1, at(0))
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="bad")
    await service.tick(at(2))
    assert len(robot_messages(robot)) == 1

    def broken(*args: Any) -> list[Any]:
        raise RuntimeError("the ledger hiccuped")

    monkeypatch.setitem(evaluator.CHECKS, "record_dead", broken)  # one rule's read fails this tick
    for i in range(3):
        ledger.record(ApiCall("dd", "Login", "reauthenticate", 1.0, at=at(100 + i)))
    result = await service.tick(at(200))
    assert result.resolved == 0 and "rule record_dead: RuntimeError: the ledger hiccuped" in result.errors
    texts = [robot_text(m) for m in robot_messages(robot)]
    assert len(texts) == 2 and "auth_failing" in texts[1] and "RESOLVED" not in texts[1]
    assert [a["rule"] for a in AlertBook(ledger).list_alerts("resolved")] == []


async def test_an_alert_that_ends_while_silenced_sends_no_recovery_notice(ledger: Ledger, robot: Any) -> None:
    service = AlertService(ledger, rules(), [build_channel(robot_spec(robot))])
    ids = add_records(ledger, "pay", 1, at(0))
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="bad")
    await service.tick(at(2))
    AlertBook(ledger).silence({"record": "R0000"}, at(3600), by="cli:test", now=at(10))
    await service.tick(at(20))
    ledger.set_status(ids, "pending", "replayed by hand", now=at(30))
    for s in (100, 200):
        await service.tick(at(s))
    assert len(robot_messages(robot)) == 1
    [ended] = AlertBook(ledger).list_alerts("resolved")
    assert ended["resolved_notified_at"] is not None  # closed quietly, not left pending
