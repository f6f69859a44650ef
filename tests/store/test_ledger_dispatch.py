"""claim / finish / renew / release / set_status / watching: the dispatch side of the ledger."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ferry.store import Claimed, Collected, Ledger, Outcome

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
            a.outcome("failed", error_type="retry", next_attempt_at=T0 + 10 * MINUTE),
            b.outcome("failed", error_type="retry", next_attempt_at=None),
        ],
        now=T0,
    )
    # b has no retry time: due at once; a is not due yet
    [b_again] = ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0)
    assert b_again.id == b.id
    assert ledger.finish("w", [b_again.outcome("written")], now=T0) == []
    assert ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0 + 9 * MINUTE) == []
    [again] = ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0 + 10 * MINUTE)
    assert (again.id, again.previous_status, again.attempts, again.needs_probe) == (a.id, "failed", 1, False)


def test_in_doubt_records_are_claimed_when_due_and_need_a_probe(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    ledger.finish(
        "w",
        [a.outcome("in_doubt", error_type="reconcile", next_attempt_at=T0 + MINUTE, request={"n": 1})],
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
    assert ledger.finish("crashed", [a.outcome("written", target_id="X")], now=T0 + 3 * MINUTE) == [a.id]
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.status, row.lease_owner, row.target_id) == ("writing", "w2", None)
    assert ledger.finish("w2", [b.outcome("written", target_id="T")], now=T0 + 3 * MINUTE) == []


def test_finish_stores_each_outcome_and_clears_the_lease(ledger: Ledger) -> None:
    seed(ledger, 3)
    a, b, c = ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)
    lost = ledger.finish(
        "w",
        [
            a.outcome(
                "written",
                target_id="FID1",
                target_number="PAY-1",
                draft=True,
                request={"Model": {"a": 1}},
                response={"IsSuccess": True},
                content={"i": 0, "fresh": True},
            ),
            b.outcome(
                "dead", reason="bad account", error_type="give_up", error_code="E42", error_message="no"
            ),
            c.outcome("pending", reason="slowed down", error_type="slow_down", count_attempt=False),
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
    ledger.finish("w", [a.outcome("in_doubt", target_id="FID", request={"r": 1})])
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    assert a.target_id == "FID"
    ledger.finish("w", [a.outcome("written")])
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.target_id, row.request, row.attempts) == ("FID", {"r": 1}, 2)


def test_one_finish_applies_outcomes_that_keep_different_columns(ledger: Ledger) -> None:
    """SQLite groups a batch's outcomes by which kept columns they set: each keeps exactly its own."""
    seed(ledger, 3)
    a, b, c = ledger.claim("s", owner="w", limit=3, lease_seconds=60)
    ledger.finish("w", [a.outcome("in_doubt", target_id="FA", target_number="NA", request={"a": 1})])
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    watch = T0 + 5 * MINUTE
    lost = ledger.finish(
        "w",
        [
            a.outcome("written", response={"ok": "a"}),
            b.outcome("written", target_id="FB", request={"b": 2}, content={"i": 1, "new": True}),
            c.outcome("watching", watch_next_at=watch, watch_until=watch + MINUTE, reason="waits"),
        ],
    )
    assert lost == []
    rows = {r.id: r for r in (ledger.get_by_id(x.id) for x in (a, b, c)) if r is not None}
    ra, rb, rc = rows[a.id], rows[b.id], rows[c.id]
    assert (ra.status, ra.target_id, ra.target_number, ra.request, ra.response) == (
        "written",
        "FA",
        "NA",
        {"a": 1},
        {"ok": "a"},
    )
    assert ra.content == {"i": 0}
    assert (rb.target_id, rb.target_number, rb.request, rb.response) == ("FB", None, {"b": 2}, None)
    assert rb.content == {"i": 1, "new": True} and rb.content_hash != ra.content_hash
    assert (rc.status, rc.reason, rc.target_id, rc.request) == ("watching", "waits", None, None)
    assert (rc.watch_next_at, rc.watch_until) == (watch, watch + MINUTE)
    assert all(r.lease_owner is None and r.lease_token is None for r in (ra, rb, rc))


