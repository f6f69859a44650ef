"""The REST target writes one by one or in arrays, maps per-item results, and finds lost writes with the probe."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from rest_servers import Running

from ferry.connectors.base import Target, WriteItem
from ferry.connectors.errors import GiveUp, OutcomeUnknown, RetryLater, SlowDown
from ferry.connectors.http import RestTarget, build_target
from ferry.observe.calls import MemoryCallRecorder

PROBE = {
    "method": "GET",
    "path": "/docs",
    "params": {"external_id": "{source_id}"},
    "found_path": "items",
    "id_path": "id",
    "number_path": "number",
}


def item(key: int, **request: Any) -> WriteItem:
    body = {"external_id": f"SRC-{key}", "amount": 100, **request}
    return WriteItem(key=key, source_id=f"SRC-{key}", number=f"N-{key}", request=body)


def single_target(server: Running, recorder: MemoryCallRecorder | None = None, **extra: Any) -> RestTarget:
    spec = {
        "api": "/docs",
        "method": "POST",
        "params": {"id_path": "data.id", "number_path": "data.number"},
        "probe": PROBE,
        **extra,
    }
    return build_target({"base_url": server.url, "timeout": 0.5}, spec, recorder, connection_name="docs")


async def fault(server: Running, mode: str, count: int = 1) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        (await http.post("/_faults", json={"mode": mode, "count": count})).raise_for_status()


async def test_single_mode_writes_each_record_and_reads_id_and_number(docs_server: Running) -> None:
    recorder = MemoryCallRecorder()
    target = single_target(docs_server, recorder)
    assert isinstance(target, Target)
    outcomes = await target.write([item(1), item(2), item(3)])
    await target.aclose()
    assert all(o.ok for o in outcomes)
    by_key = {o.key: o.doc for o in outcomes}
    assert sorted((d.id, d.number) for d in by_key.values() if d) == [
        ("D1", "PAY-0001"),
        ("D2", "PAY-0002"),
        ("D3", "PAY-0003"),
    ]
    assert {d["external_id"] for d in docs_server.state.docs} == {"SRC-1", "SRC-2", "SRC-3"}
    assert recorder.count(api="POST /docs", status="ok") == 3


async def test_single_mode_gives_each_record_its_own_outcome(docs_server: Running) -> None:
    target = single_target(docs_server)
    await fault(docs_server, "429")
    # sequential so the fault lands on the first call
    first = await target.write([item(1)])
    rest = await target.write([item(2, amount=-5), item(3)])
    await target.aclose()
    assert isinstance(first[0].error, SlowDown) and first[0].error.retry_after == 3.0
    by_key = {o.key: o for o in rest}
    assert isinstance(by_key[2].error, GiveUp) and "amount must be positive" in str(by_key[2].error)
    assert by_key[2].error.code == "V001"
    assert by_key[3].ok


async def test_500_then_success_on_retry(docs_server: Running) -> None:
    target = single_target(docs_server)
    await fault(docs_server, "500", count=2)
    attempts = [await target.write([item(7)]) for _ in range(3)]
    await target.aclose()
    errors = [a[0].error for a in attempts]
    assert isinstance(errors[0], RetryLater) and isinstance(errors[1], RetryLater)
    assert attempts[2][0].ok
    assert len(docs_server.state.docs) == 1


async def test_a_dropped_answer_is_outcome_unknown_and_the_probe_finds_the_document(
    docs_server: Running,
) -> None:
    target = single_target(docs_server)
    await fault(docs_server, "drop")
    lost = item(5)
    (outcome,) = await target.write([lost])
    assert isinstance(outcome.error, OutcomeUnknown)
    doc = await target.probe(lost)
    assert doc is not None and (doc.id, doc.number) == ("D1", "PAY-0001")
    # a record never written is not found
    assert await target.probe(item(6)) is None
    await target.aclose()


async def test_a_read_timeout_on_write_is_outcome_unknown(docs_server: Running) -> None:
    target = single_target(docs_server)
    await fault(docs_server, "slow")
    (outcome,) = await target.write([item(9)])
    await target.aclose()
    assert isinstance(outcome.error, OutcomeUnknown)


async def test_probe_without_settings_gives_up(docs_server: Running) -> None:
    target = build_target({"base_url": docs_server.url}, {"api": "/docs"})
    with pytest.raises(GiveUp, match="no probe settings"):
        await target.probe(item(1))
    await target.aclose()


async def test_probe_by_number_needs_the_number(docs_server: Running) -> None:
    probe = {**PROBE, "params": {"number": "{number}"}}
    target = build_target({"base_url": docs_server.url}, {"api": "/docs", "probe": probe})
    with pytest.raises(GiveUp, match="needs the record's number"):
        await target.probe(WriteItem(key=1, source_id="S", number=None, request={}))
    assert await target.probe(item(1)) is None
    await target.aclose()


def array_target(server: Running, api: str = "/docs/batch", **params: Any) -> RestTarget:
    return build_target(
        {"base_url": server.url},
        {
            "api": api,
            "batch_size": 10,
            "params": {
                "batch_mode": "array",
                "batch_key": "items",
                "results_path": "results",
                "number_path": "number",
                **params,
            },
            "probe": PROBE,
        },
    )


async def test_array_mode_maps_mixed_per_item_results(docs_server: Running) -> None:
    target = array_target(docs_server)
    items = [
        item(1),
        item(2, fail="permanent"),
        item(3, fail="transient"),
        item(4),
        item(5, fail="throttled"),
    ]
    outcomes = await target.write(items)
    await target.aclose()
    assert docs_server.state.calls == 1
    by_key = {o.key: o for o in outcomes}
    assert by_key[1].ok and by_key[1].doc is not None and by_key[1].doc.id == "D1"
    assert by_key[4].ok and by_key[4].doc is not None and by_key[4].doc.number == "PAY-0002"
    e2, e3, e5 = by_key[2].error, by_key[3].error, by_key[5].error
    assert type(e2) is GiveUp and e2.code == "V002" and "bank account missing" in e2.message
    assert type(e3) is RetryLater and "ledger busy" in e3.message
    assert type(e5) is SlowDown


async def test_array_mode_matches_results_by_index_in_any_order(docs_server: Running) -> None:
    target = array_target(docs_server, api="/docs/batch?order=reversed")
    outcomes = await target.write([item(1), item(2, fail="permanent"), item(3)])
    await target.aclose()
    by_key = {o.key: o for o in outcomes}
    assert by_key[1].doc is not None and by_key[1].doc.id == "D1"
    assert by_key[3].doc is not None and by_key[3].doc.id == "D2"
    assert isinstance(by_key[2].error, GiveUp)


async def test_array_mode_without_index_matches_by_order(docs_server: Running) -> None:
    target = array_target(docs_server, api="/docs/batch?plain=1")
    outcomes = await target.write([item(1), item(2, fail="transient")])
    await target.aclose()
    assert outcomes[0].ok and isinstance(outcomes[1].error, RetryLater)


async def test_array_mode_item_without_a_result_is_outcome_unknown(docs_server: Running) -> None:
    target = array_target(docs_server, api="/docs/batch?short=1")
    outcomes = await target.write([item(1), item(2)])
    await target.aclose()
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, OutcomeUnknown)
    # without an index and with a count mismatch nothing can be matched: all unknown
    target = array_target(docs_server, api="/docs/batch?short=1&plain=1")
    outcomes = await target.write([item(3), item(4)])
    await target.aclose()
    assert all(isinstance(o.error, OutcomeUnknown) for o in outcomes)


async def test_array_mode_posts_a_bare_list_without_batch_key_and_splits_by_batch_size(
    docs_server: Running,
) -> None:
    target = build_target(
        {"base_url": docs_server.url},
        {"api": "/docs/batch", "batch_size": 2, "batch_mode": "array"},
    )
    outcomes = await target.write([item(i) for i in range(1, 6)])
    await target.aclose()
    assert [o.key for o in outcomes] == [1, 2, 3, 4, 5]
    assert all(o.ok for o in outcomes)
    assert docs_server.state.calls == 3


async def test_a_whole_array_call_failing_raises(docs_server: Running) -> None:
    target = array_target(docs_server, api="/docs/batch-missing")
    with pytest.raises(GiveUp, match="HTTP 404"):
        await target.write([item(1)])
    await target.aclose()


def test_bad_batch_mode_is_rejected() -> None:
    from ferry.connectors.settings import ConnectionSettingsError

    with pytest.raises(ConnectionSettingsError, match="batch_mode"):
        build_target({"base_url": "http://x"}, {"api": "/d", "batch_mode": "bulk"})
