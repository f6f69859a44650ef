"""Collect → ledger → dispatch into the Kingdee sandbox through the real target adapter, with lost answers.

The sandbox drops the connection after committing a good share of the writes (Push, Submit, Audit). The engine
must still end with exactly one payment bill per source bill and every record written: an unknown outcome is
probed, never resent blind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.connectors.base import Page, RenderRequest, Window
from ferry.connectors.settings import connections_from_dict
from ferry.engine.collect import Collector
from ferry.engine.dispatch import Dispatcher, utcnow
from ferry.engine.registry import BuildContext, build_target
from ferry.engine.transform import Transform
from ferry.sandbox.kingdee import (
    DEFAULT_ACCT_ID,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_USERNAME,
    KingdeeSandbox,
    SandboxConfig,
)
from ferry.sandbox.serve import ServerThread
from ferry.scheme import Scheme
from ferry.store import Ledger

N = 24


class ApprovalSource:
    """A tiny in-memory source: one approval per seeded payment request, named by its bill number."""

    def __init__(self, numbers: Sequence[str]) -> None:
        self.numbers = list(numbers)

    async def pages(self, window: Window, render: RenderRequest) -> AsyncIterator[Page]:
        for start in range(0, len(self.numbers), 10):
            chunk = self.numbers[start : start + 10]
            yield Page([{"id": f"APPROVAL-{n}", "bill_no": n} for n in chunk])

    async def aclose(self) -> None:
        return None


SCHEME: dict[str, Any] = {
    "id": "approvals-to-paybill",
    "source": {"api": "memory", "id": "id", "number": "bill_no"},
    "target": {
        "connection": "kd",
        "api": "Push",
        "batch_size": 5,
        "request": [
            {"field": "FormId", "value": "CN_PAYAPPLY"},
            {"field": "Numbers", "value": "{{bill_no}}"},
            {"field": "IsEnableDefaultRule", "value": "true"},
            {"field": "TargetFormId", "value": "AP_PAYBILL"},
            {"field": "IsDraftWhenSaveFail", "value": "true"},
        ],
        "follow_up": ["Submit", "Audit"],
        "probe": {"form_id": "AP_PAYBILL", "source_number_field": "FPAYBILLSRCENTRY_FSRCBILLNO"},
        "params": {"follow_up_attempts": 4, "follow_up_retry_delay": 0.01},
    },
    "retry": {"max_attempts": 30, "initial_delay": 0.01, "max_delay": 0.05, "jitter": 0},
}


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    # a fixed seed and a sequential dispatcher make the fault draws, and so the test, repeatable
    box = KingdeeSandbox(SandboxConfig(random_seed=5, seed_bills=N))
    with ServerThread(box) as server:
        yield server.url


async def test_every_source_bill_gets_exactly_one_payment_bill_despite_lost_answers(
    sandbox_url: str, tmp_path: Path
) -> None:
    url = sandbox_url
    admin = httpx.Client(base_url=url + "/_sandbox/", timeout=10, verify=ssl.create_default_context())
    numbers = [b["number"] for b in admin.get("bills", params={"form_id": "CN_PAYAPPLY"}).json()["bills"]]
    assert len(numbers) == N
    r = admin.put("faults", json={"faults": {"drop_after_commit": 0.4, "conflict": 0.1}})
    assert r.status_code == 200, r.text

    scheme = Scheme.model_validate(SCHEME)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    conns = connections_from_dict(
        {
            "kd": {
                "type": "kingdee",
                "base_url": url + "/k3cloud/",
                "auth_mode": "sign",
                "acct_id": DEFAULT_ACCT_ID,
                "username": DEFAULT_USERNAME,
                "app_id": DEFAULT_APP_ID,
                "app_secret": "${KD_SECRET}",
            }
        },
        env={"KD_SECRET": DEFAULT_APP_SECRET},
    )
    target = build_target(conns["kd"], scheme.target, BuildContext(recorder=ledger, scheme_id=scheme.id))
    transform = Transform(scheme)
    try:
        collected = await Collector(scheme, ledger, ApprovalSource(numbers), transform).run()
        assert collected.records == N
        # in-doubt records wait 5 s before their probe; a clock 30 s behind makes them due at once
        dispatcher = Dispatcher(
            scheme, ledger, target, transform, owner="test", clock=lambda: utcnow() - dt.timedelta(seconds=30)
        )
        for _ in range(300):
            await dispatcher.run()
            counts = ledger.counts(scheme.id)
            if counts.get("written") == N:
                break
            await asyncio.sleep(0.02)
        assert ledger.counts(scheme.id) == {"written": N}
    finally:
        await target.aclose()
        ledger.flush()

    counts = admin.get("paybills/count", params={"source": numbers}).json()["counts"]
    assert counts == dict.fromkeys(numbers, 1)
    paybills = {
        s: b
        for b in admin.get("bills", params={"form_id": "AP_PAYBILL"}).json()["bills"]
        for s in b["sources"]
    }
    fired = admin.get("faults").json()
    probed = 0
    for n in numbers:
        rec = ledger.get(scheme.id, f"APPROVAL-{n}")
        assert rec is not None and rec.status == "written" and not rec.draft
        assert rec.target_number == paybills[n]["number"]
        story = [e.to_status for e in ledger.history(rec.id)]
        probed += "in_doubt" in story
        # submitted and audited: a follow-up that failed kept the record finishing until it succeeded
        assert paybills[n]["status"] == "C", (rec, paybills[n])
    # the faults really fired, and lost Push answers were settled by the probe
    assert probed > 0, fired
    usage = {u.api for u in ledger.api_usage(connection="kd")}
    assert {"Push", "Submit", "Audit", "ExecuteBillQuery"} <= usage
    ledger.close()
    admin.close()


async def test_follow_ups_that_fail_keep_the_record_finishing_until_they_succeed(
    sandbox_url: str, tmp_path: Path
) -> None:
    url = sandbox_url
    admin = httpx.Client(base_url=url + "/_sandbox/", timeout=10)
    numbers = [b["number"] for b in admin.get("bills", params={"form_id": "CN_PAYAPPLY"}).json()["bills"]][
        :10
    ]
    # Kingdee refuses every Audit for now (MsgCode 14, call limit): the bills are pushed and submitted
    admin.put("faults", json={"faults": {"limit": {"rate": 1.0, "ops": ["audit"], "count": None}}})
    # back-offs long enough that one pass writes each record once
    retry = {**SCHEME["retry"], "max_attempts": 6, "initial_delay": 30, "max_delay": 60}
    scheme = Scheme.model_validate({**SCHEME, "retry": retry})
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    conns = connections_from_dict(
        {
            "kd": {
                "type": "kingdee",
                "base_url": url + "/k3cloud/",
                "auth_mode": "sign",
                "acct_id": DEFAULT_ACCT_ID,
                "username": DEFAULT_USERNAME,
                "app_id": DEFAULT_APP_ID,
                "app_secret": "${KD_SECRET}",
            }
        },
        env={"KD_SECRET": DEFAULT_APP_SECRET},
    )
    target = build_target(conns["kd"], scheme.target, BuildContext(recorder=ledger, scheme_id=scheme.id))
    transform = Transform(scheme)
    try:
        await Collector(scheme, ledger, ApprovalSource(numbers), transform).run()
        await Dispatcher(scheme, ledger, target, transform, owner="test").run()
        assert ledger.counts(scheme.id) == {"finishing": 10}
        rows = ledger.list_records(scheme=scheme.id, limit=20)
        assert all(r.target_number and "Audit still to do" in (r.reason or "") for r in rows), rows
        bills = admin.get("bills", params={"form_id": "AP_PAYBILL"}).json()["bills"]
        assert len(bills) == 10 and {b["status"] for b in bills} == {"B"}  # submitted, not audited
        # Kingdee takes Audits again; the next pass (made due now) audits them all, one Audit per batch
        admin.delete("faults")
        assert ledger.set_status([r.id for r in rows], "finishing", "due now") == 10
        before = admin.get("stats").json()["calls"]
        await Dispatcher(scheme, ledger, target, transform, owner="test").run()
        after = admin.get("stats").json()["calls"]
        assert ledger.counts(scheme.id) == {"written": 10}
        bills = admin.get("bills", params={"form_id": "AP_PAYBILL"}).json()["bills"]
        assert len(bills) == 10 and {b["status"] for b in bills} == {"C"}
        pushes = after.get("Push", 0) - before.get("Push", 0)
        audits = after.get("Audit", 0) - before.get("Audit", 0)
        submits = after.get("Submit", 0) - before.get("Submit", 0)
        assert pushes == 0 and submits == 0 and audits == 2, (pushes, submits, audits)  # batches of 5
    finally:
        await target.aclose()
        ledger.close()
        admin.close()


async def test_follow_ups_that_never_succeed_end_dead_and_a_retry_only_finishes_them(
    sandbox_url: str, tmp_path: Path
) -> None:
    url = sandbox_url
    admin = httpx.Client(base_url=url + "/_sandbox/", timeout=10)
    numbers = [b["number"] for b in admin.get("bills", params={"form_id": "CN_PAYAPPLY"}).json()["bills"]][:5]
    admin.put("faults", json={"faults": {"limit": {"rate": 1.0, "ops": ["audit"], "count": None}}})
    scheme = Scheme.model_validate({**SCHEME, "retry": {**SCHEME["retry"], "max_attempts": 3}})
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    conns = connections_from_dict(
        {
            "kd": {
                "type": "kingdee",
                "base_url": url + "/k3cloud/",
                "auth_mode": "sign",
                "acct_id": DEFAULT_ACCT_ID,
                "username": DEFAULT_USERNAME,
                "app_id": DEFAULT_APP_ID,
                "app_secret": "${KD_SECRET}",
            }
        },
        env={"KD_SECRET": DEFAULT_APP_SECRET},
    )
    target = build_target(conns["kd"], scheme.target, BuildContext(recorder=ledger, scheme_id=scheme.id))
    transform = Transform(scheme)
    behind = lambda: utcnow() - dt.timedelta(seconds=60)  # noqa: E731
    try:
        await Collector(scheme, ledger, ApprovalSource(numbers), transform).run()
        for _ in range(3):
            await Dispatcher(scheme, ledger, target, transform, owner="test", clock=behind).run()
        rows = ledger.list_records(scheme=scheme.id, limit=20)
        assert {r.status for r in rows} == {"dead"}, [(r.status, r.reason) for r in rows]
        assert all(r.target_number and "finish it in the target by hand" in (r.reason or "") for r in rows)
        # a person retries them once Kingdee is fixed: they go back to finishing, never to a new Push
        admin.delete("faults")
        assert (
            ledger.set_status([r.id for r in rows], "pending", "retry requested by hand", reset_attempts=True)
            == 5
        )
        assert ledger.counts(scheme.id) == {"finishing": 5}
        await Dispatcher(scheme, ledger, target, transform, owner="test", clock=behind).run()
        assert ledger.counts(scheme.id) == {"written": 5}
        counts = admin.get("paybills/count", params={"source": numbers}).json()["counts"]
        assert counts == dict.fromkeys(numbers, 1)
    finally:
        await target.aclose()
        ledger.close()
        admin.close()