def test_a_written_outcome_clears_the_last_error_beside_one_that_sets_it(ledger: Ledger) -> None:
    """SQLite writes a cleared column as NULL in the statement for the outcomes without a value: one
    finish mixing both leaves each record with its own."""
    seed(ledger, 2)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    retry = T0 + MINUTE
    failed = {"error_type": "retry", "error_code": "E1", "error_message": "busy", "next_attempt_at": retry}
    ledger.finish("w", [a.outcome("failed", reason="busy", **failed)], now=T0)  # type: ignore[arg-type]
    ledger.release("w", [b])
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=retry)
    lost = ledger.finish(
        "w",
        [
            a.outcome("written", target_id="FA"),
            b.outcome("failed", reason="down", error_type="retry", error_code="E2", next_attempt_at=retry),
        ],
        now=retry,
    )
    assert lost == []
    ra, rb = ledger.get_by_id(a.id), ledger.get_by_id(b.id)
    assert ra is not None and rb is not None
    assert (ra.status, ra.attempts, ra.target_id, ra.next_attempt_at) == ("written", 2, "FA", None)
    assert (ra.last_error_type, ra.last_error_code, ra.last_error_message) == (None, None, None)
    assert (rb.status, rb.last_error_type, rb.last_error_code, rb.last_error_message) == (
        "failed",
        "retry",
        "E2",
        None,
    )
    assert rb.next_attempt_at == retry
    last = [ledger.history(x.id)[-1] for x in (a, b)]
    assert [(e.from_status, e.to_status, e.reason, e.at) for e in last] == [
        ("writing", "written", None, retry),
        ("writing", "failed", "down", retry),
    ]
    assert last[0].detail is not None and last[0].detail["target_id"] == "FA"


def test_finish_of_records_never_claimed_returns_them_all(ledger: Ledger) -> None:
    seed(ledger, 2)
    assert ledger.finish("w", [Outcome(1, "written"), Outcome(99, "written")]) == [1, 99]
    assert ledger.counts("s") == {"pending": 2}


def test_a_huge_response_is_stored_cut_down(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    ledger.finish("w", [a.outcome("written", response={"blob": "x" * 100_000})])
    row = ledger.get_by_id(a.id)
    assert row is not None and row.response["truncated"] is True and len(row.response["head"]) <= 32_768


def test_outcome_status_writing_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.finish("w", [Outcome(1, "writing")])  # type: ignore[arg-type]


def test_renew_extends_only_the_owners_leases(ledger: Ledger) -> None:
    seed(ledger, 2)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    assert ledger.renew("other", [a, b], 600, now=T0) == [a.id, b.id]
    assert ledger.renew("w", [(a.id, a.lease_token)], 600, now=T0 + MINUTE) == []
    # b's lease ran out; a's was renewed
    assert [c.id for c in ledger.claim("s", owner="w2", limit=5, lease_seconds=60, now=T0 + 2 * MINUTE)] == [
        b.id
    ]


def test_release_gives_records_back_and_keeps_the_need_for_a_probe(ledger: Ledger) -> None:
    seed(ledger, 3)
    a, b, c = ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)
    ledger.finish("w", [b.outcome("in_doubt", next_attempt_at=T0)], now=T0)
    [b2] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    assert b2.id == b.id and b2.needs_probe
    assert ledger.release_all("other") == 0
    assert ledger.release("other", [a]) == [a.id]
    assert ledger.release("w", [a]) == []
    assert ledger.release("w", [a]) == [a.id]  # already given back
    assert ledger.release_all("w") == 2
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
        [a.outcome("dead", error_code="E"), b.outcome("failed", next_attempt_at=T0 + 60 * MINUTE)],
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
    ledger.finish("w", [a.outcome("written")])
    assert ledger.counts() == {"pending": 5, "written": 1}
    assert ledger.counts("s") == {"pending": 3, "written": 1}
    assert [r.source_id for r in ledger.list_records(scheme="s", limit=2)] == ["3", "2"]
    assert [r.source_id for r in ledger.list_records(scheme="s", limit=2, offset=2)] == ["1", "0"]
    assert [r.source_id for r in ledger.list_records(status="written")] == ["0"]
    assert [
        r.source_id for r in ledger.list_records(status=["written", "pending"], scheme="s", number="N2")
    ] == ["2"]
    assert ledger.get("s", "nope") is None and ledger.get_by_id(10_000) is None


