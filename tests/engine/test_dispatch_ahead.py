"""Dispatch one batch ahead: the next batch is claimed and checked while this one is written. It sees
the batch before as it would one after the other (the later of two duplicates in adjacent batches is
held, not both), nothing of it is sent before this one is stored, and a pass that stops gives it back.
With a target quicker than a claim, the next batch is claimed with the outcomes of the last instead, on
SQLite (whose writers take turns); on PostgreSQL it is claimed ahead, beside the finish."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ferry.connectors.base import TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.errors import AccessDenied
from ferry.engine.dispatch import Dispatcher
from ferry.engine.transform import Transform
from ferry.scheme import Scheme
from ferry.store import Collected, Ledger
from pg_support import fresh_pg_schema, require_postgres

FIELDS = {"payee": "payee", "amount": "amount", "date": "date", "summary": "summary"}


def scheme(batch_size: int) -> Scheme:
    return Scheme.model_validate(
        {
            "id": "pay",
            "source": {"api": "/x", "id": "id", "number": "no"},
            "target": {
                "api": "/y",
                "batch_size": batch_size,
                "request": [{"field": "FBillNo", "value": "{{no}}"}],
            },
            "checks": {"fields": FIELDS},
        }
    )


class Target:
    """Answers at once; records what it was sent, and what the ledger said while it was sent."""

    def __init__(self, ledger: Ledger, *, deny_from: int | None = None, stop: asyncio.Event | None = None):
        self.ledger = ledger
        self.calls: list[list[int]] = []
        self.deny_from = deny_from
        self.stop = stop

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        if self.deny_from is not None and len(self.calls) >= self.deny_from:
            raise AccessDenied("the app secret was revoked")
        self.calls.append([it.key for it in items])
        await asyncio.sleep(0.05)  # the batch ahead is claimed and checked meanwhile
        if self.stop is not None:
            self.stop.set()
        return [WriteOutcome(it.key, TargetDoc(id=f"T{it.key}", number=f"D{it.key}")) for it in items]

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        return None

    async def aclose(self) -> None:
        return None


def payments(ledger: Ledger, n: int) -> list[int]:
    """``n`` payments to different payees, but the second is a duplicate of the first (a day later)."""
    contents: list[dict[str, Any]] = [
        {"id": f"P{i}", "no": f"FK{i}", "payee": f"供应商{i}", "amount": f"{100 + i}.00"} for i in range(n)
    ]
    for c in contents:
        c.update(date="2026-11-02", summary="支付服务器租赁费 11月")
    contents[0]["date"] = "2026-11-01"
    contents[1].update(payee=contents[0]["payee"], amount=contents[0]["amount"])
    ledger.collect("pay", [Collected(source_id=c["id"], number=c["no"], content=c) for c in contents])
    return [row.id for row in sorted(ledger.list_records(scheme="pay"), key=lambda r: r.id)]


def record_claims(ledger: Ledger) -> list[list[int]]:
    """The ids of every claim made on ``ledger`` from now on."""
    claims: list[list[int]] = []
    claim = ledger.claim

    def recording(*args: Any, **kwargs: Any) -> Any:
        got = claim(*args, **kwargs)
        claims.append([c.id for c in got])
        return got

    ledger.claim = recording  # type: ignore[method-assign]
    return claims


async def dispatch(ledger: Ledger, target: Target | QuickTarget, batch_size: int, **kwargs: Any) -> Any:
    s = scheme(batch_size)
    return await Dispatcher(s, ledger, target, Transform(s), owner="w1").run(**kwargs)


async def test_the_later_of_two_duplicates_in_adjacent_batches_is_held_not_both(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    first, second, *rest = payments(ledger, 4)
    target = Target(ledger)
    report = await dispatch(ledger, target, 1)
    assert report.by_status == {"written": 3, "held": 1}
    assert [ledger.get_by_id(i).status for i in (first, second)] == ["written", "held"]  # type: ignore[union-attr]
    assert [k for call in target.calls for k in call] == [first, *rest]
    # the hold's findings are stored with its outcome
    assert [f.rule for f in ledger.findings_of(second)] == ["duplicate"]
    ledger.close()


async def test_a_pass_that_stops_gives_the_batch_ahead_back_untouched(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    ids = payments(ledger, 6)
    stop = asyncio.Event()
    target = Target(ledger, stop=stop)
    claims = record_claims(ledger)
    report = await dispatch(ledger, target, 2, stop=stop)
    assert claims == [ids[:2], ids[2:4]]  # the second claimed ahead, while the first was written
    assert report.batches == 1 and target.calls == [ids[:1]]  # the second is the first's duplicate
    rows = {r.id: r for r in ledger.list_records(scheme="pay")}
    assert [rows[i].status for i in ids] == ["written", "held", "pending", "pending", "pending", "pending"]
    assert all(rows[i].attempts == 0 and rows[i].lease_owner is None for i in ids[2:])
    ledger.close()


async def test_max_batches_claims_nothing_ahead_and_a_refused_connection_gives_it_back(
    tmp_path: Path,
) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    ids = payments(ledger, 8)
    report = await dispatch(ledger, Target(ledger), 2, max_batches=1)
    assert report.batches == 1
    assert ledger.counts("pay") == {"written": 1, "held": 1, "pending": 6}
    target = Target(ledger, deny_from=1)
    claims = record_claims(ledger)
    with contextlib.suppress(AccessDenied):  # the pass stops: the connection is the problem
        await dispatch(ledger, target, 2)
    assert target.calls == [ids[2:4]]
    # a batch was claimed ahead of the refused one (what it found depends on when the refused batch
    # went back), and given back too
    assert claims[:2] == [ids[2:4], ids[4:6]] and len(claims) == 3
    rows = {r.id: r for r in ledger.list_records(scheme="pay")}
    # the refused batch and the one claimed ahead of it both go back
    assert [rows[i].status for i in ids[2:]] == ["written", "written"] + ["pending"] * 4
    assert all(rows[i].attempts == 0 and rows[i].lease_owner is None for i in ids[4:])
    ledger.close()


class QuickTarget:
    """Answers at once (it reads nothing, so it stays quicker than any claim); notes when each batch
    was sent, for :func:`stored_before_the_next_was_sent`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.calls: list[list[int]] = []
        self.sent_at: list[dt.datetime] = []

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        self.sent_at.append(dt.datetime.now(dt.UTC))
        self.calls.append([it.key for it in items])
        return [WriteOutcome(it.key, TargetDoc(id=f"T{it.key}", number=f"D{it.key}")) for it in items]

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        return None

    async def aclose(self) -> None:
        return None


