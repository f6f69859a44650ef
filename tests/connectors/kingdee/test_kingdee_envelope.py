"""Lenient reading of replies: missing keys, string booleans, response_error bodies, the [[...]] wrap."""

from __future__ import annotations

import json

from ferry.connectors.kingdee.envelope import ServerException, find_status, parse_body, parse_status


def test_older_servers_without_msgcode_or_arrays() -> None:
    payload = parse_body('{"Result":{"ResponseStatus":{"IsSuccess":true},"Id":100040,"Number":"CGRK00016"}}')
    status = find_status(payload)
    assert status is not None and status.is_success and status.msg_code is None
    assert status.errors == () and status.success_entities == ()


def test_string_booleans_and_string_codes() -> None:
    status = parse_status(
        {
            "ErrorCode": "500",
            "IsSuccess": "false",
            "MsgCode": "11",
            "Errors": [{"FieldName": "", "Message": "bad", "DIndex": "2"}],
        }
    )
    assert (
        status is not None and not status.is_success and status.msg_code == 11 and status.error_code == "500"
    )
    assert status.errors[0].index == 2 and status.errors[0].field_name is None


def test_missing_issuccess_is_judged_by_errors() -> None:
    status = parse_status({"Errors": [{"Message": "会话信息已丢失，请重新登录"}]})
    assert status is not None and not status.is_success and status.session_lost


def test_response_error_body() -> None:
    body = 'response_error:{"Message":"未将对象引用设置到对象的实例。","InnerExWrapper":null,"InnerException":null}'
    parsed = parse_body(body)
    assert isinstance(parsed, ServerException) and parsed.message == "未将对象引用设置到对象的实例。"
    assert isinstance(parse_body("response_error: plain text"), ServerException)


def test_execute_bill_query_error_wrap_and_plain_rows() -> None:
    wrapped = [
        [
            {
                "Result": {
                    "ResponseStatus": {
                        "ErrorCode": 500,
                        "IsSuccess": False,
                        "MsgCode": 9,
                        "Errors": [{"Message": "元数据中标识为FX的字段不存在"}],
                    }
                }
            }
        ]
    ]
    status = find_status(json.loads(json.dumps(wrapped)))
    assert status is not None and status.msg_code == 9
    assert find_status([["FKSQ000001", "C"]]) is None
    assert find_status([[1]]) is None and find_status([{"FBillNo": "x"}]) is None and find_status([]) is None


def test_convert_response_status_as_object_or_list() -> None:
    item = {"IsSuccess": False, "Errors": [{"Message": "a", "DIndex": 1}], "MsgCode": 11}
    as_list = {
        "Result": {"ConvertResponseStatus": [item, {"IsSuccess": True, "SuccessEntitys": [{"Id": 1}]}]}
    }
    merged = find_status(as_list, "ConvertResponseStatus")
    assert merged is not None and not merged.is_success and merged.msg_code == 11
    assert len(merged.success_entities) == 1 and merged.errors[0].index == 1