# ---------------------------------------------------------------- fenced leases


def test_a_stale_workers_finish_after_a_takeover_changes_nothing(ledger: Ledger) -> None:
    seed(ledger, 2)
    stale = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    # the same owner name claims again after the lease ran out (a restarted process, a second thread)
    fresh = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0 + 2 * MINUTE)
    assert [c.id for c in fresh] == [c.id for c in stale]
    assert fresh[0].lease_token != stale[0].lease_token
    late = [c.outcome("written", target_id="STALE") for c in stale]
    assert ledger.finish("w", late, now=T0 + 3 * MINUTE) == [c.id for c in stale]
    assert ledger.renew("w", stale, 600, now=T0 + 3 * MINUTE) == [c.id for c in stale]
    assert ledger.release("w", stale, now=T0 + 3 * MINUTE) == [c.id for c in stale]
    for c in fresh:
        row = ledger.get_by_id(c.id)
        assert row is not None
        assert (row.status, row.target_id, row.lease_token) == ("writing", None, fresh[0].lease_token)
    assert ledger.finish("w", [c.outcome("written", target_id="FRESH") for c in fresh], now=T0) == []
    assert {ledger.get_by_id(c.id).target_id for c in fresh} == {"FRESH"}  # type: ignore[union-attr]


def test_an_outcome_without_its_lease_token_is_not_applied(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    assert ledger.finish("w", [Outcome(a.id, "written")], now=T0) == [a.id]
    assert ledger.finish("w", [Outcome(a.id, "written", lease_token=a.lease_token + 1)], now=T0) == [a.id]
    row = ledger.get_by_id(a.id)
    assert row is not None and row.status == "writing"


def test_finish_and_claim_stores_a_batch_and_claims_the_next_in_one_transaction(ledger: Ledger) -> None:
    seed(ledger, 5)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    outcomes = [
        a.outcome("written", target_id="FID1"),
        Outcome(b.id, "written", lease_token=b.lease_token + 1),
    ]
    lost, claimed = ledger.finish_and_claim("w", outcomes, "s", limit=2, lease_seconds=60, now=T0)
    # the outcome without its lease token is not applied, as with finish; the next two are claimed
    assert lost == [b.id]
    assert [c.id for c in claimed] == [a.id + 2, a.id + 3]
    assert claimed[0].lease_token not in (a.lease_token, None) and not claimed[0].needs_probe
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.status, row.target_id, row.attempts, row.lease_owner) == (
        "written",
        "FID1",
        1,
        None,
    )
    assert ledger.counts("s") == {"written": 1, "writing": 3, "pending": 1}
    # nothing left to claim: the outcomes are stored all the same
    rest = ledger.claim("s", owner="w", limit=5, lease_seconds=60, now=T0)
    lost, claimed = ledger.finish_and_claim(
        "w", [c.outcome("written") for c in [*claimed, *rest]], "s", limit=2, lease_seconds=60, now=T0
    )
    assert (lost, claimed) == ([], [])
    assert ledger.counts("s") == {"written": 4, "writing": 1}


def test_finish_and_claim_is_one_transaction(ledger: Ledger) -> None:
    seed(ledger, 4)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)

    def broken(claimed: object) -> dict[int, list[object]]:
        raise RuntimeError("the checks broke")

    with pytest.raises(RuntimeError):
        ledger.finish_and_claim(
            "w", [a.outcome("written"), b.outcome("written")], "s", limit=2, lease_seconds=60, facts=broken
        )
    # the claim failed, so the outcomes were not stored either: the batch is still in hand
    assert ledger.counts("s") == {"writing": 2, "pending": 2}
    assert ledger.finish("w", [a.outcome("written"), b.outcome("written")]) == []


