"""collect(): idCheck semantics, content hashes and on_change, on every backend."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from ferry.store import CollectCounts, Collected, Ledger, content_hash

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def item(source_id: str, **content: object) -> Collected:
    return Collected(source_id=source_id, number=f"N-{source_id}", content=dict(content))


def written(ledger: Ledger, scheme: str, source_id: str, status: str = "written") -> int:
    """Take one pending record through claim/finish to ``status``."""
    claimed = ledger.claim(scheme, owner="w", limit=100, lease_seconds=60)
    record = next(c for c in claimed if c.source_id == source_id)
    ledger.release("w", [c for c in claimed if c.id != record.id])
    ledger.finish("w", [record.outcome(status, target_id="T-1", error_code="E1")])  # type: ignore[arg-type]
    return record.id


def test_content_hash_ignores_key_order_and_accepts_decimal_and_datetime() -> None:
    from decimal import Decimal

    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert len(content_hash({"amount": Decimal("1.10"), "at": T0, "名": "值"})) == 64


def test_new_ids_are_inserted_with_their_status_and_a_collected_event(ledger: Ledger) -> None:
    counts = ledger.collect(
        "s",
        [
            item("a", x=1),
            Collected("b", None, {"x": 2}, status="skipped", reason="filtered: amount 0"),
            Collected(
                "c",
                "N-c",
                {"x": 3},
                status="watching",
                watch_next_at=T0,
                watch_until=T0 + dt.timedelta(days=7),
            ),
        ],
        now=T0,
    )
    assert counts.as_dict() == {"new": 3, "changed": 0, "unchanged": 0, "ignored": 0}
    a, b, c = (ledger.get("s", sid) for sid in "abc")
    assert a is not None and b is not None and c is not None
    assert (a.status, a.number, a.content, a.attempts, a.draft) == ("pending", "N-a", {"x": 1}, 0, False)
    assert a.content_hash == content_hash({"x": 1})
    assert a.created_at == T0 and a.created_at.tzinfo is not None
    assert (b.status, b.reason) == ("skipped", "filtered: amount 0")
    assert (c.status, c.watch_next_at, c.watch_until) == ("watching", T0, T0 + dt.timedelta(days=7))
    events = ledger.history(a.id)
    assert [(e.from_status, e.to_status, e.reason) for e in events] == [(None, "pending", "collected")]


def test_rows_of_one_page_keep_their_own_nulls_whatever_the_others_hold(ledger: Ledger) -> None:
    """SQLite binds an optional column for a whole page once any row has a value there: a row without
    one still stores NULL, and each row gets its own event."""
    until = T0 + dt.timedelta(days=7)
    page = [
        item("plain", x=1),
        Collected("why", None, {"x": 2}, status="skipped", reason="filtered"),
        Collected("bad", "N", {"x": float("nan")}),
        Collected("watch", "N", {"x": 4}, status="watching", watch_next_at=T0, watch_until=until),
        item("plain2", x=5),
    ]
    assert ledger.collect("s", page, now=T0).new == 5
    rows = {sid: ledger.get("s", sid) for sid in ("plain", "why", "bad", "watch", "plain2")}
    stored = {
        sid: (r.status, r.reason, r.last_error_type, r.watch_next_at, r.watch_until)
        for sid, r in rows.items()
        if r is not None
    }
    assert stored["plain"] == stored["plain2"] == ("pending", None, None, None, None)
    assert stored["why"] == ("skipped", "filtered", None, None, None)
    assert stored["bad"][0] == "quarantined" and stored["bad"][2] == "unstorable"
    assert stored["bad"][1] and stored["bad"][3:] == (None, None)
    assert stored["watch"] == ("watching", None, None, T0, until)
    for sid, row in rows.items():
        assert row is not None and row.created_at == row.updated_at == T0, sid
        events = [(e.from_status, e.to_status, e.reason, e.at) for e in ledger.history(row.id)]
        assert events == [(None, row.status, "collected", T0)], sid


def test_same_id_same_content_is_unchanged_and_not_written(ledger: Ledger) -> None:
    ledger.collect("s", [item("a", x=1)], now=T0)
    counts = ledger.collect("s", [item("a", x=1)], now=T0 + dt.timedelta(hours=1))
    assert counts.as_dict() == {"new": 0, "changed": 0, "unchanged": 1, "ignored": 0}
    row = ledger.get("s", "a")
    assert row is not None and row.updated_at == T0  # no write at all
    assert len(ledger.history(row.id)) == 1


def test_same_source_id_in_two_schemes_is_two_records(ledger: Ledger) -> None:
    ledger.collect("s1", [item("a", x=1)])
    ledger.collect("s2", [item("a", x=1)])
    assert ledger.counts("s1") == {"pending": 1} and ledger.counts("s2") == {"pending": 1}


def test_changed_pending_record_takes_the_new_content_and_stays_pending(ledger: Ledger) -> None:
    ledger.collect("s", [item("a", x=1)])
    counts = ledger.collect("s", [Collected("a", "N-new", {"x": 2})])
    assert counts.changed == 1
    row = ledger.get("s", "a")
    assert row is not None
    assert (row.status, row.content, row.number) == ("pending", {"x": 2}, "N-new")
    assert row.content_hash == content_hash({"x": 2})
    assert ledger.history(row.id)[-1].reason == "changed at source"


def test_changed_failed_record_takes_the_new_content_and_keeps_its_retry_time(ledger: Ledger) -> None:
    ledger.collect("s", [item("a", x=1)])
    [claimed] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    retry_at = T0 + dt.timedelta(days=1000)
    ledger.finish("w", [claimed.outcome("failed", error_code="E", next_attempt_at=retry_at)])
    assert ledger.collect("s", [item("a", x=2)]).changed == 1
    row = ledger.get_by_id(claimed.id)
    assert row is not None
    assert (row.status, row.content, row.next_attempt_at, row.attempts) == ("failed", {"x": 2}, retry_at, 1)


@pytest.mark.parametrize("final", ["written", "skipped", "dead", "quarantined"])
def test_changed_final_record_is_ignored_under_ignore(ledger: Ledger, final: str) -> None:
    ledger.collect("s", [item("a", x=1)])
    record_id = written(ledger, "s", "a", final)
    counts = ledger.collect("s", [item("a", x=2)], on_change="ignore")
    assert counts.as_dict() == {"new": 0, "changed": 0, "unchanged": 0, "ignored": 1}
    row = ledger.get_by_id(record_id)
    assert row is not None and (row.status, row.content) == (final, {"x": 1})


@pytest.mark.parametrize("final", ["written", "dead"])
def test_changed_final_record_is_requeued_under_rewrite_keeping_target_ids(
    ledger: Ledger, final: str
) -> None:
    ledger.collect("s", [item("a", x=1)])
    record_id = written(ledger, "s", "a", final)
    counts = ledger.collect("s", [item("a", x=2)], on_change="rewrite")
    assert counts.changed == 1
    row = ledger.get_by_id(record_id)
    assert row is not None
    assert (row.status, row.content, row.attempts) == ("pending", {"x": 2}, 0)
    assert (row.last_error_code, row.last_error_type, row.next_attempt_at) == (None, None, None)
    assert row.target_id == "T-1"  # the target may update the document it already has
    last = ledger.history(record_id)[-1]
    assert (last.from_status, last.to_status, last.reason) == (final, "pending", "changed at source, rewrite")


def test_in_flight_records_are_not_touched_even_under_rewrite(ledger: Ledger) -> None:
    ledger.collect("s", [item("a", x=1), item("b", x=1)])
    claimed = ledger.claim("s", owner="w", limit=2, lease_seconds=60)
    b = next(c for c in claimed if c.source_id == "b")
    ledger.finish("w", [b.outcome("in_doubt", error_type="reconcile")])
    counts = ledger.collect("s", [item("a", x=2), item("b", x=2)], on_change="rewrite")
    assert counts.as_dict() == {"new": 0, "changed": 0, "unchanged": 0, "ignored": 2}
    a_row, b_row = ledger.get("s", "a"), ledger.get("s", "b")
    assert a_row is not None and (a_row.status, a_row.content) == ("writing", {"x": 1})
    assert b_row is not None and (b_row.status, b_row.content) == ("in_doubt", {"x": 1})


def test_watching_record_takes_new_content_status_and_watch_times(ledger: Ledger) -> None:
    until = T0 + dt.timedelta(days=30)
    ledger.collect("s", [Collected("a", "N", {"state": "RUNNING"}, status="watching", watch_next_at=T0)])
    # still running, but changed: stays watching with the new schedule
    counts = ledger.collect(
        "s",
        [
            Collected(
                "a",
                "N",
                {"state": "RUNNING", "step": 2},
                status="watching",
                watch_next_at=T0,
                watch_until=until,
            )
        ],
    )
    assert counts.changed == 1
    row = ledger.get("s", "a")
    assert row is not None and (row.status, row.watch_until) == ("watching", until)
    # finished at the source: becomes pending (under ignore too: it was never written)
    ledger.collect("s", [Collected("a", "N", {"state": "COMPLETED"})], on_change="ignore")
    row = ledger.get("s", "a")
    assert row is not None and (row.status, row.content) == ("pending", {"state": "COMPLETED"})
    assert [e.to_status for e in ledger.history(row.id)] == ["watching", "watching", "pending"]


def test_an_id_repeated_in_one_page_is_stored_once_with_its_last_content(ledger: Ledger) -> None:
    counts = ledger.collect("s", [item("a", x=1), item("a", x=2)])
    assert counts.as_dict() == {"new": 1, "changed": 0, "unchanged": 1, "ignored": 0}
    row = ledger.get("s", "a")
    assert row is not None and row.content == {"x": 2}


def test_large_page_mixing_new_and_known_ids(ledger: Ledger) -> None:
    ledger.collect("s", [item(str(i), x=i) for i in range(0, 1000, 2)])
    counts = ledger.collect("s", [item(str(i), x=i) for i in range(1000)])
    assert counts.as_dict() == {"new": 500, "changed": 0, "unchanged": 500, "ignored": 0}
    assert ledger.counts("s") == {"pending": 1000}


def test_concurrent_collect_of_the_same_ids_never_creates_two_rows(db_url: str) -> None:
    ledgers = [Ledger(db_url) for _ in range(4)]
    ledgers[0].migrate()
    page = [item(str(i), x=i) for i in range(200)]
    results: list[CollectCounts] = []
    barrier = threading.Barrier(len(ledgers))

    def run(ledger: Ledger) -> None:
        barrier.wait()
        # on PostgreSQL the losers hit the unique constraint and retry their page as updates
        results.append(ledger.collect("s", page))

    threads = [threading.Thread(target=run, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sum(c.new for c in results) == 200
        assert sum(c.unchanged for c in results) == 600
        assert ledgers[0].counts("s") == {"pending": 200}
    finally:
        for ledger in ledgers:
            ledger.close()


def test_naive_datetimes_are_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="naive"):
        ledger.collect("s", [item("a")], now=dt.datetime(2026, 1, 1))
