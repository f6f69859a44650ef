"""The REST connector against a hostile server: outcomes are verified, not assumed, and no answer crashes it.

Each test reproduces a finding of the security review through the real path (real HTTP on loopback).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from hostile import Hostile, Reply

from ferry.connectors.base import Window, WriteItem
from ferry.connectors.errors import ConnectorError, GiveUp, OutcomeUnknown, RetryLater, SlowDown
from ferry.connectors.http import RestSource, RestTarget, build_source, build_target
from ferry.engine.retry import next_attempt_at
from ferry.scheme import RetryPolicy

API_KEY = "hostile-Api-K3y-0042"
WINDOW = Window(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC))


def item(key: int) -> WriteItem:
    return WriteItem(
        key=key, source_id=f"S-{key}", number=f"N-{key}", request={"amount": key, "ref": f"S-{key}"}
    )


def target(server: Hostile, **params: Any) -> RestTarget:
    conn = {
        "base_url": server.url,
        "timeout": params.pop("timeout", 5),
        "auth": {"type": "header", "name": "X-Api-Key", "key": API_KEY},
        **params.pop("conn", {}),
    }
    return build_target(conn, {"api": "/pay", "batch_size": 10, "params": params})


def source(server: Hostile, **params: Any) -> RestSource:
    conn = {"base_url": server.url, "timeout": params.pop("timeout", 5), **params.pop("conn", {})}
    return build_source(conn, {"api": "/list", "params": params})


async def write_one(t: RestTarget, key: int = 1) -> Any:
    (outcome,) = await t.write([item(key)])
    await t.aclose()
    return outcome


# -- a rejected write is never recorded as written -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error", "said"),
    [
        ({"success": False, "message": "insufficient funds"}, GiveUp, "insufficient funds"),
        ({"ok": "false", "msg": "closed account"}, GiveUp, "closed account"),
        ({"error": "duplicate reference"}, GiveUp, "duplicate reference"),
        ({"errors": [{"field": "amount", "message": "too large"}]}, GiveUp, "too large"),
        ({"code": 40001, "msg": "invalid payee"}, GiveUp, "invalid payee"),
        ({"errcode": 60011, "errmsg": "no permission"}, GiveUp, "no permission"),
        ({"success": False, "retryable": True, "message": "ledger busy"}, RetryLater, "ledger busy"),
        ({"code": 503, "message": "try later"}, RetryLater, "try later"),
        ({"status": 429, "error": "slow down"}, SlowDown, "slow down"),
        ({"success": True, "error": "partly failed"}, OutcomeUnknown, "both"),
    ],
)
async def test_a_2xx_that_says_it_failed_is_that_records_failure(
    hostile: Hostile, body: Any, error: type[ConnectorError], said: str
) -> None:
    hostile.state.on("/pay", Reply(200, body))
    outcome = await write_one(target(hostile))
    assert not outcome.ok and outcome.doc is None
    assert type(outcome.error) is error
    assert said in str(outcome.error)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Reply(200, b""), "empty body"),
        (Reply(204, b""), "empty body"),
        (Reply(200, b"null"), "null"),
        (Reply(200, {}), "says nothing"),
        (Reply(200, b'"done"'), "not an object"),
        (Reply(201, b"<html>created</html>", headers={"Content-Type": "text/html"}), "not JSON"),
    ],
)
async def test_an_answer_that_proves_nothing_is_outcome_unknown(
    hostile: Hostile, reply: Reply, why: str
) -> None:
    hostile.state.on("/pay", reply)
    outcome = await write_one(target(hostile))
    assert isinstance(outcome.error, OutcomeUnknown), outcome
    assert why in str(outcome.error)


async def test_accept_empty_lets_an_api_that_answers_201_without_a_body_say_yes(hostile: Hostile) -> None:
    hostile.state.on("/pay", Reply(201, b""))
    outcome = await write_one(target(hostile, accept_empty=True))
    assert outcome.ok and outcome.doc is not None and outcome.doc.id is None


async def test_a_configured_success_predicate_replaces_the_default(hostile: Hostile) -> None:
    rule = {"success": {"path": "result.state", "in": ["CREATED", "QUEUED"]}, "error_path": "result.problem"}
    hostile.state.on(
        "/pay",
        Reply(200, {"result": {"state": "CREATED", "id": "P1"}}),
        Reply(200, {"result": {"state": "REJECTED"}, "message": "over the limit"}),
        Reply(200, {"result": {"state": "CREATED", "problem": "payee blocked"}}),
        Reply(200, {"other": 1}),
    )
    t = target(hostile, id_path="result.id", **rule)
    outcomes = [(await t.write([item(k)]))[0] for k in range(4)]
    await t.aclose()
    assert outcomes[0].ok and outcomes[0].doc is not None and outcomes[0].doc.id == "P1"
    assert type(outcomes[1].error) is GiveUp and "REJECTED" in str(outcomes[1].error)
    assert "over the limit" in str(outcomes[1].error)
    assert type(outcomes[2].error) is GiveUp and "payee blocked" in str(outcomes[2].error)
    assert type(outcomes[3].error) is OutcomeUnknown and "result.state" in str(outcomes[3].error)


async def test_a_boolean_predicate_is_not_fooled_by_one(hostile: Hostile) -> None:
    hostile.state.on("/pay", Reply(200, {"ok": 1}))
    outcome = await write_one(target(hostile, success={"path": "ok", "equals": True}))
    assert type(outcome.error) is GiveUp


# -- array answers are matched one to one ----------------------------------------------------------


def array_target(server: Hostile, **params: Any) -> RestTarget:
    return target(server, batch_mode="array", batch_key="items", results_path="results", **params)


async def write_array(server: Hostile, results: Any, n: int = 3) -> list[Any]:
    server.state.on("/pay", Reply(200, {"results": results}))
    t = array_target(server)
    outcomes = list(await t.write([item(k) for k in range(1, n + 1)]))
    await t.aclose()
    assert sorted(o.key for o in outcomes) == list(range(1, n + 1))  # one outcome per item, always
    return outcomes


async def test_a_null_per_item_result_is_outcome_unknown(hostile: Hostile) -> None:
    outcomes = await write_array(hostile, [{"id": "A"}, None, {"id": "C"}])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1].error, OutcomeUnknown)


@pytest.mark.parametrize(
    ("results", "why"),
    [
        ([{"index": 0, "id": "A"}, {"index": 0, "id": "B"}, {"index": 2, "id": "C"}], "twice"),
        ([{"index": 1, "id": "A"}, {"index": 2, "id": "B"}, {"index": 3, "id": "C"}], "0-based"),
        ([{"index": -1, "id": "A"}, {"index": 1, "id": "B"}, {"index": 2, "id": "C"}], "0-based"),
        ([{"index": True, "id": "A"}, {"index": 0, "id": "B"}, {"index": 2, "id": "C"}], "cannot trust"),
        ([{"index": 0, "id": "A"}, {"id": "B"}, {"index": 2, "id": "C"}], "only some"),
        ([{"id": "A"}, {"id": "B"}], "2 results for 3 items"),
    ],
)
async def test_an_answer_whose_matching_cannot_be_trusted_writes_nothing(
    hostile: Hostile, results: Any, why: str
) -> None:
    outcomes = await write_array(hostile, results)
    assert all(isinstance(o.error, OutcomeUnknown) for o in outcomes), outcomes
    assert all(why in str(o.error) for o in outcomes)


async def test_one_target_id_for_several_records_is_outcome_unknown_for_those(hostile: Hostile) -> None:
    outcomes = await write_array(
        hostile, [{"index": 0, "id": "SAME"}, {"index": 1, "id": "SAME"}, {"index": 2, "id": "C"}]
    )
    assert isinstance(outcomes[0].error, OutcomeUnknown) and isinstance(outcomes[1].error, OutcomeUnknown)
    assert "same document id" in str(outcomes[0].error)
    assert outcomes[2].ok


async def test_an_array_answer_that_failed_as_a_whole_fails_every_item(hostile: Hostile) -> None:
    hostile.state.on("/pay", Reply(200, {"success": False, "message": "batch refused", "results": None}))
    t = array_target(hostile)
    with pytest.raises(GiveUp, match="batch refused"):
        await t.write([item(1), item(2)])
    await t.aclose()


# -- a failed source page is never an empty page ---------------------------------------------------


async def pages(s: RestSource) -> list[Any]:
    out = [p async for p in s.pages(WINDOW, lambda v: {})]
    await s.aclose()
    return out


@pytest.mark.parametrize(
    "body",
    [
        {"success": False, "items": None},
        {"ok": False, "message": "token expired", "items": []},
        {"code": 50001, "msg": "database offline", "items": []},
        {"error": {"message": "rate limited"}, "items": None},
    ],
)
async def test_a_source_page_that_says_it_failed_raises_instead_of_being_empty(
    hostile: Hostile, body: Any
) -> None:
    hostile.state.on("/list", Reply(200, body))
    with pytest.raises(ConnectorError) as info:
        await pages(source(hostile, records_path="items"))
    assert not isinstance(info.value, OutcomeUnknown)


async def test_a_source_page_with_an_empty_body_raises(hostile: Hostile) -> None:
    hostile.state.on("/list", Reply(200, b""))
    with pytest.raises(GiveUp, match="not an empty page"):
        await pages(source(hostile))


async def test_a_null_page_without_failure_markers_is_still_an_empty_page(hostile: Hostile) -> None:
    hostile.state.on("/list", Reply(200, {"items": None, "total": 0}))
    got = await pages(source(hostile, records_path="items"))
    assert [p.records for p in got] == [[]]


async def test_a_next_link_to_another_origin_is_refused(hostile: Hostile, elsewhere: Hostile) -> None:
    hostile.state.on("/list", Reply(200, {"items": [{"id": 1}], "next": elsewhere.url + "/list?page=2"}))
    elsewhere.state.on("/list", Reply(200, {"items": []}))
    s = build_source(
        {"base_url": hostile.url, "auth": {"type": "header", "name": "X-Api-Key", "key": API_KEY}},
        {"api": "/list", "params": {"records_path": "items", "pagination": {"style": "next_link"}}},
    )
    with pytest.raises(GiveUp, match="another origin"):
        await pages(s)
    assert elsewhere.state.seen == []


# -- headers and sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e300", "inf", "nan", "-1", "Fri, 31 Dec 9999 23:59:59 GMT", "x" * 5000])
async def test_any_retry_after_gives_a_schedulable_pause(hostile: Hostile, value: str) -> None:
    hostile.state.on("/pay", Reply(429, {"message": "slow"}, headers={"Retry-After": value}))
    outcome = await write_one(target(hostile))
    assert isinstance(outcome.error, SlowDown)
    pause = outcome.error.retry_after
    assert pause is None or 0 <= pause <= 3600
    # the engine computes the next attempt from it: this overflowed before
    when = next_attempt_at(RetryPolicy(), 1, dt.datetime.now(dt.UTC), retry_after=pause)
    assert when.year < 9999


async def test_a_trickled_answer_to_a_write_is_cut_at_the_connection_timeout(hostile: Hostile) -> None:
    hostile.state.on("/pay", Reply(200, {"id": "P" * 400}, chunk=1, delay_s=0.02))
    started = time.monotonic()
    outcome = await write_one(target(hostile, timeout=0.5))
    assert isinstance(outcome.error, OutcomeUnknown) and "timed out after 0.5 s" in str(outcome.error)
    assert time.monotonic() - started < 2.5


async def test_a_page_over_max_response_bytes_is_refused(hostile: Hostile) -> None:
    hostile.state.on("/list", Reply(200, size=65 * 1024 * 1024, chunked=True))
    with pytest.raises(GiveUp, match="larger than the 1048576-byte limit"):
        await pages(source(hostile, conn={"max_response_bytes": 1024 * 1024}))


async def test_an_answer_nested_too_deep_is_a_typed_error(hostile: Hostile) -> None:
    hostile.state.on("/list", Reply(200, b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(GiveUp, match="not JSON"):
        await pages(source(hostile))
    hostile.state.on("/pay", Reply(200, b'{"a":' * 50_000 + b"1" + b"}" * 50_000))
    outcome = await write_one(target(hostile))
    assert isinstance(outcome.error, OutcomeUnknown)


# -- echoed secrets --------------------------------------------------------------------------------


async def test_a_key_echoed_by_the_server_is_not_stored_or_shown(hostile: Hostile) -> None:
    echo = {
        "id": "P1",
        "request": {"headers": {"X-Api-Key": API_KEY, "Authorization": "Basic c29tZQ=="}},
        "note": f"called with key {API_KEY}",
        "deep": [[[{"again": API_KEY}]]],
    }
    hostile.state.on("/pay", Reply(200, echo))
    outcome = await write_one(target(hostile))
    assert outcome.ok and outcome.doc is not None and outcome.doc.id == "P1"
    stored = repr(outcome.doc.response)
    assert API_KEY not in stored and "c29tZQ==" not in stored
    assert hostile.state.seen[0].headers["x-api-key"] == API_KEY  # it was sent, to the right place
    hostile.state.on("/pay", Reply(400, {"message": f"bad key {API_KEY}"}))
    failed = await write_one(target(hostile))
    assert failed.error is not None and API_KEY not in str(failed.error)


# -- probes never say "not found" for an answer that failed ----------------------------------------

PROBE = {"path": "/find", "params": {"ref": "{source_id}"}, "found_path": "items", "id_path": "id"}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"success": False, "message": "search index down", "items": []}),
        Reply(200, {"data": []}),
        Reply(200, b""),
    ],
)
async def test_a_probe_answer_that_failed_raises_instead_of_not_found(hostile: Hostile, reply: Reply) -> None:
    hostile.state.on("/find", reply)
    t = build_target({"base_url": hostile.url}, {"api": "/pay", "probe": PROBE})
    with pytest.raises(ConnectorError):
        await t.probe(item(1))
    hostile.state.on("/find", Reply(200, {"items": []}))
    assert await t.probe(item(1)) is None
    hostile.state.on("/find", Reply(200, {"items": [{"id": "P9"}]}))
    found = await t.probe(item(1))
    assert found is not None and found.id == "P9"
    await t.aclose()


# -- lookups never say "no rows" for an answer that failed -----------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"ok": False, "error": "index offline", "rows": []}),
        Reply(200, {"data": []}),
        Reply(200, b""),
    ],
)
async def test_a_lookup_that_failed_raises_instead_of_matching_nothing(
    hostile: Hostile, reply: Reply
) -> None:
    from ferry.connectors.http import build_client
    from ferry.connectors.http.factory import RestQuerier

    hostile.state.on("/payees", reply)
    querier = RestQuerier(build_client({"base_url": hostile.url}))
    lookup = {"path": "/payees", "params": {"name": "ACME"}, "records_path": "rows"}
    with pytest.raises(ConnectorError):
        await querier.query(lookup)
    hostile.state.on("/payees", Reply(200, {"rows": [{"blocked": True}]}))
    assert await querier.query(lookup) == [{"blocked": True}]
    hostile.state.on("/payees", Reply(200, {"rows": None}))
    assert await querier.query(lookup) == []
    await querier.aclose()