def test_renew_keeps_a_live_batch_from_being_claimed(ledger: Ledger) -> None:
    seed(ledger, 3)
    batch = ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)
    for minute in range(1, 10):
        # the worker renews every minute; another worker keeps trying to take the batch
        assert ledger.renew("w", batch, 60, now=T0 + minute * MINUTE - dt.timedelta(seconds=1)) == []
        assert ledger.claim("s", owner="w2", limit=3, lease_seconds=60, now=T0 + minute * MINUTE) == []
    assert ledger.finish("w", [c.outcome("written") for c in batch], now=T0 + 10 * MINUTE) == []
    assert ledger.counts("s") == {"written": 3}


def test_a_claim_hands_one_fresh_token_to_its_whole_batch(ledger: Ledger) -> None:
    seed(ledger, 4)
    first = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    second = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    assert len({c.lease_token for c in first}) == 1 and len({c.lease_token for c in second}) == 1
    assert first[0].lease_token != second[0].lease_token
    assert 0 < first[0].lease_token < 2**63
    row = ledger.get_by_id(first[0].id)
    assert row is not None and row.lease_token == first[0].lease_token
    ledger.finish("w", [c.outcome("written") for c in first], now=T0)
    row = ledger.get_by_id(first[0].id)
    assert row is not None and row.lease_token is None


# ---------------------------------------------------------------- finishing and held


def test_finishing_records_are_claimed_when_due_and_never_lose_their_document(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    ledger.finish(
        "w",
        [a.outcome("finishing", target_id="FID", target_number="PAY-1", next_attempt_at=T0 + MINUTE)],
        now=T0,
    )
    assert ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0) == []
    [again] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0 + MINUTE)
    assert (again.previous_status, again.needs_probe) == ("finishing", False)
    assert (again.target_id, again.target_number) == ("FID", "PAY-1")
    # given back: finishing again, not pending (it must never be written again)
    assert ledger.release("w", [again], now=T0 + MINUTE) == []
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.status, row.target_id) == ("finishing", "FID")
    # its worker dies: the takeover is still a finishing claim, no probe
    [again] = ledger.claim("s", owner="crashed", limit=1, lease_seconds=60, now=T0 + MINUTE)
    [taken] = ledger.claim("s", owner="w2", limit=1, lease_seconds=60, now=T0 + 3 * MINUTE)
    assert (taken.previous_status, taken.needs_probe) == ("finishing", False)
    # a finishing outcome keeps the stored document when it names it again
    ledger.finish("w2", [taken.outcome("written", reason="audited")], now=T0 + 3 * MINUTE)
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.status, row.target_id, row.reason) == ("written", "FID", "audited")


