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
