"""The Kingdee target adapter against the sandbox: batch Push outcomes per item, follow-ups, probe, Save."""

from __future__ import annotations

import pytest
from kd_client_support import APP_SECRET, Server
from kd_target_support import TargetFactory, by_key, paybills, push_request

from ferry.connectors.base import WriteItem
from ferry.connectors.errors import GiveUp, OutcomeUnknown
from ferry.connectors.kingdee.factory import parse_settings
from ferry.connectors.settings import ConnectionSettingsError
from ferry.observe.calls import MemoryCallRecorder


async def test_batch_push_maps_mixed_outcomes_to_items_and_audits_the_created(
    server: Server, make_target: TargetFactory, recorder: MemoryCallRecorder
) -> None:
    server.seed(
        {"number": "FKSQ000001", "amount": 100},
        {"number": "FKSQ000002", "amounts": [10, 20]},
        {"number": "FKSQ000003", "amount": 5, "status": "A"},
        {"number": "FKSQ000004", "amount": 7, "missing_settle_type": True},
        {"number": "FKSQ000005", "amount": 8},
    )
    target = make_target(batch_size=10, follow_up=["Submit", "Audit"])
    # FKSQ000005 was pushed by an earlier run whose answer we kept
    first = await target.write([WriteItem(99, "s5", None, push_request(["FKSQ000005"]))])
    assert first[0].ok and first[0].doc is not None and first[0].doc.number
    recorder.calls.clear()

    items = [
        WriteItem(1, "s1", "A1", push_request(["FKSQ000001"])),
        WriteItem(2, "s2", "A2", push_request("FKSQ000002")),  # a plain string works too
        WriteItem(3, "s3", "A3", push_request(["FKSQ404404"])),
        WriteItem(4, "s4", "A4", push_request(["FKSQ000003"])),
        WriteItem(5, "s5", "A5", push_request(["FKSQ000004"])),
        WriteItem(6, "s6", "A6", push_request(["FKSQ000005"])),
        WriteItem(7, "s7", "A7", push_request([])),
    ]
    out = by_key(await target.write(items))
    assert sorted(out) == [1, 2, 3, 4, 5, 6, 7]

    state = paybills(server)
    for key, number in ((1, "FKSQ000001"), (2, "FKSQ000002")):
        doc = out[key].doc
        assert out[key].ok and doc is not None and not doc.draft and doc.message is None
        assert doc.number == state[number]["number"] and doc.id == str(state[number]["id"])
        assert state[number]["status"] == "C"  # submitted and audited
        assert doc.response["follow_up"] == [
            {"operation": "Submit", "ok": True},
            {"operation": "Audit", "ok": True},
        ]
        assert doc.response["push"]["status"] == "created"
        assert doc.pending == () and "pending" not in doc.response

    assert isinstance(out[3].error, GiveUp) and "FKSQ404404" in str(out[3].error)
    assert isinstance(out[4].error, GiveUp) and "未审核" in str(out[4].error)
    assert "FKSQ000003" not in state and "FKSQ404404" not in state

    draft = out[5].doc
    assert out[5].ok and draft is not None and draft.draft and draft.number is None and draft.id
    assert draft.message and "暂存" in draft.message
    assert state["FKSQ000004"]["status"] == "Z"  # a draft is never submitted
    assert [s.get("skipped") for s in draft.response["follow_up"]] == ["draft", "draft"]
    assert draft.pending == ()  # a draft waits for a person, not for finish

    # already pushed: a payment bill exists somewhere, so the engine must reconcile, not resend or give up
    assert isinstance(out[6].error, OutcomeUnknown) and "already pushed" in str(out[6].error)
    assert isinstance(out[7].error, GiveUp) and "no source bill number" in str(out[7].error)

    counts = server.admin("GET", "paybills/count", params={"source": [f"FKSQ00000{i}" for i in range(1, 6)]})
    assert counts["counts"] == {
        "FKSQ000001": 1,
        "FKSQ000002": 1,
        "FKSQ000003": 0,
        "FKSQ000004": 1,
        "FKSQ000005": 1,
    }
    # one Push for the batch, one Submit and one Audit for the two created bills
    assert (recorder.count("Push"), recorder.count("Submit"), recorder.count("Audit")) == (1, 1, 1)


async def test_items_with_different_parameters_go_in_separate_calls(
    server: Server, make_target: TargetFactory, recorder: MemoryCallRecorder
) -> None:
    server.seed(
        {"number": "FKSQ000010", "amount": 1, "missing_settle_type": True},
        {"number": "FKSQ000011", "amount": 1, "missing_settle_type": True},
    )
    target = make_target(batch_size=5)
    out = by_key(
        await target.write(
            [
                WriteItem(1, "a", None, push_request(["FKSQ000010"], draft=True)),
                WriteItem(2, "b", None, push_request(["FKSQ000011"], draft="false")),
            ]
        )
    )
    assert recorder.count("Push") == 2
    assert out[1].doc is not None and out[1].doc.draft
    # without IsDraftWhenSaveFail the failed save creates nothing and says why
    assert isinstance(out[2].error, GiveUp) and "结算方式" in str(out[2].error)
    assert paybills(server).keys() == {"FKSQ000010"}