def test_a_finishing_outcome_must_name_the_document(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    with pytest.raises(ValueError, match="target_id"):
        ledger.finish("w", [a.outcome("finishing")], now=T0)
    row = ledger.get_by_id(a.id)
    assert row is not None and row.status == "writing"


def test_held_records_are_never_claimed_and_only_a_person_moves_them_on(ledger: Ledger) -> None:
    seed(ledger, 2)
    a, b = ledger.claim("s", owner="w", limit=2, lease_seconds=60, now=T0)
    ledger.finish(
        "w",
        [
            a.outcome("held", reason="待复核: duplicate payment?", error_type="quality"),
            b.outcome("held", reason="待复核", error_type="quality"),
        ],
        now=T0,
    )
    assert ledger.claim("s", owner="w", limit=5, lease_seconds=60, now=T0 + 60 * MINUTE) == []
    assert ledger.counts("s") == {"held": 2}
    # only pending or skipped take a held record
    for status in ("dead", "written", "failed", "quarantined", "finishing"):
        assert ledger.set_status([a.id], status, "by hand", now=T0) == 0
    assert ledger.set_status([a.id], "pending", "reviewed: fine", now=T0) == 1
    assert ledger.set_status([b.id], "skipped", "reviewed: a duplicate", now=T0) == 1
    assert [c.id for c in ledger.claim("s", owner="w", limit=5, lease_seconds=60, now=T0)] == [a.id]
    last = ledger.history(a.id)[-1]
    assert (last.from_status, last.to_status, last.reason) == ("held", "pending", "reviewed: fine")


def test_a_finishing_record_is_not_moved_to_pending_by_hand(ledger: Ledger) -> None:
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    ledger.finish("w", [a.outcome("finishing", target_id="FID", next_attempt_at=T0 + 60 * MINUTE)], now=T0)
    assert ledger.set_status([a.id], "pending", "records retry", now=T0) == 0
    # set finishing to retry its follow-ups now
    assert ledger.set_status([a.id], "finishing", "records retry", now=T0) == 1
    [again] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    assert (again.previous_status, again.target_id) == ("finishing", "FID")


@pytest.mark.parametrize("resting", ["held", "finishing"])
def test_collect_never_changes_a_held_or_finishing_records_content(ledger: Ledger, resting: str) -> None:
    ledger.collect("s", [Collected("a", "N", {"v": 1})], now=T0)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)
    ledger.finish("w", [a.outcome(resting, target_id="FID" if resting == "finishing" else None)], now=T0)  # type: ignore[arg-type]
    counts = ledger.collect("s", [Collected("a", "N", {"v": 2})], on_change="rewrite", now=T0)
    assert counts.as_dict() == {"new": 0, "changed": 0, "unchanged": 0, "ignored": 1}
    row = ledger.get_by_id(a.id)
    assert row is not None and (row.status, row.content) == (resting, {"v": 1})


def test_records_back_to_pending_below_a_postgres_claim_floor_are_taken_soon(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL claims look for pending records past the ids they just took (a hint that spares them
    the dead row versions below); records that come back to pending below it are taken once fewer
    than the limit lie above it, or once the hint is older than FLOOR_SECONDS. SQLite takes the lowest
    ids first always."""
    import ferry.store.leases as leases

    seed(ledger, 10)
    first = ledger.claim("s", owner="w", limit=5, lease_seconds=60, now=T0)
    assert ledger.release("w", first[:2], now=T0) == []  # ids 1 and 2 are pending again
    low = [c.id for c in first[:2]]
    taken = [c.id for c in ledger.claim("s", owner="w", limit=3, lease_seconds=60, now=T0)]
    if ledger.engine.dialect.name == "postgresql":
        assert taken == [6, 7, 8]
        # fewer than the limit above the floor: the claim looks from the start too
        assert [c.id for c in ledger.claim("s", owner="w", limit=10, lease_seconds=60, now=T0)] == [
            *low,
            9,
            10,
        ]
    else:
        assert taken == [*low, 6]
    # an old hint is not used
    seed_more = [Collected(f"x{i}", None, {"i": i}) for i in range(3)]
    ledger.collect("s", seed_more, now=T0)
    everything = ledger.claim("s", owner="w", limit=100, lease_seconds=60, now=T0)
    ledger.release("w", everything, now=T0)
    monkeypatch.setattr(leases, "FLOOR_SECONDS", -1.0)
    lowest = min(c.id for c in everything)
    assert ledger.claim("s", owner="w", limit=1, lease_seconds=60, now=T0)[0].id == lowest


def test_a_claim_hands_out_whole_frozen_claimed_records(ledger: Ledger) -> None:
    """Claims build their records without ``Claimed.__init__`` (see ``claimed_row``): each has every
    field of the class, equals the record the constructor makes, and stays frozen."""
    seed(ledger, 1)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    assert set(vars(a)) == {f.name for f in dataclasses.fields(Claimed)}
    values = {f.name: getattr(a, f.name) for f in dataclasses.fields(Claimed)}
    assert a == Claimed(**values) and repr(a) == repr(Claimed(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.attempts = 5  # type: ignore[misc]
