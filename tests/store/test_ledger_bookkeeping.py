"""Watermarks, runs, the API-call log and _findCollection lookups."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ferry.store import Collected, Ledger

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


# ---------------------------------------------------------------- watermarks


def test_watermark_never_moves_backwards_unless_forced(ledger: Ledger) -> None:
    assert ledger.get_watermark("s") is None
    ledger.set_watermark("s", T0, run_id=1)
    ledger.set_watermark("s", T0 - dt.timedelta(hours=1))
    assert ledger.get_watermark("s") == T0
    ledger.set_watermark("s", T0 + dt.timedelta(hours=1))
    assert ledger.get_watermark("s") == T0 + dt.timedelta(hours=1)
    ledger.set_watermark("s", T0, force=True)
    assert ledger.get_watermark("s") == T0


def test_watermarks_are_per_partition_and_returned_in_utc(ledger: Ledger) -> None:
    ledger.set_watermark("s", dt.datetime(2026, 5, 1, 8, 0, tzinfo=SHANGHAI), partition="PROC-A")
    ledger.set_watermark("s", T0 + dt.timedelta(days=1), partition="PROC-B")
    a = ledger.get_watermark("s", "PROC-A")
    assert a == T0 and a is not None and a.utcoffset() == dt.timedelta(0)
    assert ledger.get_watermark("s", "PROC-B") == T0 + dt.timedelta(days=1)
    assert ledger.get_watermark("s") is None


# ---------------------------------------------------------------- runs


def test_runs_are_started_finished_and_listed_newest_first(ledger: Ledger) -> None:
    first = ledger.start_run("s", "collect", "schedule", owner="host:1")
    second = ledger.start_run("s", "dispatch", "manual", owner="host:1")
    other = ledger.start_run("t", "collect", "event", owner="host:2")
    ledger.finish_run(first, status="ok", counts={"new": 3, "unchanged": 1})
    ledger.finish_run(second, status="failed", error="target down")
    runs = ledger.list_runs("s")
    assert [r.id for r in runs] == [second, first]
    done, failed = runs[1], runs[0]
    assert (done.kind, done.trigger, done.status, done.counts) == (
        "collect",
        "schedule",
        "ok",
        {"new": 3, "unchanged": 1},
    )
    assert done.ended_at is not None and done.ended_at >= done.started_at
    assert (failed.status, failed.error) == ("failed", "target down")
    [running] = [r for r in ledger.list_runs() if r.id == other]
    assert (running.status, running.ended_at) == ("running", None)
    assert len(ledger.list_runs(limit=1)) == 1
    assert (running.owner, running.heartbeat_at) == ("host:2", running.started_at)


def test_a_run_whose_heartbeat_stopped_is_reaped_as_interrupted(ledger: Ledger) -> None:
    alive = ledger.start_run("s", "dispatch", "schedule", owner="alive", now=T0)
    killed = ledger.start_run("s", "collect", "schedule", owner="killed", now=T0)
    ended = ledger.start_run("s", "collect", "schedule", owner="killed", now=T0)
    ledger.finish_run(ended, status="ok")
    assert ledger.heartbeat("alive", now=T0 + dt.timedelta(minutes=9)) == 1
    assert ledger.reap_runs(600, now=T0 + dt.timedelta(minutes=5)) == []  # nothing stale yet
    assert ledger.reap_runs(600, now=T0 + dt.timedelta(minutes=11)) == [killed]
    runs = {r.id: r for r in ledger.list_runs("s")}
    assert runs[killed].status == "interrupted"
    assert runs[killed].error == "its process stopped without ending it"
    assert runs[killed].ended_at == T0 + dt.timedelta(minutes=11)
    assert (runs[alive].status, runs[ended].status) == ("running", "ok")
    # a reaped run's owner learns it from its next heartbeat: nothing is touched
    assert ledger.heartbeat("killed", now=T0 + dt.timedelta(minutes=12)) == 0
    assert ledger.heartbeat("alive", run_id=killed, now=T0 + dt.timedelta(minutes=12)) == 0
    assert ledger.heartbeat("alive", run_id=alive, now=T0 + dt.timedelta(minutes=12)) == 1
    assert ledger.reap_runs(600, now=T0 + dt.timedelta(minutes=21)) == []
    assert ledger.reap_runs(600, now=T0 + dt.timedelta(minutes=23)) == [alive]


# ---------------------------------------------------------------- API calls


@dataclass(frozen=True)
class Call:
    """Shaped like ferry.observe.calls.ApiCall (the store takes it by duck typing)."""

    connection: str
    api: str
    status: str = "ok"
    latency_ms: float = 10.0
    http_status: int | None = 200
    error_code: str | None = None
    request_id: str | None = None
    metered: bool = False
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def calls_in_db(ledger: Ledger) -> int:
    return sum(u.calls for u in ledger.api_usage())


def test_api_calls_accept_the_observe_api_call() -> None:
    from ferry.observe.calls import ApiCall, CallRecorder
    from ferry.store import ApiCallLike

    call: ApiCallLike = ApiCall("dingtalk", "token", "ok", 1.0)
    recorder: CallRecorder = Ledger("sqlite://")
    assert call.connection == "dingtalk" and recorder is not None


def test_api_calls_are_buffered_until_flushed(db_url: str) -> None:
    ledger = Ledger(db_url, call_flush_every=1000, call_flush_seconds=60)
    ledger.migrate()
    try:
        for _ in range(10):
            ledger.record(Call("dingtalk", "listIds"))
        assert ledger._calls.pending() == 10
        ledger.flush()
        assert ledger._calls.pending() == 0
        assert calls_in_db(ledger) == 10
    finally:
        ledger.close()


def test_sqlite_write_transactions_take_the_buffered_calls_and_give_them_back_on_rollback(
    tmp_path: Path,
) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/calls.db", call_flush_every=1000, call_flush_seconds=60)
    ledger.migrate()
    try:
        for _ in range(3):
            ledger.record(Call("dingtalk", "listIds"))
        ledger.collect("s", [Collected("r1", None, {"id": "r1"})])
        assert ledger._calls.pending() == 0  # written with the page, no transaction of their own
        assert calls_in_db(ledger) == 3
        ledger.record(Call("kingdee", "Save"))
        with pytest.raises(RuntimeError), ledger._cursor() as cur:
            cur.execute("SELECT 1")
            raise RuntimeError("the transaction fails before it takes the calls")
        assert ledger._calls.pending() == 1
        # the calls a transaction took come back when it rolls back after all
        raw = ledger.engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            driver.execute("BEGIN IMMEDIATE")
            taken = ledger._calls.write_into(driver.cursor())
            driver.rollback()
        finally:
            raw.close()
        assert len(taken) == 1 and ledger._calls.pending() == 0
        ledger._calls.put_back(taken)
        assert ledger._calls.pending() == 1
        ledger.flush()
        assert calls_in_db(ledger) == 4
    finally:
        ledger.close()


def test_api_calls_are_written_in_the_background_after_n_calls_and_on_close(db_url: str) -> None:
    ledger = Ledger(db_url, call_flush_every=5, call_flush_seconds=60)
    ledger.migrate()
    for _ in range(5):
        ledger.record(Call("dingtalk", "listIds"))
    deadline = time.monotonic() + 5
    while ledger._calls.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ledger._calls.pending() == 0
    ledger.record(Call("dingtalk", "listIds"))
    ledger.close()
    reopened = Ledger(db_url)
    try:
        assert calls_in_db(reopened) == 6
    finally:
        reopened.close()


def test_api_calls_from_many_threads_are_all_kept(ledger: Ledger) -> None:
    def burst() -> None:
        for _ in range(250):
            ledger.record(Call("kingdee", "Save"))

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls_in_db(ledger) == 1000


def test_api_usage_per_connection_and_api(ledger: Ledger) -> None:
    for latency in range(1, 101):  # 1..100 ms
        ledger.record(Call("kingdee", "Save", latency_ms=float(latency), at=T0))
    for _ in range(3):
        ledger.record(Call("kingdee", "Save", status="retry", error_code="500", latency_ms=1.0, at=T0))
    ledger.record(Call("dingtalk", "get", metered=True, at=T0 + dt.timedelta(hours=1)))
    usage = {(u.connection, u.api): u for u in ledger.api_usage()}
    save = usage[("kingdee", "Save")]
    assert (save.calls, save.errors, save.metered) == (103, 3, 0)
    assert abs(save.avg_latency_ms - (5050 + 3) / 103) < 1e-6
    assert save.p95_latency_ms == 95.0
    assert usage[("dingtalk", "get")].metered == 1
    assert [u.api for u in ledger.api_usage(connection="dingtalk")] == ["get"]
    assert [u.api for u in ledger.api_usage(since=T0 + dt.timedelta(minutes=30))] == ["get"]


def test_metered_calls_count_from_the_first_of_the_month_in_shanghai(ledger: Ledger) -> None:
    # 1 May 00:00 in Shanghai is 30 April 16:00 UTC
    month_start = dt.datetime(2026, 4, 30, 16, 0, tzinfo=dt.UTC)
    ledger.record(Call("dingtalk", "get", metered=True, at=month_start - dt.timedelta(seconds=1)))
    ledger.record(Call("dingtalk", "get", metered=True, at=month_start))
    ledger.record(Call("dingtalk", "get", metered=True, at=month_start + dt.timedelta(days=3)))
    ledger.record(Call("dingtalk", "get", metered=False, at=month_start + dt.timedelta(days=3)))
    ledger.record(Call("other", "get", metered=True, at=month_start + dt.timedelta(days=3)))
    now = month_start + dt.timedelta(days=10)
    assert ledger.metered_this_month("dingtalk", now=now) == 2
    assert ledger.metered_this_month("dingtalk", now=now, tz="UTC") == 1  # the UTC month starts 8 h later
    assert ledger.metered_this_month("dingtalk", now=month_start - dt.timedelta(hours=1)) == 1


def test_prune_deletes_calls_older_than_the_retention_in_chunks(db_url: str, monkeypatch: object) -> None:
    import ferry.store.usage as ledger_module

    ledger = Ledger(db_url, api_call_retention_days=30)
    ledger.migrate()
    try:
        now = dt.datetime.now(dt.UTC)
        for days in (40, 35, 31, 29, 1):
            ledger.record(Call("k", "Save", at=now - dt.timedelta(days=days)))
        ledger_module.PRUNE_CHUNK = 2  # several chunks
        try:
            ledger.flush()
            assert ledger.prune_api_calls() == 3
        finally:
            ledger_module.PRUNE_CHUNK = 5000
        assert calls_in_db(ledger) == 2
        assert ledger.prune_api_calls(older_than=now) == 2
        assert ledger.prune_api_calls() == 0
    finally:
        ledger.close()


# ---------------------------------------------------------------- lookups


def test_find_returns_a_field_of_the_first_matching_record(ledger: Ledger) -> None:
    ledger.collect(
        "customers",
        [
            Collected(
                "1", None, {"code": "C001", "name": "甲公司", "org": {"id": 7, "name": "HQ"}, "active": True}
            ),
            Collected("2", None, {"code": "C002", "name": "乙公司", "org": {"id": 8}, "active": False}),
            Collected("3", None, {"code": "C001", "name": "later duplicate", "org": {"id": 7}}),
        ],
    )
    ledger.collect("other", [Collected("9", None, {"code": "C002", "name": "wrong scheme"})])
    assert ledger.find("customers", "name", {"code": "C001"}) == "甲公司"
    assert ledger.find("customers", "name", {"code": "C002"}) == "乙公司"
    assert ledger.find("customers", "org.name", {"code": "C001"}) == "HQ"
    assert ledger.find("customers", "org", {"code": "C002"}) == {"id": 8}
    # values compare as text: a number matches its string form, dotted keys filter too
    assert ledger.find("customers", "code", {"org.id": "8"}) == "C002"
    assert ledger.find("customers", "code", {"org.id": 8}) == "C002"
    assert ledger.find("customers", "code", {"active": False}) == "C002"
    assert ledger.find("customers", "name", {"code": "C001", "org.id": 7}) == "甲公司"
    assert ledger.find("customers", "name", {"code": "C404"}) is None
    assert ledger.find("customers", "missing", {"code": "C001"}) is None
    assert ledger.find("customers", "name", {"active": None}) == "later duplicate"
    assert ledger.find("nobody", "name", {"code": "C001"}) is None
