"""The official Python SDK (kingdee.cdp.webapi.sdk 8.2.0), unchanged, against the sandbox in signed-header mode."""

from __future__ import annotations

import json
from pathlib import Path

from k3cloud_webapi_sdk.main import K3CloudApiSdk
from kd_client_support import ACCT, APP_ID, APP_SECRET, USER, Server


def _sdk_from_conf_ini(server: Server, tmp_path: Path) -> K3CloudApiSdk:
    conf = tmp_path / "conf.ini"
    conf.write_text(
        "[config]\n"
        f"x-kdapi-serverurl = {server.base_url}\n"
        f"x-kdapi-acctid = {ACCT}\n"
        f"x-kdapi-username = {USER}\n"
        f"x-kdapi-appid = {APP_ID}\n"
        f"x-kdapi-appsec = {APP_SECRET}\n"
        "x-kdapi-lcid = 2052\n"
        "x-kdapi-orgnum = 100\n",
        encoding="utf-8",
    )
    sdk = K3CloudApiSdk(server.base_url)
    sdk.Init(config_path=str(conf), config_node="config")
    return sdk


def test_sdk_save_submit_audit_push_and_query(server: Server, tmp_path: Path) -> None:
    sdk = _sdk_from_conf_ini(server, tmp_path)
    model = {
        "FID": 0,
        "FBillTypeID": {"FNUMBER": "FKSQLX01_SYS"},
        "FDATE": "2025-06-01",
        "FCONTACTUNITTYPE": "BD_Supplier",
        "FCONTACTUNIT": {"FNumber": "VEN00001"},
        "FRECTUNITTYPE": "BD_Supplier",
        "FRECTUNIT": {"FNumber": "VEN00001"},
        "FCURRENCYID": {"FNumber": "PRE001"},
        "FPAYAPPLYENTRY": [
            {
                "FSETTLETYPEID": {"FNumber": "JSFS04_SYS"},
                "FPAYPURPOSEID": {"FNumber": "SFKYT01_SYS"},
                "FAPPLYAMOUNTFOR": 888.88,
            }
        ],
    }
    saved = json.loads(sdk.Save("CN_PAYAPPLY", {"Model": model}))["Result"]
    assert saved["ResponseStatus"]["IsSuccess"] is True
    number = saved["Number"]
    submitted = json.loads(sdk.Submit("CN_PAYAPPLY", {"Numbers": [number]}))
    assert submitted["Result"]["ResponseStatus"]["IsSuccess"] is True
    audited = json.loads(sdk.Audit("CN_PAYAPPLY", {"Ids": str(saved["Id"])}))
    assert audited["Result"]["ResponseStatus"]["IsSuccess"] is True
    push = json.loads(
        sdk.Push(
            "CN_PAYAPPLY",
            {
                "Numbers": [number],
                "TargetFormId": "AP_PAYBILL",
                "IsEnableDefaultRule": "true",
                "IsDraftWhenSaveFail": "false",
            },
        )
    )
    target = push["Result"]["ResponseStatus"]["SuccessEntitys"][0]
    assert push["Result"]["ConvertResponseStatus"]["SuccessEntitys"][0]["Number"] == number
    rows = json.loads(
        sdk.ExecuteBillQuery(
            {
                "FormId": "AP_PAYBILL",
                "FieldKeys": "FID,FBillNo,FDocumentStatus,FPAYBILLSRCENTRY_FSRCBILLNO,FREALPAYAMOUNTFOR",
                "FilterString": f"FPAYBILLSRCENTRY_FSRCBILLNO='{number}'",
                "OrderString": "FID ASC",
            }
        )
    )
    assert rows == [[target["Id"], target["Number"], "A", number, 888.88]]
    as_objects = json.loads(
        sdk.BillQuery(
            {"FormId": "AP_PAYBILL", "FieldKeys": "FBillNo", "FilterString": f"FBillNo='{target['Number']}'"}
        )
    )
    assert as_objects == [{"FBillNo": target["Number"]}]
    # one signed-header verification opened one session; the SDK replayed its cookie for every later call
    stats = server.admin("GET", "stats")
    assert stats["logins"] == {"signed_headers": 1}
    assert stats["calls"] == {
        "Save": 1,
        "Submit": 1,
        "Audit": 1,
        "Push": 1,
        "ExecuteBillQuery": 1,
        "BillQuery": 1,
    }


def test_sdk_init_config_with_parameters_and_errors(server: Server) -> None:
    sdk = K3CloudApiSdk(server.base_url)
    sdk.InitConfig(
        acct_id=ACCT,
        user_name=USER,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        server_url=server.base_url,
        lcid=2052,
        org_num=0,
    )
    reply = json.loads(sdk.ExecuteBillQuery({"FormId": "CN_PAYAPPLY", "FieldKeys": "FNoSuchField"}))
    status = reply[0][0]["Result"]["ResponseStatus"]
    assert status["MsgCode"] == 9 and status["IsSuccess"] is False
    view = json.loads(sdk.View("CN_PAYAPPLY", {"Number": "FKSQ404"}))
    assert view["Result"]["ResponseStatus"]["IsSuccess"] is False
