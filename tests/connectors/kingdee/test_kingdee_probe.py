"""The existence probe: after an unknown outcome, find what the write actually created."""

from __future__ import annotations

import pytest
from kd_client_support import Server

from ferry.connectors.errors import OutcomeUnknown
from ferry.connectors.kingdee import KingdeeClient, PushStatus


async def test_probe_finds_exactly_the_bill_created_by_a_dropped_push(
    client: KingdeeClient, server: Server
) -> None:
    server.seed({"number": "FKSQ000123", "amounts": [100, 23.5]}, {"number": "FKSQ000124", "amount": 9})
    assert await client.find_target_by_source("FKSQ000123") == []
    server.fault("drop_after_commit", ["push"])
    with pytest.raises(OutcomeUnknown):
        await client.push("CN_PAYAPPLY", ["FKSQ000123"], target_form_id="AP_PAYBILL")
    found = await client.find_target_by_source("FKSQ000123")
    # two source rows → two rows in FPAYBILLSRCENTRY, but one document
    assert len(found) == 1
    doc = found[0]
    assert doc.number.startswith("FKD") and doc.status == "A" and not doc.is_draft
    assert server.admin("GET", "paybills/count", params={"source": "FKSQ000123"})["counts"] == {
        "FKSQ000123": 1
    }
    # the retry the probe prevents would have been refused anyway, and says so
    again = await client.push("CN_PAYAPPLY", ["FKSQ000123"], target_form_id="AP_PAYBILL")
    assert again.outcomes[0].status is PushStatus.FAILED
    assert await client.find_target_by_source("FKSQ000124") == []


async def test_probe_sees_drafts_and_configurable_fields(client: KingdeeClient, server: Server) -> None:
    server.seed({"number": "FKSQ000200", "amount": 5, "missing_settle_type": True})
    result = await client.push("CN_PAYAPPLY", ["FKSQ000200"], target_form_id="AP_PAYBILL")
    assert result.outcomes[0].status is PushStatus.DRAFT
    found = await client.find_target_by_source(
        "FKSQ000200",
        source_field="FSRCBILLNO",  # the bare entry field key works too
        fields=["FREALPAYAMOUNTFOR", "FCONTACTUNIT.FNumber"],
    )
    assert len(found) == 1 and found[0].is_draft and found[0].number == ""
    assert found[0].id == result.outcomes[0].target_id
    assert found[0].fields["FREALPAYAMOUNTFOR"] == 5
    assert await client.find_target_by_source("FKSQ000200", extra_filter="FDocumentStatus<>'Z'") == []
    assert await client.find_target_by_source("O'Brien") == []  # quotes are escaped, not injected
