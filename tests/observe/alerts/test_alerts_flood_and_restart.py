"""Floods and restarts: 300 dead records a minute stay within the robot's 20 a minute with every record in a
digest; a service stopped mid-send, or two running at once over one ledger, neither drop nor repeat."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from alerts_peers import add_records, dispatch, robot_messages, robot_spec, robot_text

from ferry.observe.alerts import AlertService, Rules, build_channel
from ferry.observe.alerts.rules import AlertsFile
from ferry.store import Ledger


def per_record_rules() -> Rules:
    # every dead record its own group: the most messages a flood can ask for
    defaults = {"group_by": ["rule", "scheme", "record"], "group_wait": "0s", "group_interval": "1m"}
    return Rules(
        AlertsFile.model_validate(
            {"defaults": defaults, "rules": [{"name": "failure_rate", "enabled": False}]}
        )
    )


def sandbox_now(sb: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(sb.state.clock.now(), dt.UTC)


def ids_in(texts: list[str], prefix: str) -> list[str]:
    return re.findall(rf"\b{prefix}\d{{4}}\b", "\n".join(texts))


async def test_300_dead_records_a_minute_never_pass_the_robots_limit_and_the_digest_loses_none(
    ledger: Ledger, robot: Any
) -> None:
    service = AlertService(ledger, per_record_rules(), [build_channel(robot_spec(robot))])
    t = sandbox_now(robot)
    add_records(ledger, "pay", 300, t, prefix="A")
    dispatch(ledger, "pay", t, "dead", error_type="give_up", error_message="金蝶: 单据编号重复")

    first = await service.tick(t)
    assert (first.planned, first.sent, first.failed) == (300, 20, 0)
    again = await service.tick(t + dt.timedelta(seconds=1))
    assert again.sent == 0

    # a second wave in the same minute waits for the minute to pass, then comes as one more digest
    add_records(ledger, "pay", 300, t + dt.timedelta(seconds=5), prefix="B")
    dispatch(ledger, "pay", t + dt.timedelta(seconds=5), "dead", error_type="give_up", error_message="x")
    assert (await service.tick(t + dt.timedelta(seconds=5))).sent == 0
    assert (await service.tick(t + dt.timedelta(seconds=30))).sent == 0
    robot.state.clock.advance(61)
    late = await service.tick(t + dt.timedelta(seconds=61))
    assert (late.sent, late.failed) == (20, 0)

    texts = [robot_text(m) for m in robot_messages(robot)]
    assert len(texts) == 40  # the robot accepted every one: its limit (660026) was never hit
    assert all(len(x.encode()) < 20_000 for x in texts)
    assert sum("digest" in x for x in texts) == 2
    assert sorted(set(ids_in(texts, "A"))) == [f"A{i:04d}" for i in range(300)]
    assert sorted(set(ids_in(texts, "B"))) == [f"B{i:04d}" for i in range(300)]
    assert all(d["ok"] for d in service.outbox.deliveries(limit=1000))


class Stalling:
    """A channel that delivers ``allow`` messages and then hangs, as a process does when it is killed."""

    def __init__(self, inner: Any, allow: int) -> None:
        self.inner, self.allow = inner, allow
        self.name, self.type, self.per_minute = inner.name, inner.type, inner.per_minute

    async def send(self, body: dict[str, Any], message_id: str) -> None:
        if self.allow <= 0:
            await asyncio.Event().wait()
        self.allow -= 1
        await self.inner.send(body, message_id)


async def test_a_service_stopped_mid_send_and_its_successor_deliver_each_notification_once(
    ledger_url: str, start_sandbox: Any
) -> None:
    sb = start_sandbox(seed_instances=0, robot_per_minute=1000)
    sb.http.post(
        "/_sandbox/robots",
        json={
            "access_token": "alerts-robot",
            "secret": "SECalertsrobotsecret000000000000000000000000000000000000000000",
            "keywords": ["Ferry"],
        },
    )
    spec = robot_spec(sb).model_copy(update={"per_minute": 1000})
    t = sandbox_now(sb)
    with Ledger(ledger_url) as first_ledger:
        add_records(first_ledger, "pay", 50, t)
        dispatch(first_ledger, "pay", t, "dead", error_type="give_up", error_message="bad")
        first = AlertService(first_ledger, per_record_rules(), [Stalling(build_channel(spec), allow=20)])
        task = asyncio.create_task(first.tick(t))
        for _ in range(200):
            if len(robot_messages(sb)) >= 20:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        task.cancel()  # killed in the middle of sending its claimed notifications
    assert len(robot_messages(sb)) == 20

    with Ledger(ledger_url) as second_ledger:
        second = AlertService(second_ledger, per_record_rules(), [build_channel(spec)])
        assert (
            await second.tick(t + dt.timedelta(seconds=5))
        ).sent == 0  # the dead process's claims still hold
        assert (await second.tick(t + dt.timedelta(seconds=65))).sent == 30
        assert (await second.tick(t + dt.timedelta(seconds=130))).sent == 0
        ok = [d for d in second.outbox.deliveries(limit=1000) if d["ok"]]
    texts = [robot_text(m) for m in robot_messages(sb)]
    assert sorted(ids_in(texts, "R")) == [f"R{i:04d}" for i in range(50)]  # each once, none missing
    assert len(ok) == 50


async def test_two_services_at_once_over_one_ledger_send_each_notification_once(
    ledger_url: str, start_sandbox: Any
) -> None:
    sb = start_sandbox(seed_instances=0, robot_per_minute=1000)
    sb.http.post(
        "/_sandbox/robots",
        json={
            "access_token": "alerts-robot",
            "secret": "SECalertsrobotsecret000000000000000000000000000000000000000000",
            "keywords": ["Ferry"],
        },
    )
    spec = robot_spec(sb).model_copy(update={"per_minute": 1000})
    t = sandbox_now(sb)
    with Ledger(ledger_url) as one, Ledger(ledger_url) as two:
        a = AlertService(one, per_record_rules(), [build_channel(spec)], owner="a")
        b = AlertService(two, per_record_rules(), [build_channel(spec)], owner="b")
        for wave in range(3):
            now = t + dt.timedelta(seconds=10 * wave)
            add_records(one, "pay", 20, now, prefix=f"W{wave}")
            dispatch(one, "pay", now, "dead", error_type="give_up", error_message="bad")
            results = await asyncio.gather(a.tick(now), b.tick(now), a.tick(now), b.tick(now))
            assert sum(r.sent for r in results) == 20
        deliveries = a.outbox.deliveries(limit=1000)
    texts = [robot_text(m) for m in robot_messages(sb)]
    assert len(texts) == 60 and len(deliveries) == 60
    found = re.findall(r"\bW\d\d{4}\b", "\n".join(texts))
    assert sorted(found) == sorted(f"W{w}{i:04d}" for w in range(3) for i in range(20))