async def test_a_failed_follow_up_leaves_the_item_written_with_the_rest_pending(
    server: Server, make_target: TargetFactory
) -> None:
    server.seed({"number": "FKSQ000020", "amount": 50})
    server.fault("error5xx", ["audit"], count=None)
    target = make_target(follow_up=["Submit", "Audit"])
    [out] = await target.write([WriteItem(1, "s", None, push_request(["FKSQ000020"]))])
    doc = out.doc
    assert out.ok and doc is not None and doc.number and not doc.draft
    assert doc.pending == ("Audit",)  # Submit is done and is not asked for again
    assert doc.response["pending"] == ["Audit"] and doc.response["form_id"] == "AP_PAYBILL"
    assert doc.message is not None and doc.message.startswith(
        f"created AP_PAYBILL {doc.number}; Audit failed:"
    )
    assert doc.response["message"] == doc.message  # the ledger stores the response of written records
    assert doc.response["follow_up"][0] == {"operation": "Submit", "ok": True}
    assert doc.response["follow_up"][1]["operation"] == "Audit" and not doc.response["follow_up"][1]["ok"]
    assert "HTTP 500" in doc.message
    assert paybills(server)["FKSQ000020"]["status"] == "B"  # submitted, not audited; never pushed twice
    # the quick tries inside the write were the configured three, no more
    assert server.admin("GET", "stats")["calls"]["Audit"] == 3


async def test_follow_ups_are_safe_to_repeat(server: Server, make_target: TargetFactory) -> None:
    server.seed({"number": "FKSQ000030", "amount": 50})
    # Submit is applied but its answer lost: sent again, Kingdee says "already submitted", which is success
    server.fault("drop_after_commit", ["submit"], count=1)
    target = make_target(follow_up=["Submit", "Audit"])
    [out] = await target.write([WriteItem(1, "s", None, push_request(["FKSQ000030"]))])
    assert out.doc is not None and out.doc.message is None
    submit, audit = out.doc.response["follow_up"]
    assert submit["ok"] and submit["already"] and "已经提交" in submit["message"]
    assert audit == {"operation": "Audit", "ok": True}
    assert paybills(server)["FKSQ000030"]["status"] == "C" and out.doc.pending == ()


async def test_probe_finds_the_bill_of_a_dropped_push_and_finishes_its_follow_ups(
    server: Server, make_target: TargetFactory
) -> None:
    server.seed({"number": "FKSQ000040", "amount": 12}, {"number": "FKSQ000041", "amount": 13})
    target = make_target(
        follow_up=["Submit", "Audit"],
        probe={"form_id": "AP_PAYBILL", "source_number_field": "FPAYBILLSRCENTRY_FSRCBILLNO"},
    )
    item = WriteItem(1, "s", None, push_request(["FKSQ000040"]))
    assert await target.probe(item) is None
    server.fault("drop_after_commit", ["push"], count=1)
    with pytest.raises(OutcomeUnknown):
        await target.write([item])
    created = paybills(server)["FKSQ000040"]
    assert created["status"] == "A"  # the answer was lost, so no follow-up ran

    doc = await target.probe(item)
    assert doc is not None and doc.number == created["number"] and doc.id == str(created["id"])
    assert not doc.draft and doc.message is None
    assert [s["ok"] for s in doc.response["follow_up"]] == [True, True]
    assert paybills(server)["FKSQ000040"]["status"] == "C"
    # asking again is harmless: the audited bill needs nothing more
    again = await target.probe(item)
    assert again is not None and again.number == doc.number
    assert all(s.get("already") for s in again.response["follow_up"])
    assert await target.probe(WriteItem(2, "t", None, push_request(["FKSQ000041"]))) is None
    with pytest.raises(GiveUp, match="source bill"):
        await target.probe(WriteItem(3, "u", None, {}))  # a crashed writer stored no request


async def test_probe_reports_more_than_one_document_for_a_person(
    server: Server, make_target: TargetFactory
) -> None:
    server.seed({"number": "FKSQ000050", "amounts": [5, 6]})
    rows = server.admin("GET", "bills/CN_PAYAPPLY/FKSQ000050")["model"]["FPAYAPPLYENTRY"]
    target = make_target()
    for row in rows:  # each row pushed on its own: two payment bills for one source
        await target.client.push(
            "CN_PAYAPPLY", ["FKSQ000050"], target_form_id="AP_PAYBILL", entry_ids=[row["FEntryID"]]
        )
    doc = await target.probe(WriteItem(1, "s", None, push_request(["FKSQ000050"])))
    assert doc is not None and doc.number
    assert doc.message is not None and doc.message.startswith("2 documents found for source FKSQ000050")


async def test_push_by_ids_and_probe_by_source_id(server: Server, make_target: TargetFactory) -> None:
    [bill] = server.seed({"number": "FKSQ000060", "amount": 3})
    target = make_target()
    request = {"FormId": "CN_PAYAPPLY", "Ids": str(bill["id"]), "TargetFormId": "AP_PAYBILL"}
    [out] = await target.write([WriteItem(1, "s", None, request)])
    assert out.ok and out.doc is not None and out.doc.number
    found = await target.probe(WriteItem(1, "s", None, request))
    assert found is not None and found.number == out.doc.number


