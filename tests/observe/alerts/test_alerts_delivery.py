"""End to end over real peers: the DingTalk sandbox's group robot and a local SMTP server receive grouped
alerts and recovery notices; a refusal by the robot is a failed delivery carrying the robot's words."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alerts_peers import (
    add_records,
    dispatch,
    mail_channel,
    robot_messages,
    robot_spec,
    robot_text,
)

from ferry.observe.alerts import AlertService, Rules, build_channel
from ferry.observe.alerts.rules import AlertsFile
from ferry.observe.metrics import REGISTRY
from ferry.store import Ledger

T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def rules(**defaults: Any) -> Rules:
    return Rules(
        AlertsFile.model_validate({"defaults": {"group_wait": "30s", "group_interval": "1m", **defaults}})
    )


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def test_a_kingdee_outage_sends_one_grouped_message_per_channel_then_one_recovery_notice(
    ledger: Ledger, robot: Any, mailbox: Any
) -> None:
    ding = build_channel(robot_spec(robot))
    service = AlertService(ledger, rules(), [ding, mail_channel(mailbox)])
    sent_before = (
        REGISTRY.get_sample_value(
            "ferry_alerts_notifications_sent_total", {"channel": "ding", "kind": "firing"}
        )
        or 0
    )
    add_records(ledger, "pay", 100, at(0))
    assert (
        dispatch(
            ledger,
            "pay",
            at(1),
            "failed",
            error_type="retry",
            error_message="Kingdee: connection refused",
            next_attempt_at=at(60),
        )
        == 100
    )

    first = await service.tick(at(2))
    assert (first.new, first.sent) == (1, 0)  # group_wait: the group is gathered before it is sent
    assert robot_messages(robot) == [] and mailbox.messages == []

    await service.tick(at(33))
    for s in (40, 70, 100):
        assert (await service.tick(at(s))).sent == 0
    [firing] = robot_messages(robot)
    text = robot_text(firing)
    assert "failure_rate" in text and "100 of 100 records failed" in text
    assert all(f"R{i:04d}" in text for i in range(100))
    assert "/records?scheme=pay&status=failed" in text
    assert firing["msgUuid"]
    [mail] = mailbox.messages
    assert "failure_rate" in mail["Subject"] and "R0099" in mail.get_payload() and mailbox.logins == ["ferry"]

    # Kingdee is back: the retries are written and the alert resolves, once
    assert dispatch(ledger, "pay", at(120), "written", target_id="FKD001") == 100
    assert (await service.tick(at(121))).resolved == 1
    for s in (200, 400):
        assert (await service.tick(at(s))).sent == 0
    messages = robot_messages(robot)
    assert len(messages) == 2 and "RESOLVED" in robot_text(messages[1])
    assert len(mailbox.messages) == 2 and "RESOLVED" in mailbox.messages[1]["Subject"]
    assert REGISTRY.get_sample_value("ferry_alerts_fired_total", {"rule": "failure_rate"}) >= 1
    assert REGISTRY.get_sample_value("ferry_alerts_resolved_total", {"rule": "failure_rate"}) >= 1
    sent_after = REGISTRY.get_sample_value(
        "ferry_alerts_notifications_sent_total", {"channel": "ding", "kind": "firing"}
    )
    assert sent_after == sent_before + 1


async def test_a_signature_or_keyword_refused_by_the_robot_is_a_failed_delivery_with_its_message(
    ledger: Ledger, robot: Any
) -> None:
    wrong_secret = build_channel(robot_spec(robot, name="ding", secret="SECnotthesecret"))
    no_keyword = build_channel(robot_spec(robot, name="ding2", keyword=None))
    service = AlertService(ledger, rules(group_wait="0s"), [wrong_secret, no_keyword])
    failed_before = (
        REGISTRY.get_sample_value("ferry_alerts_delivery_failures_total", {"channel": "ding"}) or 0
    )
    add_records(ledger, "pay", 3, at(0))  # three dead records: one group (too few for failure_rate)
    dispatch(ledger, "pay", at(1), "dead", error_type="give_up", error_message="Kingdee: bad account")

    result = await service.tick(at(2))
    assert result.sent == 0 and result.failed == 2
    assert robot_messages(robot) == []
    log = {d["channel"]: d for d in service.outbox.deliveries()}
    assert not log["ding"]["ok"] and "errcode 310000: sign not match" in log["ding"]["error"]
    assert not log["ding2"]["ok"] and "keywords not in content" in log["ding2"]["error"]
    assert "SECnotthesecret" not in log["ding"]["error"] and "access_token" not in log["ding"]["error"]
    states = {n["channel"]: n for n in service.outbox.notifications()}
    assert states["ding"]["status"] == "failed" and states["ding"]["next_attempt_at"] > at(2)
    assert (
        REGISTRY.get_sample_value("ferry_alerts_delivery_failures_total", {"channel": "ding"})
        == failed_before + 1
    )


async def test_a_test_message_reaches_the_robot_and_shows_in_the_delivery_log(
    ledger: Ledger, robot: Any
) -> None:
    service = AlertService(ledger, rules(), [build_channel(robot_spec(robot))])
    assert await service.test("ding") is None
    [message] = robot_messages(robot)
    assert "Ferry test message" in robot_text(message)
    [logged] = service.outbox.deliveries()
    assert logged["ok"] and logged["channel"] == "ding"
    wrong = AlertService(ledger, rules(), [build_channel(robot_spec(robot, secret="SECnope-nope"))])
    assert "sign not match" in (await wrong.test("ding") or "")
    assert "no channel 'other'" in (await service.test("other") or "")
