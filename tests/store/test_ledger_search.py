"""search(): business keys exactly or by prefix (indexed), then content substrings; wildcards are text."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ferry.store import Collected, Ledger

T0 = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)


def seed(ledger: Ledger) -> dict[str, int]:
    ledger.collect(
        "pay",
        [
            Collected("PROC-001", "FKSQ-2026-001", {"memo": "office chairs", "payee": "甲公司"}),
            Collected("PROC-002", "FKSQ-2026-002", {"memo": "50% deposit", "payee": "乙公司"}),
            Collected("PROC-010", "FKSQ-2026-010", {"memo": "a_b test", "payee": "FKSQ-2026-001 refund"}),
        ],
        now=T0,
    )
    ledger.collect(
        "other", [Collected("PROC-001", "X-1", {"memo": "other scheme"})], now=T0 + dt.timedelta(hours=1)
    )
    claimed = ledger.claim("pay", owner="w", limit=1, lease_seconds=60, now=T0)
    ledger.finish("w", [claimed[0].outcome("written", target_id="100234", target_number="FKD00017")], now=T0)
    return {row.source_id + "/" + row.scheme: row.id for row in ledger.list_records(limit=10)}


def found(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [f"{r.scheme}:{r.source_id}" for r in rows]


def test_search_by_each_business_key_exactly_or_by_prefix(ledger: Ledger) -> None:
    seed(ledger)
    assert found(ledger.search("PROC-002")) == ["pay:PROC-002"]
    # keys first (newest first), then PROC-010, whose content mentions FKSQ-2026-001
    assert found(ledger.search("FKSQ-2026-00", scheme="pay")) == [
        "pay:PROC-002",
        "pay:PROC-001",
        "pay:PROC-010",
    ]
    assert found(ledger.search("100234")) == ["pay:PROC-001"]  # target id
    assert found(ledger.search("FKD000")) == ["pay:PROC-001"]  # target number prefix
    # across schemes, newest first
    assert found(ledger.search("PROC-001")) == ["other:PROC-001", "pay:PROC-001"]
    # case-sensitive on both backends
    assert ledger.search("proc-001", scheme="pay") == []


def test_key_matches_come_before_content_matches(ledger: Ledger) -> None:
    seed(ledger)
    # PROC-001's number matches; PROC-010 only mentions it in its content
    assert found(ledger.search("FKSQ-2026-001")) == ["pay:PROC-001", "pay:PROC-010"]
    assert found(ledger.search("乙公司")) == ["pay:PROC-002"]
    assert found(ledger.search("chairs")) == ["pay:PROC-001"]


def test_paging_runs_through_key_matches_then_content_matches(ledger: Ledger) -> None:
    seed(ledger)
    every = found(ledger.search("FKSQ-2026-0"))
    assert every == ["pay:PROC-010", "pay:PROC-002", "pay:PROC-001"]
    ledger.collect("pay", [Collected("Z", None, {"note": "see FKSQ-2026-0 series"})], now=T0)
    every = found(ledger.search("FKSQ-2026-0"))
    assert every[-1] == "pay:Z" and len(every) == 4
    pages = [found(ledger.search("FKSQ-2026-0", limit=1, offset=i)) for i in range(5)]
    assert pages == [[x] for x in every] + [[]]
    assert found(ledger.search("FKSQ-2026-0", limit=2, offset=2)) == every[2:]


def test_wildcards_in_the_text_are_matched_literally(ledger: Ledger) -> None:
    seed(ledger)
    assert found(ledger.search("50%")) == ["pay:PROC-002"]
    assert ledger.search("%") == [] or found(ledger.search("%")) == ["pay:PROC-002"]
    assert found(ledger.search("a_b")) == ["pay:PROC-010"]
    assert ledger.search("PROC_00") == []  # '_' is not "any character"
    assert ledger.search("PROC*") == [] and ledger.search("PROC?001") == []
    assert ledger.search("[P]ROC") == []


def test_search_filters_by_status_and_time(ledger: Ledger) -> None:
    seed(ledger)
    assert found(ledger.search("PROC", statuses=["written"])) == ["pay:PROC-001"]
    assert found(ledger.search("PROC", since=T0 + dt.timedelta(minutes=30))) == ["other:PROC-001"]
    assert ledger.search("   ") == [] and ledger.search("PROC", limit=0) == []


def test_list_records_bounds_the_last_change(ledger: Ledger) -> None:
    seed(ledger)
    later = T0 + dt.timedelta(hours=1)
    assert [r.scheme for r in ledger.list_records(since=later)] == ["other"]
    assert {r.scheme for r in ledger.list_records(until=later)} == {"pay"}


def test_key_search_uses_the_indexes(ledger: Ledger) -> None:
    """The prefix query is answered from the key indexes, not by scanning records."""
    seed(ledger)
    from ferry.store.schema import records

    query = sa.select(records.c.id).where(ledger._key_match("FKSQ"))
    with ledger.engine.connect() as conn:
        if ledger.engine.dialect.name == "sqlite":
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    for index in ("ix_records_source_id_key", "ix_records_number_key"):
        assert index in plan, plan
