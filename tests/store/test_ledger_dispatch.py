"""claim / finish / renew / release / set_status / watching: the dispatch side of the ledger."""

from __future__ import annotations

import datetime as dt

import pytest

from ferry.store import Collected, Ledger, Outcome

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def seed(ledger: Ledger, n: int, scheme: str = "s") -> None:
    ledger.collect(scheme, [Collected(str(i), f"N{i}", {"i": i}) for i in range(n)], now=T0)


def test_claim_leases_pending_records_in_id_order_up_to_the_limit(ledger: Ledger) -> None:
    seed(ledger, 5)
    claimed = ledger.claim("s", owner="w1", limit=3, lease_seconds=60, now=T0)
    assert [c.source_id for c in claimed] == ["0", "1", "2"]
    assert all(c.previous_status == "pending" and not c.needs_probe for c in claimed)
    assert claimed[0].content == {"i": 0} and claimed[0].number == "N0" and claimed[0].attempts == 0
    row = ledger.get_by_id(claimed[0].id)
    assert row is not None
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("writing", "w1", T0 + MINUTE)
    # the rest, then nothing: a live lease is never handed out again
    assert [c.source_id for c in ledger.claim("s", owner="w2", limit=10, lease_seconds=60, now=T0)] == [
        "3",
        "4",
    ]
    assert ledger.claim("s", owner="w3", limit=10, lease_seconds=60, now=T0 + dt.timedelta(seconds=59)) == []
    assert ledger.claim("other", owner="w3", limit=10, lease_seconds=60, now=T0) == []


def test_failed_records_are_claimed_only_when_due(ledger: Ledger) -> None:
    seed(ledger, 2)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    ledger.finish(
        "w",
        [
            Outcome(a.id, "failed", error_type="retry", next_attempt_at=T0 + 10 * MINUTE),
            Outcome(b.id, "failed", error_type="retry", next_attempt_at=None),
        ],
        now=T0,
    )
    # b has no retry time: due at once; a is not due yet
    assert [c.id for c in ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0)] == [b.id]
    assert ledger.finish("w", [Outcome(b.id, "written")], now=T0) == []
    assert ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0 + 9 * MINUTE) == []
    [again] = ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0 + 10 * MINUTE)
    assert (again.id, again.previous_status, again.attempts, again.needs_probe) == (a.id, "failed", 1, False)


def test_in_doubt_records_are_claimed_when_due_and_need_a_probe(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    ledger.finish(
        "w",
        [Outcome(a.id, "in_doubt", error_type="reconcile", next_attempt_at=T0 + MINUTE, request={"n": 1})],
        now=T0,
    )
    assert ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0) == []
    [again] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0 + MINUTE)
    assert (again.previous_status, again.needs_probe, again.request) == ("in_doubt", True, {"n": 1})


def test_an_expired_lease_is_taken_over_with_a_probe_and_an_event(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="crashed", limit=1, lease_seconds=60, now=T0)
    [b] = ledger.claim("s", owner="w2", limit=1, lease_seconds=60, now=T0 + 2 * MINUTE)
    assert (b.id, b.previous_status, b.needs_probe) == (a.id, "writing", True)
    last = ledger.history(a.id)[-1]
    assert (last.from_status, last.to_status) == ("writing", "writing")
    assert last.reason is not None and "crashed" in last.reason and "w2" in last.reason
    # the crashed worker comes back: its outcome is refused and changes nothing
    assert ledger.finish("crashed", [Outcome(a.id, "written", target_id="X")], now=T0 + 3 * MINUTE) == [a.id]
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.status, row.lease_owner, row.target_id) == ("writing", "w2", None)
    assert ledger.finish("w2", [Outcome(a.id, "written", target_id="T")], now=T0 + 3 * MINUTE) == []


def test_finish_stores_each_outcome_and_clears_the_lease(ledger: Ledger) -> None:
    seed(ledger, 3)
    a, b, c = ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)
    lost = ledger.finish(
        "w",
        [
            Outcome(
                a.id,
                "written",
                target_id="FID1",
                target_number="PAY-1",
                draft=True,
                request={"Model": {"a": 1}},
                response={"IsSuccess": True},
                content={"i": 0, "fresh": True},
            ),
            Outcome(
                b.id, "dead", reason="bad account", error_type="give_up", error_code="E42", error_message="no"
            ),
            Outcome(c.id, "pending", reason="slowed down", error_type="slow_down", count_attempt=False),
        ],
        now=T0,
    )
    assert lost == []
    ra, rb, rc = (ledger.get_by_id(x.id) for x in (a, b, c))
    assert ra is not None and rb is not None and rc is not None
    assert (ra.status, ra.target_id, ra.target_number, ra.draft, ra.attempts) == (
        "written",
        "FID1",
        "PAY-1",
        True,
        1,
    )
    assert ra.request == {"Model": {"a": 1}} and ra.response == {"IsSuccess": True}
    assert ra.content == {"i": 0, "fresh": True} and ra.content_hash != rb.content_hash
    assert (ra.lease_owner, ra.lease_expires_at, ra.lease_prev_status) == (None, None, None)
    assert (rb.status, rb.reason, rb.last_error_type, rb.last_error_code, rb.last_error_message) == (
        "dead",
        "bad account",
        "give_up",
        "E42",
        "no",
    )
    assert (rc.status, rc.attempts) == ("pending", 0)
    event = ledger.history(b.id)[-1]
    assert (event.from_status, event.to_status, event.reason) == ("writing", "dead", "bad account")
    assert event.detail is not None and event.detail["error_code"] == "E42" and event.detail["owner"] == "w"


