"""Detail calls in flight and their handover: sized by Little's law, stored as they arrive, so a collect
cut short loses only the calls in flight, and the watermark never passes a window not wholly stored."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from dingtalk_approvals import V1_GET, approval_scheme, new_ledger, requests, source_for

from ferry.connectors.base import Window
from ferry.connectors.dingtalk.flow import (
    BEFORE_SEEN,
    MAX_IN_FLIGHT,
    InFlight,
    Pace,
    handover,
    in_flight_target,
)
from ferry.connectors.dingtalk.source import utcnow
from ferry.connectors.errors import GiveUp
from ferry.engine.collect import Collector
from ferry.engine.transform import Transform


def no_render(extra: Any) -> dict[str, Any]:
    return {}


def window(sb: Any) -> Window:
    now = utcnow()
    return Window(now - dt.timedelta(days=60), now, sb.config.process_code)


# ---------------------------------------------------------------------------------- Little's law


def test_in_flight_follows_the_rate_and_the_latency() -> None:
    assert in_flight_target(Pace(20.0)) == BEFORE_SEEN  # nothing measured yet
    near = in_flight_target(Pace(20.0, send_share=0.9, rtt_s=0.05))
    far = in_flight_target(Pace(20.0, send_share=0.49, rtt_s=0.225))  # 50-400 ms: margin ~0.51 s
    # far: 20/s sent within 0.49 s of each second is ~41/s; x 0.225 s is ~9 on the wire, plus waiting
    assert near < far and far >= 9 + 5
    assert in_flight_target(Pace(10.0, 0.49, 0.225)) < far  # after a step-down, fewer are needed
    assert in_flight_target(Pace(20.0, 0.49, 0.225), hold_s=0.2) > far  # held until stored
    assert in_flight_target(Pace(20.0, 0.3, 5.0)) == MAX_IN_FLIGHT
    assert in_flight_target(Pace(20.0, 0.3, 5.0), cap=6) == 6
    assert in_flight_target(Pace(20.0, 1.0, 0.0)) >= 4


async def test_in_flight_slots_follow_a_moving_target() -> None:
    target = [2]
    flight = InFlight(lambda: target[0])
    await flight.acquire()
    await flight.acquire()
    third = asyncio.ensure_future(flight.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    target[0] = 1
    flight.release()  # two held, target one: still no room
    await asyncio.sleep(0)
    assert not third.done() and flight.held == 1
    target[0] = 3
    flight.release()
    await asyncio.sleep(0)
    assert third.done() and flight.held == 1
    # a waiter cancelled after it was granted gives its slot back
    target[0] = 1
    fourth = asyncio.ensure_future(flight.acquire())
    await asyncio.sleep(0)
    fourth.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fourth
    assert flight.held == 1 and flight.peak == 2


# ---------------------------------------------------------------------------------- handover


async def test_handover_gives_what_has_arrived_and_an_error_only_after_it() -> None:
    arrived: asyncio.Queue[int | Exception | None] = asyncio.Queue()
    for item in (1, 2, 3):
        arrived.put_nowait(item)
    chunks = handover(arrived, 2)
    assert await chunks.__anext__() == [1, 2]  # never more than the size ...
    assert await chunks.__anext__() == [3]  # ... and never waiting to fill one
    arrived.put_nowait(ValueError("a detail failed"))
    arrived.put_nowait(4)  # in flight when it failed: still handed over
    arrived.put_nowait(None)
    assert await chunks.__anext__() == [4]
    with pytest.raises(ValueError, match="a detail failed"):
        await chunks.__anext__()


async def test_details_are_handed_over_as_they_arrive_not_a_page_at_a_time(sandbox: Any) -> None:
    """A collect cut short (a worker killed) has fetched little beyond what it was handed: the calls
    in flight, not pages of details."""
    source = source_for(sandbox, concurrency=3)
    handed = 0
    async with source.client:
        pages = source.pages(window(sandbox), no_render)
        async for page in pages:
            handed += len(page.records)
            if handed >= 5:
                break
        await pages.aclose()  # type: ignore[attr-defined]
    # a page is 20 IDs: the old source fetched all 20 (and two pages more) before handing any over
    assert 5 <= handed <= 8
    assert requests(sandbox, V1_GET) <= handed + 3


async def test_in_flight_grows_with_latency_up_to_the_cap(start_sandbox: Any) -> None:
    sb = start_sandbox(seed_instances=60, latency_ms=(150, 250))
    source = source_for(sb)
    async with source.client:
        records = [r async for page in source.pages(window(sb), no_render) for r in page.records]
    assert len(records) == 60
    # 20/s at ~0.2 s a call, sent within part of each second: well over the old fixed 8
    assert source.peak_in_flight > BEFORE_SEEN
    capped = source_for(sb, concurrency=5)
    async with capped.client:
        assert len([r async for page in capped.pages(window(sb), no_render) for r in page.records]) == 60
    assert capped.peak_in_flight <= 5


async def test_a_failed_detail_keeps_the_watermark_and_what_arrived_is_stored(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = new_ledger(tmp_path)
    scheme = approval_scheme(sandbox.config.process_code)
    source = source_for(sandbox, ledger=ledger, concurrency=2)
    fail = sorted(i.id for i in sandbox.state.store.all())[15]
    real = source.client.get_instance

    async def get_instance(instance_id: str) -> dict[str, Any]:
        if instance_id == fail:
            raise GiveUp("refused for the test", api=V1_GET)
        return await real(instance_id)

    monkeypatch.setattr(source.client, "get_instance", get_instance)
    collector = Collector(scheme, ledger, source, Transform(scheme))
    partition = sandbox.config.process_code
    with pytest.raises(GiveUp):
        await collector.run(partitions=(partition,))
    assert ledger.get_watermark(scheme.id, partition) is None
    stored = sum(ledger.counts(scheme.id).values())
    assert 0 < stored < 30 and ledger.get(scheme.id, fail) is None
    fetched = requests(sandbox, V1_GET)
    # every detail fetched before the pass gave up is in the ledger, those in flight at the time too
    assert fetched == stored

    monkeypatch.setattr(source.client, "get_instance", real)
    await collector.run(partitions=(partition,))
    assert sum(ledger.counts(scheme.id).values()) == 30
    assert ledger.get_watermark(scheme.id, partition) is not None
    # the second pass fetched only what the first had not stored
    assert requests(sandbox, V1_GET) - fetched == 30 - stored
    await source.aclose()
    ledger.close()
