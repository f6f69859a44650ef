"""Bill life cycle Z/A/B/C/D, validation, drafts, View, BatchSave, ExcuteOperation, the generic store."""

from __future__ import annotations

from typing import Any

from kd_sandbox_support import Caller, status_of

FORM = "CN_PAYAPPLY"


def _model(**extra: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"FID": 0, "FDATE": "2025-02-01", "FCONTACTUNIT": {"FNumber": "VEN00001"}}
    model.update(extra)
    model["FPAYAPPLYENTRY"] = [{"FSETTLETYPEID": {"FNumber": "JSFS04_SYS"}, "FAPPLYAMOUNTFOR": 100}]
    return model


def _op(kd: Caller, op: str, numbers: list[str], form: str = FORM) -> dict[str, Any]:
    return status_of(kd.call(op, {"formid": form, "data": {"Numbers": numbers}}))


def test_full_life_cycle_and_refusals(logged_in: Caller) -> None:
    reply = logged_in.call("Save", {"formid": FORM, "data": {"Model": _model()}})
    number = reply["Result"]["Number"]
    assert reply["Result"]["ResponseStatus"]["SuccessEntitys"] == [
        {"Id": reply["Result"]["Id"], "Number": number, "DIndex": 0}
    ]
    state = lambda: logged_in.admin("GET", f"bills/{FORM}/{number}")["status"]  # noqa: E731
    assert state() == "A"
    refused = _op(logged_in, "Audit", [number])
    assert refused["IsSuccess"] is False and refused["MsgCode"] == 11
    assert _op(logged_in, "Submit", [number])["IsSuccess"] is True and state() == "B"
    assert _op(logged_in, "Delete", [number])["MsgCode"] == 11
    audit = _op(logged_in, "Audit", [number])
    assert (
        audit["IsSuccess"] is True and "审核成功" in audit["SuccessMessages"][0]["Message"] and state() == "C"
    )
    again = _op(logged_in, "Audit", [number])
    assert again["MsgCode"] == 11 and "单据已经审核" in again["Errors"][0]["Message"]
    assert _op(logged_in, "UnAudit", [number])["IsSuccess"] is True and state() == "D"
    assert _op(logged_in, "Delete", [number])["IsSuccess"] is True
    assert (
        logged_in.call("View", {"formid": FORM, "data": {"Number": number}})["Result"]["ResponseStatus"][
            "MsgCode"
        ]
        == 10
    )


def test_ids_as_comma_string_and_per_bill_dindex(logged_in: Caller) -> None:
    ids = [
        logged_in.call("Save", {"formid": FORM, "data": {"Model": _model()}})["Result"]["Id"]
        for _ in range(2)
    ]
    status = status_of(
        logged_in.call("Submit", {"formid": FORM, "data": {"Ids": f"{ids[0]},999999,{ids[1]}"}})
    )
    assert status["IsSuccess"] is False
    assert [e["DIndex"] for e in status["SuccessEntitys"]] == [0, 2]
    assert [e["DIndex"] for e in status["Errors"]] == [1]


def test_duplicate_number_is_a_validation_error(logged_in: Caller) -> None:
    logged_in.call("Save", {"formid": FORM, "data": {"Model": _model(FBillNo="FKSQ777")}})
    status = status_of(logged_in.call("Save", {"formid": FORM, "data": {"Model": _model(FBillNo="FKSQ777")}}))
    assert status["MsgCode"] == 11 and status["Errors"][0]["FieldName"] == "FBillNo"
    assert "违反字段唯一性要求" in status["Errors"][0]["Message"]


def test_paybill_save_requires_settle_type_but_draft_does_not(logged_in: Caller) -> None:
    model = {"FID": 0, "FPAYBILLENTRY": [{"FPURPOSEID": {"FNumber": "SFKYT01_SYS"}, "FPAYTOTALAMOUNTFOR": 5}]}
    saved = logged_in.call("Save", {"formid": "AP_PAYBILL", "data": {"Model": model}})["Result"]
    assert saved["Id"] == "" and saved["ResponseStatus"]["MsgCode"] == 11
    assert saved["ResponseStatus"]["Errors"][0]["FieldName"] == "FSETTLETYPEID"
    draft = logged_in.call("Draft", {"formid": "AP_PAYBILL", "data": {"Model": model}})["Result"]
    assert draft["ResponseStatus"]["IsSuccess"] is True and draft["Number"] == ""
    assert logged_in.admin("GET", f"bills/AP_PAYBILL/{draft['Id']}")["status"] == "Z"
    assert _op(logged_in, "Submit", [], "AP_PAYBILL")["MsgCode"] == 8  # neither Numbers nor Ids