def test_finish_keeps_stored_target_ids_when_an_outcome_has_none(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    ledger.finish("w", [Outcome(a.id, "in_doubt", target_id="FID", request={"r": 1})])
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    assert a.target_id == "FID"
    ledger.finish("w", [Outcome(a.id, "written")])
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.target_id, row.request, row.attempts) == ("FID", {"r": 1}, 2)


def test_finish_of_records_never_claimed_returns_them_all(ledger: Ledger) -> None:
    seed(ledger, 2)
    assert ledger.finish("w", [Outcome(1, "written"), Outcome(99, "written")]) == [1, 99]
    assert ledger.counts("s") == {"pending": 2}


def test_a_huge_response_is_stored_cut_down(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    ledger.finish("w", [Outcome(a.id, "written", response={"blob": "x" * 100_000})])
    row = ledger.get_by_id(a.id)
    assert row is not None and row.response["truncated"] is True and len(row.response["head"]) <= 32_768


def test_outcome_status_writing_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.finish("w", [Outcome(1, "writing")])  # type: ignore[arg-type]


def test_renew_extends_only_the_owners_leases(ledger: Ledger) -> None:
    seed(ledger, 2)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    assert ledger.renew("other", [a.id, b.id], 600, now=T0) == 0
    assert ledger.renew("w", [a.id], 600, now=T0 + MINUTE) == 1
    # b's lease ran out; a's was renewed
    assert [c.id for c in ledger.claim("s", owner="w2", limit=5, lease_seconds=60, now=T0 + 2 * MINUTE)] == [
        b.id
    ]


def test_release_gives_records_back_and_keeps_the_need_for_a_probe(ledger: Ledger) -> None:
    seed(ledger, 3)
    a, b, c = ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)
    ledger.finish("w", [Outcome(b.id, "in_doubt", next_attempt_at=T0)], now=T0)
    [b2] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    assert b2.id == b.id and b2.needs_probe
    assert ledger.release("other") == 0
    assert ledger.release("w", [a.id]) == 1
    assert ledger.release("w") == 2
    statuses = {x.id: ledger.get_by_id(x.id).status for x in (a, b, c)}  # type: ignore[union-attr]
    assert statuses == {a.id: "pending", b.id: "in_doubt", c.id: "pending"}
    assert ledger.history(a.id)[-1].reason == "released by w"
    # released records are due at once
    assert len(ledger.claim("s", owner="w", limit=5, lease_seconds=60, now=T0)) == 3


def test_set_status_moves_records_by_hand_but_never_under_a_live_lease(ledger: Ledger) -> None:
    seed(ledger, 3)
    a, b, c = ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)
    ledger.finish(
        "w",
        [Outcome(a.id, "dead", error_code="E"), Outcome(b.id, "failed", next_attempt_at=T0 + 60 * MINUTE)],
        now=T0,
    )
    # c is still leased: untouched
    moved = ledger.set_status([a.id, b.id, c.id], "pending", "records retry", reset_attempts=True, now=T0)
    assert moved == 2
    ra, rb, rc = (ledger.get_by_id(x.id) for x in (a, b, c))
    assert ra is not None and rb is not None and rc is not None
    assert (ra.status, ra.attempts, rb.status, rb.next_attempt_at, rc.status) == (
        "pending",
        0,
        "pending",
        None,
        "writing",
    )
    last = ledger.history(a.id)[-1]
    assert (last.from_status, last.to_status, last.reason) == ("dead", "pending", "records retry")
    # only_from filters; an expired lease can be moved
    assert ledger.set_status([a.id, c.id], "skipped", "no", only_from=["dead"], now=T0) == 0
    assert ledger.set_status([c.id], "skipped", "by hand", now=T0 + 2 * MINUTE) == 1
    rc = ledger.get_by_id(c.id)
    assert rc is not None and (rc.status, rc.reason, rc.lease_owner) == ("skipped", "by hand", None)
    with pytest.raises(ValueError):
        ledger.set_status([a.id], "writing", "no")


def test_watching_records_come_due_and_can_be_rescheduled(ledger: Ledger) -> None:
    ledger.collect(
        "s",
        [
            Collected("a", None, {"s": "RUNNING"}, status="watching", watch_next_at=T0),
            Collected("b", None, {"s": "RUNNING"}, status="watching", watch_next_at=T0 + 5 * MINUTE),
            Collected("c", None, {"s": "DONE"}),
        ],
    )
    assert [r.source_id for r in ledger.due_watch("s", now=T0)] == ["a"]
    assert [r.source_id for r in ledger.due_watch("s", now=T0 + 5 * MINUTE)] == ["a", "b"]
    a = ledger.get("s", "a")
    assert a is not None
    ledger.reschedule_watch(a.id, T0 + 10 * MINUTE)
    assert [r.source_id for r in ledger.due_watch("s", now=T0 + 5 * MINUTE)] == ["b"]
    # watching records are not dispatched
    assert [c.source_id for c in ledger.claim("s", owner="w", limit=5, lease_seconds=60)] == ["c"]


def test_reads_list_count_and_filter(ledger: Ledger) -> None:
    seed(ledger, 4)
    seed(ledger, 2, scheme="t")
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    ledger.finish("w", [Outcome(a.id, "written")])
    assert ledger.counts() == {"pending": 5, "written": 1}
    assert ledger.counts("s") == {"pending": 3, "written": 1}
    assert [r.source_id for r in ledger.list_records(scheme="s", limit=2)] == ["3", "2"]
    assert [r.source_id for r in ledger.list_records(scheme="s", limit=2, offset=2)] == ["1", "0"]
    assert [r.source_id for r in ledger.list_records(status="written")] == ["0"]
    assert [
        r.source_id for r in ledger.list_records(status=["written", "pending"], scheme="s", number="N2")
    ] == ["2"]
    assert ledger.get("s", "nope") is None and ledger.get_by_id(10_000) is None
