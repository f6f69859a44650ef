"""Client operations against the sandbox: Save (key order), Draft, BatchSave, life cycle, View, Push, queries."""

from __future__ import annotations

import pytest
from kd_client_support import ClientFactory, Server

from ferry.connectors.errors import GiveUp, OutcomeUnknown
from ferry.connectors.kingdee import AuthMode, KingdeeClient, PushStatus

PAYBILL = {
    "FID": 0,
    "FBillTypeID": {"FNUMBER": "FKDLX01_SYS"},
    "FDATE": "2025-05-01",
    "FCONTACTUNITTYPE": "BD_Supplier",
    "FCONTACTUNIT": {"FNumber": "VEN00001"},
    "FPAYBILLENTRY": [
        {
            "FSETTLETYPEID": {"FNumber": "JSFS04_SYS"},
            "FPURPOSEID": {"FNumber": "SFKYT01_SYS"},
            "FPAYTOTALAMOUNTFOR": 10,
        }
    ],
}


async def test_save_keeps_the_model_key_order(client: KingdeeClient, server: Server) -> None:
    model = {
        "FID": 0,
        "FZZZ": 1,
        "FAAA": 2,
        "FMMM": {"FNumber": "x"},
        "FPAYAPPLYENTRY": [{"FAPPLYAMOUNTFOR": 5}],
    }
    saved = await client.save("CN_PAYAPPLY", model, need_return_fields=["FBillNo"])
    assert (
        saved.number == "FKSQ000001" and saved.id and saved.need_return_data == ({"FBillNo": "FKSQ000001"},)
    )
    stored = server.admin("GET", f"bills/CN_PAYAPPLY/{saved.number}")["model"]
    assert [k for k in stored if k in model] == ["FID", "FZZZ", "FAAA", "FMMM", "FPAYAPPLYENTRY"]


async def test_save_validation_failure_gives_up_with_msgcode(client: KingdeeClient) -> None:
    with pytest.raises(GiveUp) as err:
        await client.save(
            "AP_PAYBILL", {**PAYBILL, "FPAYBILLENTRY": [{"FPURPOSEID": {"FNumber": "SFKYT01_SYS"}}]}
        )
    assert err.value.code == "MsgCode=11" and "结算方式" in str(err.value)


async def test_draft_then_save_then_life_cycle(client: KingdeeClient, server: Server) -> None:
    draft = await client.draft("AP_PAYBILL", {"FID": 0, "FPAYBILLENTRY": [{"FPAYTOTALAMOUNTFOR": 1}]})
    assert draft.number == "" and server.admin("GET", f"bills/AP_PAYBILL/{draft.id}")["status"] == "Z"
    saved = await client.save("AP_PAYBILL", PAYBILL)
    assert (await client.submit("AP_PAYBILL", [saved.number])).is_success
    audited = await client.audit("AP_PAYBILL", ids=[saved.id])
    assert audited.entities[0].number == saved.number
    view = await client.view("AP_PAYBILL", number=saved.number)
    assert view["DocumentStatus"] == "C" and view["FCONTACTUNIT"] == {"FNumber": "VEN00001"}
    with pytest.raises(GiveUp, match="单据已经审核"):
        await client.audit("AP_PAYBILL", [saved.number])
    assert (await client.unaudit("AP_PAYBILL", [saved.number])).is_success
    assert (await client.delete("AP_PAYBILL", [saved.number])).is_success
    with pytest.raises(GiveUp) as err:
        await client.view("AP_PAYBILL", number=saved.number)
    assert err.value.code == "MsgCode=10"


async def test_partial_batch_results_by_dindex(client: KingdeeClient) -> None:
    bad = {**PAYBILL, "FPAYBILLENTRY": [{"FPURPOSEID": {"FNumber": "SFKYT01_SYS"}}]}
    result = await client.batch_save("AP_PAYBILL", [PAYBILL, bad, PAYBILL])
    assert not result.is_success
    assert [(e.index, e.ok) for e in result.entities] == [(0, True), (1, False), (2, True)]
    numbers = [e.number for e in result.entities if e.ok]
    partial = await client.submit("AP_PAYBILL", [numbers[0], "FKD404", numbers[1]])
    assert [e.index for e in partial.failed()] == [1]
    with pytest.raises(GiveUp):
        await client.submit("AP_PAYBILL", ["FKD404"])
    kept = await client.submit("AP_PAYBILL", ["FKD404"], raise_on_failure=False)
    assert kept.failed()[0].errors


async def test_execute_operation(client: KingdeeClient) -> None:
    saved = await client.save("AP_PAYBILL", PAYBILL)
    result = await client.execute_operation("AP_PAYBILL", "Submit", {"Numbers": [saved.number]})
    assert result.is_success and result.entities[0].id == saved.id