def test_update_keeps_key_order_and_view_returns_the_package(logged_in: Caller) -> None:
    model = {"FID": 0, "FZ": 1, "FA": 2, "FM": 3, "FPAYAPPLYENTRY": [{"FAPPLYAMOUNTFOR": 1}]}
    fid = logged_in.call(
        "Save", {"formid": FORM, "data": {"Model": model, "NeedReturnFields": ["FBillNo", "FA"]}}
    )
    result = fid["Result"]
    assert result["NeedReturnData"] == [{"FBillNo": result["Number"], "FA": 2}]
    view = logged_in.call("View", {"formid": FORM, "data": {"Id": result["Id"]}})["Result"]["Result"]
    assert [k for k in view if k in ("FZ", "FA", "FM")] == ["FZ", "FA", "FM"]
    assert view["BillNo"] == result["Number"] and view["DocumentStatus"] == "A"
    upd = {"FID": result["Id"], "FA": 20}
    logged_in.call("Save", {"formid": FORM, "data": {"Model": upd, "NeedUpDateFields": ["FA"]}})
    view = logged_in.call("View", {"formid": FORM, "data": {"Number": result["Number"]}})["Result"]["Result"]
    assert view["FA"] == 20 and view["FZ"] == 1 and view["FPAYAPPLYENTRY"][0]["FEntryID"] > 0


def test_batch_save_succeeds_and_fails_per_package(logged_in: Caller) -> None:
    good = {
        "FID": 0,
        "FPAYBILLENTRY": [
            {"FSETTLETYPEID": {"FNumber": "JSFS04_SYS"}, "FPURPOSEID": {"FNumber": "SFKYT01_SYS"}}
        ],
    }
    bad = {"FID": 0, "FPAYBILLENTRY": [{"FPURPOSEID": {"FNumber": "SFKYT01_SYS"}}]}
    status = status_of(
        logged_in.call("BatchSave", {"formid": "AP_PAYBILL", "data": {"Model": [good, bad, good]}})
    )
    assert status["IsSuccess"] is False
    assert [e["DIndex"] for e in status["SuccessEntitys"]] == [0, 2]
    assert [e["DIndex"] for e in status["Errors"]] == [1]


def test_excute_operation_and_auto_submit_audit(logged_in: Caller) -> None:
    r = logged_in.call("Save", {"formid": FORM, "data": {"Model": _model(), "IsAutoSubmitAndAudit": "true"}})
    number = r["Result"]["Number"]
    assert logged_in.admin("GET", f"bills/{FORM}/{number}")["status"] == "C"
    body = {"formid": FORM, "opNumber": "UnAudit", "data": {"Numbers": [number]}}
    assert status_of(logged_in.call("ExcuteOperation", body))["IsSuccess"] is True
    body["opNumber"] = "Explode"
    assert status_of(logged_in.call("ExcuteOperation", body))["MsgCode"] == 4


def test_generic_forms_keep_the_same_life_cycle(logged_in: Caller) -> None:
    r = logged_in.call("Save", {"formid": "BD_Supplier", "data": {"Model": {"FName": "供应商甲"}}})["Result"]
    assert r["Number"].startswith("SUPP") and r["ResponseStatus"]["IsSuccess"] is True
    assert _op(logged_in, "Submit", [r["Number"]], "BD_Supplier")["IsSuccess"] is True
    logged_in.admin("POST", "forms", json={"form_id": "ZZ_CUSTOM"})
    rows = logged_in.call(
        "ExecuteBillQuery", {"data": {"FormId": "BD_Supplier", "FieldKeys": "FName,FDocumentStatus"}}
    )
    assert rows == [["供应商甲", "B"]]
    ok = logged_in.call("Save", {"formid": "ZZ_CUSTOM", "data": {"Model": {"FX": 1}}})
    assert ok["Result"]["ResponseStatus"]["IsSuccess"] is True
