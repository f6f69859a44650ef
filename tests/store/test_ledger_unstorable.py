"""Values the ledger cannot hold, the same on both backends: the record is quarantined with why, the
rest of its page is stored, and the next run finds it again under the same id."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ferry.store import Collected, Ledger, content_hash

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

BAD_CONTENT = {
    "nan": ({"amount": float("nan")}, "content.amount is NaN"),
    "inf": ({"rows": [{"qty": 1}, {"qty": float("-inf")}]}, "content.rows[1].qty is -Infinity"),
    "nul": ({"payee": {"name": "甲\x00乙"}}, "content.payee.name contains a NUL character"),
    "nul-key": ({"a\x00b": 1}, "a key in content contains a NUL character"),
    "surrogate": ({"memo": "bad \ud800 text"}, "content.memo is not valid Unicode"),
}


def good(source_id: str) -> Collected:
    return Collected(source_id, f"N-{source_id}", {"amount": "1.00"})


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_bad_content_is_quarantined_and_the_rest_of_the_page_is_stored(ledger: Ledger, case: str) -> None:
    content, why = BAD_CONTENT[case]
    page = [good("a"), Collected("bad", "N-bad", content), good("b")]
    counts = ledger.collect("s", page, now=T0)
    assert counts.as_dict() == {"new": 3, "changed": 0, "unchanged": 0, "ignored": 0}
    assert ledger.counts("s") == {"pending": 2, "quarantined": 1}
    row = ledger.get("s", "bad")
    assert row is not None and row.status == "quarantined" and row.last_error_type == "unstorable"
    assert row.reason is not None and why in row.reason, row.reason
    # a copy a person can read: the bad values shown, not lost
    text = json.dumps(row.content, ensure_ascii=False)
    assert "\x00" not in text and ("NaN" in text or "Infinity" in text or "\ufffd" in text)
    # the next run sees the same record: unchanged, still one row
    again = ledger.collect("s", page, now=T0)
    assert again.as_dict() == {"new": 0, "changed": 0, "unchanged": 3, "ignored": 0}
    # it is never claimed, and never replayed to pending by hand (the copy would be sent)
    assert {c.source_id for c in ledger.claim("s", owner="w", limit=10, lease_seconds=60)} == {"a", "b"}
    assert ledger.set_status([row.id], "pending", "records replay") == 0
    assert ledger.set_status([row.id], "skipped", "looked at it") == 1


@pytest.mark.parametrize(
    ("source_id", "why"),
    [
        ("x" * 201, "the source id is 201 characters long (the ledger holds at most 200)"),
        ("id\x00", "the source id contains a NUL character"),
        ("id\udfff", "the source id is not valid Unicode"),
    ],
)
def test_an_unstorable_id_is_kept_under_a_stable_synthetic_id(
    ledger: Ledger, source_id: str, why: str
) -> None:
    counts = ledger.collect("s", [Collected(source_id, "N", {"v": 1}), good("a")], now=T0)
    assert counts.new == 2
    [row] = ledger.list_records(scheme="s", status="quarantined")
    assert row.source_id.startswith("unstorable:") and len(row.source_id) <= 200
    assert row.reason is not None and why in row.reason
    # the same bad id maps to the same row on every run
    assert ledger.collect("s", [Collected(source_id, "N", {"v": 1})], now=T0).unchanged == 1
    assert ledger.counts("s") == {"pending": 1, "quarantined": 1}


def test_over_long_number_and_partition_are_quarantined_with_the_record_kept(ledger: Ledger) -> None:
    item = Collected("a", "N" * 300, {"v": 1}, partition="P" * 250)
    ledger.collect("s", [item], now=T0)
    row = ledger.get("s", "a")
    assert row is not None and row.status == "quarantined"
    assert row.reason is not None
    assert "the number is 300 characters long" in row.reason and "the partition is 250" in row.reason
    assert row.number == "N" * 200 and row.partition == "P" * 200


def test_a_fixed_version_replaces_the_unstorable_copy_whatever_on_change_says(ledger: Ledger) -> None:
    ledger.collect("s", [Collected("a", "N", {"amount": float("nan")})], now=T0)
    counts = ledger.collect("s", [Collected("a", "N", {"amount": "5.00"})], on_change="ignore", now=T0)
    assert counts.changed == 1
    row = ledger.get("s", "a")
    assert row is not None and (row.status, row.content, row.last_error_type) == (
        "pending",
        {"amount": "5.00"},
        None,
    )
    assert [e.to_status for e in ledger.history(row.id)] == ["quarantined", "pending"]


def test_a_pending_record_whose_new_content_cannot_be_held_is_quarantined(ledger: Ledger) -> None:
    ledger.collect("s", [Collected("a", "N", {"amount": "5.00"})], now=T0)
    assert ledger.collect("s", [Collected("a", "N", {"amount": float("inf")})], now=T0).changed == 1
    row = ledger.get("s", "a")
    assert row is not None and row.status == "quarantined" and row.content == {"amount": "Infinity"}


def test_unstorable_text_in_an_outcome_is_cleaned_not_refused(ledger: Ledger) -> None:
    ledger.collect("s", [good("a")], now=T0)
    [a] = ledger.claim("s", owner="w", limit=1, lease_seconds=60)
    lost = ledger.finish(
        "w",
        [
            a.outcome(
                "dead",
                reason="bad\x00reason",
                error_code="E" * 300,
                error_message="boom\x00",
                response={"ratio": float("nan"), "text": "a\x00b"},
                request={"ok": True},
            )
        ],
    )
    assert lost == []
    row = ledger.get_by_id(a.id)
    assert row is not None and row.status == "dead"
    assert row.reason == "bad\ufffdreason" and row.last_error_code == "E" * 200
    assert row.response == {"ratio": "NaN", "text": "a\ufffdb"} and row.request == {"ok": True}
    event = ledger.history(a.id)[-1]
    assert event.detail is not None and any("response.ratio is NaN" in p for p in event.detail["unstorable"])


def test_the_content_hash_is_the_canonical_json_it_always_was() -> None:
    """The stored hashes of earlier versions stay valid: same sha256 of the same canonical text."""
    import hashlib
    from decimal import Decimal

    content = {"b": [1, 2.5, None, True], "a": {"名": "值", "at": T0, "amount": Decimal("1.10")}, "n": 1e16}
    old = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    assert content_hash(content) == hashlib.sha256(old.encode()).hexdigest()


def test_a_record_already_quarantined_keeps_its_reason_first(ledger: Ledger) -> None:
    item = Collected(
        "a", "N", {"amount": float("nan")}, status="quarantined", reason="the source condition failed"
    )
    ledger.collect("s", [item], now=T0)
    row = ledger.get("s", "a")
    assert row is not None and row.reason is not None
    assert row.reason.startswith("the source condition failed; cannot be stored as it came:")
    assert "content.amount is NaN" in row.reason