def stored_before_the_next_was_sent(ledger: Ledger, target: QuickTarget) -> bool:
    """Every batch's outcomes were stored before the next batch was sent."""
    for k in range(1, len(target.calls)):
        for earlier in target.calls[k - 1]:
            stored = [e.at for e in ledger.history(earlier) if e.from_status == "writing"]
            if not stored or stored[-1] > target.sent_at[k]:
                return False
    return True


def record_merged(ledger: Ledger) -> list[list[int]]:
    """The ids claimed by every ``finish_and_claim`` on ``ledger`` from now on."""
    claims: list[list[int]] = []
    merged = ledger.finish_and_claim

    def recording(*args: Any, **kwargs: Any) -> Any:
        lost, got = merged(*args, **kwargs)
        claims.append([c.id for c in got])
        return lost, got

    ledger.finish_and_claim = recording  # type: ignore[method-assign]
    return claims


async def test_a_quick_target_has_each_next_batch_claimed_with_the_last_ones_outcomes(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    ids = payments(ledger, 12)
    target = QuickTarget(ledger)
    ahead, merged = record_claims(ledger), record_merged(ledger)
    report = await dispatch(ledger, target, 2)
    assert report.by_status == {"written": 11, "held": 1}
    sent = [k for call in target.calls for k in call]
    assert sorted(sent) == [i for i in ids if i != ids[1]] and len(set(sent)) == len(sent)
    # the first two batches are claimed on their own (the second ahead, before the target's speed is
    # known), the rest with the outcomes of the batch before; the last such claim finds nothing
    assert ahead == [ids[0:2], ids[2:4]]
    assert merged == [ids[4:6], ids[6:8], ids[8:10], ids[10:12], []]
    assert stored_before_the_next_was_sent(ledger, target)
    ledger.close()


def record_spans(ledger: Ledger, name: str) -> list[tuple[float, float, str]]:
    """When each call of ``ledger.<name>`` from now on began and ended, and on which thread."""
    spans: list[tuple[float, float, str]] = []
    method = getattr(ledger, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spans.append((began, time.perf_counter(), threading.current_thread().name))

    setattr(ledger, name, timed)
    return spans


@pytest.mark.postgres
async def test_on_postgresql_a_quick_targets_next_batch_is_claimed_ahead_beside_the_finish() -> None:
    """PostgreSQL runs two write transactions at once, so the claim ahead is not merged into the
    finish: the server works on both, each on its connection, and batches still go one after the other."""
    require_postgres()
    with fresh_pg_schema() as url:
        ledger = Ledger(url)
        ledger.migrate()
        try:
            ids = payments(ledger, 12)
            target = QuickTarget(ledger)
            ahead, merged = record_claims(ledger), record_merged(ledger)
            claims, finishes = record_spans(ledger, "claim"), record_spans(ledger, "finish")
            report = await dispatch(ledger, target, 2)
            assert report.by_status == {"written": 11, "held": 1}
            sent = [k for call in target.calls for k in call]
            assert sorted(sent) == [i for i in ids if i != ids[1]] and len(set(sent)) == len(sent)
            assert merged == [] and ahead == [ids[k : k + 2] for k in range(0, 12, 2)] + [[]]
            assert stored_before_the_next_was_sent(ledger, target)
            # a claim ahead ran while the batch before was being stored, on another thread
            assert any(
                c0 < f1 and f0 < c1 and ct != ft for c0, c1, ct in claims for f0, f1, ft in finishes
            ), (claims, finishes)
        finally:
            ledger.close()


async def test_a_pass_that_stops_gives_back_the_batch_claimed_with_the_outcomes(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    ids = payments(ledger, 12)
    stop = asyncio.Event()
    written: list[str] = []

    def on_outcome(status: str) -> None:
        written.append(status)
        if len(written) == 6:  # the third batch is stored, and the fourth claimed with it
            stop.set()

    s = scheme(2)
    merged = record_merged(ledger)
    dispatcher = Dispatcher(s, ledger, QuickTarget(ledger), Transform(s), owner="w1", on_outcome=on_outcome)
    report = await dispatcher.run(stop=stop)
    assert report.batches == 3 and merged == [ids[4:6], ids[6:8]]
    rows = {r.id: r for r in ledger.list_records(scheme="pay")}
    assert [rows[i].status for i in ids[:6]] == [
        "written",
        "held",
        "written",
        "written",
        "written",
        "written",
    ]
    assert all(
        rows[i].status == "pending" and rows[i].attempts == 0 and rows[i].lease_owner is None for i in ids[6:]
    )
    ledger.close()


class SlowTarget(Target):
    """Answers after several lease lengths, trying meanwhile to take the batch in hand (and the batch
    ahead) over as a second worker would."""

    def __init__(self, ledger: Ledger, seconds: float) -> None:
        super().__init__(ledger)
        self.seconds = seconds
        self.taken: list[int] = []

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        self.calls.append([it.key for it in items])
        for _ in range(4):
            await asyncio.sleep(self.seconds / 4)
            # a lease that ran out would be claimed here (a crashed worker's), and probed
            taken = await asyncio.to_thread(self.ledger.claim, "pay", owner="w2", limit=10, lease_seconds=60)
            self.taken += [rec.id for rec in taken]
        return [WriteOutcome(it.key, TargetDoc(id=f"T{it.key}", number=f"D{it.key}")) for it in items]


async def test_a_slow_targets_batches_keep_their_leases_until_their_outcomes_are_stored(
    tmp_path: Path,
) -> None:
    """Leases of 0.3 s and a target that takes 1.2 s a batch: the batch in hand and the one ahead
    are renewed, so no other worker takes either over, and no outcome is lost."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.migrate()
    contents = [{"id": f"P{i}", "no": f"FK{i}"} for i in range(4)]
    ledger.collect("pay", [Collected(source_id=c["id"], number=c["no"], content=c) for c in contents])
    s = Scheme.model_validate(
        {
            "id": "pay",
            "source": {"api": "/x", "id": "id", "number": "no"},
            "target": {"api": "/y", "batch_size": 2, "request": [{"field": "FBillNo", "value": "{{no}}"}]},
        }
    )
    target = SlowTarget(ledger, 1.2)
    report = await Dispatcher(s, ledger, target, Transform(s), owner="w1", lease_seconds=0.3).run()
    assert target.taken == [] and report.lost_leases == 0
    assert report.by_status == {"written": 4} and len(target.calls) == 2
    assert {r.status for r in ledger.list_records(scheme="pay")} == {"written"}
    ledger.close()
