"""Push CN_PAYAPPLY → AP_PAYBILL: audited sources only, links, pushed amounts, drafts, batches by DIndex."""

from __future__ import annotations

from typing import Any

from kd_sandbox_support import Caller

PUSH = {"TargetFormId": "AP_PAYBILL", "IsEnableDefaultRule": "true"}


def _seed(kd: Caller, *bills: dict[str, Any]) -> list[dict[str, Any]]:
    return list(kd.admin("POST", "bills", json={"bills": list(bills)})["bills"])


def _push(kd: Caller, numbers: list[str], **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = kd.call(
        "Push", {"formid": "CN_PAYAPPLY", "data": {"Numbers": numbers, **PUSH, **extra}}
    )["Result"]
    return result


def test_push_creates_a_linked_paybill_with_the_source_amount(logged_in: Caller) -> None:
    _seed(logged_in, {"number": "FKSQ000123", "amount": 1500.5, "supplier": "VEN00009"})
    result = _push(logged_in, ["FKSQ000123"])
    status, convert = result["ResponseStatus"], result["ConvertResponseStatus"]
    assert status["IsSuccess"] is True and convert["IsSuccess"] is True
    target = status["SuccessEntitys"][0]
    assert target["Number"].startswith("FKD") and target["DIndex"] == 0
    assert convert["SuccessEntitys"][0]["Number"] == "FKSQ000123"
    bill = logged_in.admin("GET", f"bills/AP_PAYBILL/{target['Number']}")
    assert bill["status"] == "A" and bill["sources"] == ["FKSQ000123"]
    src = bill["model"]["FPAYBILLSRCENTRY"][0]
    assert src["FSRCBILLNO"] == "FKSQ000123" and src["FSOURCETYPE"] == "CN_PAYAPPLY"
    assert bill["model"]["FPAYBILLENTRY"][0]["FPAYTOTALAMOUNTFOR"] == 1500.5
    assert bill["model"]["FCONTACTUNIT"] == {"FNumber": "VEN00009"}
    assert logged_in.admin("GET", "paybills/count", params={"source": "FKSQ000123"})["counts"] == {
        "FKSQ000123": 1
    }
    assert logged_in.admin("GET", "bills/CN_PAYAPPLY/FKSQ000123")["pushed_amount"] == 1500.5


def test_batch_push_reports_each_bill_by_dindex(logged_in: Caller) -> None:
    _seed(
        logged_in,
        {"number": "FKSQ000001", "amount": 100},
        {"number": "FKSQ000002", "amount": 200, "status": "B"},
        {"number": "FKSQ000003", "amount": 300, "missing_settle_type": True},
    )
    result = _push(
        logged_in, ["FKSQ000001", "FKSQ000002", "FKSQ404", "FKSQ000003"], IsDraftWhenSaveFail="true"
    )
    status, convert = result["ResponseStatus"], result["ConvertResponseStatus"]
    assert status["IsSuccess"] is False and status["ErrorCode"] == 500
    by_index = {e["DIndex"]: e for e in status["SuccessEntitys"]}
    assert by_index[0]["Number"].startswith("FKD")
    assert by_index[3]["Number"] == "" and by_index[3]["Id"] > 0  # the draft: exists, no number
    errors = {e["DIndex"]: e["Message"] for e in status["Errors"]}
    assert "未审核" in errors[1] and "未找到" in errors[2] and "结算方式" in errors[3]
    assert any("已暂存" in m["Message"] and m["DIndex"] == 3 for m in status["SuccessMessages"])
    assert [e["DIndex"] for e in convert["SuccessEntitys"]] == [0, 3]
    assert sorted(e["DIndex"] for e in convert["Errors"]) == [1, 2]
    draft = logged_in.admin("GET", f"bills/AP_PAYBILL/{by_index[3]['Id']}")
    assert draft["status"] == "Z" and draft["number"] == ""
    counts = logged_in.admin(
        "GET", "paybills/count", params={"source": ["FKSQ000001", "FKSQ000002", "FKSQ000003"]}
    )
    assert counts["counts"] == {"FKSQ000001": 1, "FKSQ000002": 0, "FKSQ000003": 1}


def test_without_draft_flag_a_failed_save_creates_nothing(logged_in: Caller) -> None:
    _seed(logged_in, {"number": "FKSQ000050", "amount": 10, "missing_settle_type": True})
    status = _push(logged_in, ["FKSQ000050"], IsDraftWhenSaveFail=False)["ResponseStatus"]
    assert status["IsSuccess"] is False and status["SuccessEntitys"] == [] and status["MsgCode"] == 11
    assert logged_in.admin("GET", "paybills/count", params={"source": "FKSQ000050"})["total"] == 0
    # and the source can still be pushed once fixed (nothing was linked)
    assert logged_in.admin("GET", "bills/CN_PAYAPPLY/FKSQ000050")["pushed_amount"] == 0


def test_a_fully_pushed_bill_cannot_be_pushed_again(logged_in: Caller) -> None:
    _seed(logged_in, {"number": "FKSQ000007", "amounts": [40, 60]})
    first = _push(logged_in, ["FKSQ000007"])["ResponseStatus"]
    assert first["IsSuccess"] is True
    second = _push(logged_in, ["FKSQ000007"])["ResponseStatus"]
    assert second["IsSuccess"] is False and second["MsgCode"] == 11
    assert (
        "不能重复下推" in second["Errors"][0]["Message"] and "关联金额已满" in second["Errors"][0]["Message"]
    )
    assert logged_in.admin("GET", "paybills/count", params={"source": "FKSQ000007"})["total"] == 1


def test_deleting_the_target_releases_the_source(logged_in: Caller) -> None:
    _seed(logged_in, {"number": "FKSQ000008", "amount": 80})
    target = _push(logged_in, ["FKSQ000008"])["ResponseStatus"]["SuccessEntitys"][0]["Number"]
    assert (
        logged_in.call("UnAudit", {"formid": "CN_PAYAPPLY", "data": {"Numbers": ["FKSQ000008"]}})["Result"][
            "ResponseStatus"
        ]["MsgCode"]
        == 11
    )  # a downstream bill exists
    logged_in.call("Delete", {"formid": "AP_PAYBILL", "data": {"Numbers": [target]}})
    assert _push(logged_in, ["FKSQ000008"])["ResponseStatus"]["IsSuccess"] is True


def test_push_by_ids_and_rule_checks(logged_in: Caller) -> None:
    seeded = _seed(logged_in, {"number": "FKSQ000009", "amount": 9})
    by_ids = logged_in.call(
        "Push",
        {"formid": "CN_PAYAPPLY", "data": {"Ids": str(seeded[0]["id"]), "RuleId": "CN_PAYAPPLYTOPAYBILL"}},
    )
    assert by_ids["Result"]["ResponseStatus"]["IsSuccess"] is True
    no_rule = logged_in.call("Push", {"formid": "CN_PAYAPPLY", "data": {"Numbers": ["FKSQ000009"]}})
    assert no_rule["Result"]["ResponseStatus"]["MsgCode"] == 8
    bad_rule = logged_in.call(
        "Push", {"formid": "CN_PAYAPPLY", "data": {"Numbers": ["FKSQ000009"], "RuleId": "NOPE"}}
    )
    assert "转换规则" in bad_rule["Result"]["ResponseStatus"]["Errors"][0]["Message"]