async def test_batch_push_maps_each_outcome(client: KingdeeClient, server: Server) -> None:
    server.seed(
        {"number": "FKSQ000001", "amount": 100},
        {"number": "FKSQ000002", "amount": 200, "status": "A"},
        {"number": "FKSQ000003", "amount": 300, "missing_settle_type": True},
    )
    result = await client.push(
        "CN_PAYAPPLY", ["FKSQ000001", "FKSQ000002", "FKSQ999", "FKSQ000003"], target_form_id="AP_PAYBILL"
    )
    by = {o.source: o for o in result.outcomes}
    assert by["FKSQ000001"].status is PushStatus.CREATED and by["FKSQ000001"].target_number.startswith("FKD")
    assert by["FKSQ000002"].status is PushStatus.FAILED and "未审核" in by["FKSQ000002"].messages[0]
    assert isinstance(by["FKSQ000002"].error, GiveUp)
    assert by["FKSQ999"].status is PushStatus.FAILED and by["FKSQ999"].error is not None
    draft = by["FKSQ000003"]
    assert draft.status is PushStatus.DRAFT and draft.target_id and draft.target_number is None
    assert any("结算方式" in m for m in draft.messages)
    assert [o.index for o in result.outcomes] == [0, 1, 2, 3]
    assert len(result.created()) == 1 and len(result.drafts()) == 1 and len(result.failures()) == 2


async def test_push_of_a_fully_pushed_bill(client: KingdeeClient, server: Server) -> None:
    server.seed({"number": "FKSQ000010", "amount": 50})
    assert (await client.push("CN_PAYAPPLY", ["FKSQ000010"], target_form_id="AP_PAYBILL")).all_created
    again = await client.push("CN_PAYAPPLY", ["FKSQ000010"], target_form_id="AP_PAYBILL")
    outcome = again.outcomes[0]
    assert outcome.status is PushStatus.FAILED
    # "already pushed" means a target exists: the engine must reconcile (probe), not dead-letter
    assert isinstance(outcome.error, OutcomeUnknown)
    assert server.admin("GET", "paybills/count", params={"source": "FKSQ000010"})["total"] == 1


async def test_push_bad_rule_raises_give_up(client: KingdeeClient, server: Server) -> None:
    server.seed({"number": "FKSQ000011", "amount": 5})
    with pytest.raises(GiveUp):
        await client.push(
            "CN_PAYAPPLY", ["FKSQ000011"], target_form_id="AP_PAYBILL", is_enable_default_rule=False
        )


async def test_queries_paging_and_bill_query(client: KingdeeClient, server: Server) -> None:
    server.admin("POST", "bills", json={"count": 7})
    keys = ["FBillNo", "FDocumentStatus"]
    page = await client.execute_bill_query("CN_PAYAPPLY", keys, "FDocumentStatus='C'", "FBillNo DESC", 2, 3)
    assert [r[0] for r in page] == ["FKSQ000005", "FKSQ000004", "FKSQ000003"]
    every = [row async for row in client.iter_execute_bill_query("CN_PAYAPPLY", keys, page_size=3)]
    assert [r[0] for r in every] == [f"FKSQ00000{i}" for i in range(1, 8)]
    assert server.admin("GET", "stats")["calls"]["ExecuteBillQuery"] == 1 + 3  # pages of 3, 3, 1
    objects = await client.bill_query(
        "CN_PAYAPPLY",
        keys,
        [
            {
                "FieldName": "FBillNo",
                "Compare": "67",
                "Value": "FKSQ000002",
                "Left": "",
                "Right": "",
                "Logic": 0,
            }
        ],
    )
    assert objects == [{"FBillNo": "FKSQ000002", "FDocumentStatus": "C"}]
    with pytest.raises(GiveUp) as err:
        await client.execute_bill_query("CN_PAYAPPLY", ["FIssueType"])
    assert err.value.code == "MsgCode=9"


async def test_parameters_envelope_and_legacy_replies(make_client: ClientFactory, server: Server) -> None:
    server.admin("PUT", "config", json={"envelope_style": "legacy"})
    client = make_client(AuthMode.VALIDATE_USER, envelope="parameters")
    saved = await client.save("AP_PAYBILL", PAYBILL)
    assert saved.number.startswith("FKD")
    with pytest.raises(GiveUp, match="未提交"):
        await client.audit("AP_PAYBILL", [saved.number])
    server.seed({"number": "FKSQ000001", "amount": 1})
    pushed = await client.push("CN_PAYAPPLY", ["FKSQ000001", "FKSQ404"], target_form_id="AP_PAYBILL")
    assert [o.status for o in pushed.outcomes] == [PushStatus.CREATED, PushStatus.FAILED]
    assert await client.execute_bill_query("AP_PAYBILL", "FBillNo", f"FBillNo='{saved.number}'") == [
        [saved.number]
    ]
