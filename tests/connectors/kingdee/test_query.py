"""Lookups (enrich) against the Kingdee sandbox: rows as dicts, values quoted, never filter syntax."""

from __future__ import annotations

import pytest
from kd_client_support import ClientFactory, Server

from ferry.connectors.errors import GiveUp
from ferry.connectors.kingdee.query import KingdeeQuerier, filter_string, literal


def test_literals_are_quoted_so_values_cannot_become_syntax() -> None:
    assert literal("FKSQ0001") == "'FKSQ0001'"
    assert literal("x' OR '1'='1") == "'x'' OR ''1''=''1'"
    assert literal(12) == "12" and literal(True) == "1"
    assert (
        filter_string({"FBillNo": "A", "FDocumentStatus": None}) == "FBillNo='A' AND FDocumentStatus IS NULL"
    )
    with pytest.raises(GiveUp):
        filter_string({"FBillNo OR 1=1 --": "x"})


async def test_query_returns_rows_keyed_by_field(server: Server, make_client: ClientFactory) -> None:
    server.seed({"number": "FKSQ900001", "amount": 1234.5}, {"number": "FKSQ900002", "amount": 10})
    querier = KingdeeQuerier(make_client())
    rows = await querier.query(
        {
            "form_id": "CN_PAYAPPLY",
            "fields": ["FBillNo", "FDocumentStatus", "FAPPLYAMOUNTFOR_H"],
            "where": {"FBillNo": "FKSQ900001"},
        }
    )
    assert len(rows) == 1
    assert rows[0]["FBillNo"] == "FKSQ900001"
    assert rows[0]["FDocumentStatus"] == "C"
    assert float(rows[0]["FAPPLYAMOUNTFOR_H"]) == pytest.approx(1234.5)
    # a value with quotes in it is a value: it matches nothing instead of everything
    assert (
        await querier.query(
            {"form_id": "CN_PAYAPPLY", "fields": "FBillNo", "where": {"FBillNo": "x' OR '1'='1"}}
        )
        == []
    )
    with pytest.raises(GiveUp, match="where"):
        await querier.query({"form_id": "CN_PAYAPPLY", "fields": ["FBillNo"]})
    await querier.aclose()


async def test_many_lookups_on_one_key_are_one_call(server: Server, make_client: ClientFactory) -> None:
    server.seed(*({"number": f"FKSQ95{i:04d}", "amount": 100 + i} for i in range(30)))
    client = make_client()
    querier = KingdeeQuerier(client)
    asks = [
        {"form_id": "CN_PAYAPPLY", "fields": ["FAPPLYAMOUNTFOR_H"], "where": {"FBillNo": f"FKSQ95{i:04d}"}}
        for i in (3, 7, 29)
    ] + [
        {"form_id": "CN_PAYAPPLY", "fields": ["FAPPLYAMOUNTFOR_H"], "where": {"FBillNo": "FKSQ-NOPE"}},
        {
            "form_id": "CN_PAYAPPLY",
            "fields": ["FBillNo"],
            "where": {"FBillNo": "FKSQ950001", "FDocumentStatus": "C"},
        },
    ]
    before = server.admin("GET", "stats")
    answers = await querier.query_many(asks)
    after = server.admin("GET", "stats")
    assert [float(a[0]["FAPPLYAMOUNTFOR_H"]) for a in answers[:3]] == [103.0, 107.0, 129.0]
    assert answers[0][0] == {"FAPPLYAMOUNTFOR_H": answers[0][0]["FAPPLYAMOUNTFOR_H"]}  # only the asked fields
    assert answers[3] == []
    assert answers[4] == [{"FBillNo": "FKSQ950001"}]
    # the four single-key lookups were one call, the two-key one its own
    calls = lambda stats: stats["calls"].get("executebillquery", stats["calls"].get("ExecuteBillQuery", 0))  # noqa: E731
    assert calls(after) - calls(before) == 2
    await querier.aclose()