GENERIC = "BD_Supplier"


async def test_save_target_batches_through_batchsave_with_per_item_outcomes(
    server: Server, make_target: TargetFactory, recorder: MemoryCallRecorder
) -> None:
    target = make_target(
        api="Save",
        batch_size=10,
        params={"form_id": GENERIC},
        probe={"number_from": "FBillNo"},
    )
    server.admin("POST", "bills", json={"form_id": GENERIC, "bills": [{"model": {"FBillNo": "SUP-TAKEN"}}]})
    items = [
        # a bare model: sent as written, key order kept
        WriteItem(1, "a", None, {"FBillNo": "SUP-1", "FName": "甲", "FZZZ": 1, "FAAA": 2}),
        WriteItem(2, "b", None, {"FBillNo": "SUP-TAKEN", "FName": "重复"}),
        WriteItem(3, "c", None, {"FBillNo": "SUP-3", "FName": "丙"}),
    ]
    out = by_key(await target.write(items))
    assert recorder.count("BatchSave") == 1
    assert out[1].ok and out[1].doc is not None and out[1].doc.number == "SUP-1" and out[1].doc.id
    assert isinstance(out[2].error, GiveUp) and out[2].error.code == "MsgCode=11"
    assert "违反字段唯一性要求" in str(out[2].error)
    assert out[3].ok and out[3].doc is not None and out[3].doc.number == "SUP-3"
    stored = server.admin("GET", f"bills/{GENERIC}/SUP-1")["model"]
    assert [k for k in stored if k in ("FName", "FZZZ", "FAAA")] == ["FName", "FZZZ", "FAAA"]

    # the probe finds a saved record by the request key it names, and only that one
    found = await target.probe(items[0])
    assert found is not None and found.number == "SUP-1" and found.id == out[1].doc.id
    assert await target.probe(WriteItem(4, "d", None, {"FBillNo": "SUP-404"})) is None


async def test_save_target_with_model_wrapper_and_follow_ups(
    server: Server, make_target: TargetFactory
) -> None:
    target = make_target(api="save", follow_up=["Submit", "Audit"])
    request = {
        "FormId": GENERIC,
        "IsVerifyBaseDataField": "false",
        "Model": {"FBillNo": "SUP-9", "FName": "丁"},
    }
    [out] = await target.write([WriteItem(1, "a", None, request)])
    assert out.ok and out.doc is not None and out.doc.number == "SUP-9" and out.doc.message is None
    assert server.admin("GET", f"bills/{GENERIC}/SUP-9")["status"] == "C"
    # a one-bill Save's refusal is that item's own permanent error
    [dup] = await target.write([WriteItem(2, "b", None, request)])
    assert isinstance(dup.error, GiveUp) and "违反字段唯一性要求" in str(dup.error)


async def test_draft_target_keeps_drafts(server: Server, make_target: TargetFactory) -> None:
    target = make_target(api="Draft", params={"form_id": "AP_PAYBILL"}, batch_size=3)
    out = await target.write(
        [WriteItem(1, "a", None, {"FID": 0, "FPAYBILLENTRY": [{"FPAYTOTALAMOUNTFOR": 1}]})]
    )
    doc = out[0].doc
    assert doc is not None and doc.draft and doc.id and doc.number is None
    assert server.admin("GET", f"bills/AP_PAYBILL/{doc.id}")["status"] == "Z"


def test_settings_are_validated_without_showing_secrets() -> None:
    good = {
        "base_url": "http://127.0.0.1:1/k3cloud/",
        "auth_mode": "SIGN",
        "acct_id": 65,
        "username": "u",
        "app_id": "a",
        "app_secret": "s3cr3t-value",
        "max_concurrency": 2,
    }
    settings = parse_settings(good)
    assert settings.concurrency == 2 and settings.acct_id == "65" and "s3cr3t-value" not in repr(settings)
    with pytest.raises(ConnectionSettingsError) as err:
        parse_settings({**good, "auth_mode": "nope", "timout": 3, "app_secret": "s3cr3t-value"}, "kd")
    assert "auth_mode" in str(err.value) and "timout" in str(err.value)
    assert "s3cr3t-value" not in str(err.value)
    with pytest.raises(ConnectionSettingsError, match="needs: password"):
        parse_settings({**good, "auth_mode": "validate_user"})


async def test_the_scheme_side_is_checked(make_target: TargetFactory) -> None:
    with pytest.raises(ValueError, match="Push, Save, BatchSave, Draft"):
        make_target(api="View")
    with pytest.raises(ValueError, match="unknown key"):
        make_target(probe={"sourse_number_field": "X"})
    with pytest.raises(ValueError, match=r"target\.params"):
        make_target(params={"formid": "X"})
    target = make_target(follow_up=["Submit"])
    assert "Submit" in repr(target) and APP_SECRET not in repr(target)
