"""The three request envelopes, data as object or string, case-insensitive names, legacy reply style."""

from __future__ import annotations

import json

from kd_sandbox_support import DYNAMIC, Caller, status_of

MODEL = {"FID": 0, "FPAYAPPLYENTRY": [{"FSETTLETYPEID": {"FNumber": "JSFS04_SYS"}, "FAPPLYAMOUNTFOR": 12.5}]}


def _number(reply: dict) -> str:
    assert reply["Result"]["ResponseStatus"]["IsSuccess"] is True, reply
    return str(reply["Result"]["Number"])


def test_named_keys_with_data_object_and_data_string(logged_in: Caller) -> None:
    first = _number(logged_in.call("Save", {"formid": "CN_PAYAPPLY", "data": {"Model": MODEL}}))
    second = _number(logged_in.call("Save", {"FormId": "CN_PAYAPPLY", "data": json.dumps({"Model": MODEL})}))
    assert first == "FKSQ000001" and second == "FKSQ000002"


def test_parameters_array_parameters_string_and_bare_array(logged_in: Caller) -> None:
    data = json.dumps({"Model": MODEL})
    java_sdk = {"parameters": ["CN_PAYAPPLY", data]}
    legacy_dll = {
        "format": 1,
        "useragent": "ApiClient",
        "rid": "1",
        "parameters": json.dumps(["CN_PAYAPPLY", data]),
        "timestamp": "2025-01-01",
        "v": "1.0",
    }
    bare = ["CN_PAYAPPLY", data]
    numbers = [_number(logged_in.call("Save", body)) for body in (java_sdk, legacy_dll, bare)]
    assert numbers == ["FKSQ000001", "FKSQ000002", "FKSQ000003"]
    rows = logged_in.call(
        "ExecuteBillQuery", {"parameters": [json.dumps({"FormId": "CN_PAYAPPLY", "FieldKeys": "FBillNo"})]}
    )
    assert rows == [["FKSQ000001"], ["FKSQ000002"], ["FKSQ000003"]]
    rows = logged_in.call(
        "ExecuteBillQuery", [json.dumps({"FormId": "CN_PAYAPPLY", "FieldKeys": "FBillNo", "Limit": 1})]
    )
    assert rows == [["FKSQ000001"]]


def test_operation_names_and_base_path_are_case_insensitive(logged_in: Caller) -> None:
    assert (
        _number(logged_in.call("save", {"formid": "cn_payapply", "data": {"Model": MODEL}})) == "FKSQ000001"
    )
    assert logged_in.call(
        "EXECUTEBILLQUERY", {"data": {"FormId": "CN_PAYAPPLY", "FieldKeys": "FBillNo"}}
    ) == [["FKSQ000001"]]
    r = logged_in.http.post(
        logged_in.url + f"/K3Cloud/{DYNAMIC.lower()}.BillQuery.common.kdsvc",
        json={"data": {"FormId": "CN_PAYAPPLY", "FieldKeys": "FBillNo"}},
        headers={"kdservice-sessionid": logged_in.sid or ""},
    )
    assert r.json() == [{"FBillNo": "FKSQ000001"}]


def test_unknown_service_is_http_404(logged_in: Caller) -> None:
    assert logged_in.post(DYNAMIC, "NoSuchOp", {}).status_code == 404
    assert logged_in.http.post(logged_in.url + "/k3cloud/whatever").status_code == 404


def test_bad_json_and_bad_data_are_parameter_errors(logged_in: Caller) -> None:
    r = logged_in.http.post(
        logged_in.base + f"{DYNAMIC}.Save.common.kdsvc",
        content=b"{not json",
        headers={"kdservice-sessionid": logged_in.sid or ""},
    )
    assert status_of(r.json())["MsgCode"] == 8
    assert status_of(logged_in.call("Save", {"formid": "CN_PAYAPPLY", "data": "{oops"}))["MsgCode"] == 8


def test_unknown_form_is_msgcode_4_with_the_real_text(logged_in: Caller) -> None:
    status = status_of(logged_in.call("Save", {"formid": "NO_SUCH_FORM", "data": {"Model": {}}}))
    assert status["MsgCode"] == 4 and "标识为“NO_SUCH_FORM”的业务对象不存在" in status["Errors"][0]["Message"]


def test_legacy_style_omits_msgcode_and_empty_arrays(logged_in: Caller) -> None:
    logged_in.admin("PUT", "config", json={"envelope_style": "legacy"})
    ok = logged_in.call("Save", {"formid": "CN_PAYAPPLY", "data": {"Model": MODEL}})["Result"][
        "ResponseStatus"
    ]
    assert ok["IsSuccess"] == "true" and "MsgCode" not in ok and "Errors" not in ok
    bad = status_of(logged_in.call("Audit", {"formid": "CN_PAYAPPLY", "data": {"Numbers": ["FKSQ000001"]}}))
    assert bad["IsSuccess"] == "false" and "MsgCode" not in bad and bad["Errors"]
