"""Decoding every component type the sandbox emits, identically from both hosts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings, flatten_form
from ferry.connectors.dingtalk.forms import decode_table, decode_value
from ferry.connectors.dingtalk.instance import parse_time


def settings(sb: Any, style: str) -> DingTalkSettings:
    return DingTalkSettings(
        app_key=sb.config.app_key,
        app_secret=sb.config.app_secret,
        api_style=style,
        oapi_base=sb.url,
        api_base=sb.url,
    )


async def test_every_component_type_decodes(start_sandbox: Any) -> None:
    sb = start_sandbox(seed_instances=40)
    ids = [i["process_instance_id"] for i in sb.http.get("/_sandbox/instances").json()["instances"]]
    kinds: set[str] = set()
    async with DingTalkClient(settings(sb, "oapi")) as legacy, DingTalkClient(settings(sb, "v1")) as v1:
        for iid in ids[:15]:
            a = await legacy.get_instance(iid)
            b = await v1.get_instance(iid)
            kinds |= {c["component_type"] for c in a["form_component_values"]}
            fa, fb = flatten_form(a["form_component_values"]), flatten_form(b["form_component_values"])
            assert fa.by_name == fb.by_name  # same values whichever host
            f = fb
            assert isinstance(f.get("付款金额"), Decimal) and f.get("amount") == f.get("付款金额")
            assert f.get("MoneyField_198F0TWR01HC0") == f.get("付款金额")
            assert str(f.get("金蝶单据编号")).startswith("FKSQ") and f.get("kingdeeBillNo") == f.get(
                "金蝶单据编号"
            )
            assert isinstance(f.get("支付日期"), dt.date)
            assert isinstance(f.get("发票张数"), Decimal)
            assert isinstance(f.get("费用类别"), list) and all(isinstance(x, str) for x in f.get("费用类别"))
            start, end = f.get("服务期间")
            assert isinstance(start, dt.date) and start < end
            contact = f.get("经办人")
            assert contact and contact[0]["userid"] and contact[0]["name"]
            dept = f.get("费用承担部门")
            assert dept and isinstance(dept[0]["id"], int) and dept[0]["name"]
            assert f.get("联系电话").startswith("1") and f.get("收款账户")
            assert f.get("关联审批单") is None  # "null"
            attachments = f.get("附件")
            assert attachments is None or all(isinstance(x["fileSize"], int) for x in attachments)
            photos = f.get("图片")
            assert photos is None or photos[0].startswith("https://")
            assert f.get("备注") in (None, "加急")
            assert f.get("TextNote_1HVY4XZ7L2O0")  # nameless: reachable by id only
            rows = f.get("费用明细")
            assert rows and sum(r["金额（元）"] for r in rows) == f.get("付款金额")
            for row in rows:
                assert isinstance(row["数量"], Decimal)
                assert "类别" not in row or isinstance(row["类别"], list)
                assert "凭证" not in row or row["凭证"][0]["fileId"]
    assert kinds == {
        "TextField", "TextareaField", "MoneyField", "DDSelectField", "DDDateField", "RecipientAccountField",
        "NumberField", "DDMultiSelectField", "DDDateRangeField", "InnerContactField", "DepartmentField",
        "PhoneField", "TableField", "DDAttachment", "DDPhotoField", "RelateField", "TextNote",
    }  # fmt: skip


def test_decoding_quirks_from_the_reference() -> None:
    assert decode_value("TextField", "null") is None
    assert decode_value("NumberField", "1000") == Decimal("1000")
    assert decode_value("DDDateField", "2023-05-09 14:30") == dt.datetime(2023, 5, 9, 14, 30)
    assert decode_value("DDMultiSelectField", '["选项2","选项3"]') == ["选项2", "选项3"]
    assert decode_value("DDAttachment", '[{"fileId":"1","fileSize":242658}]') == [
        {"fileId": "1", "fileSize": 242658}
    ]
    # the captured TableField from the reference: cells with real arrays and a contact with extendValue
    captured = (
        '[{"rowValue":[{"label":"报销项目1","value":"请客户吃饭","key":"TextField_1DSB6LCLO08W0"},'
        '{"label":"报销金额","value":"3000","key":"NumberField_XGX5H2MEMWG0"},'
        '{"label":"报销联系人","value":"徐秀梅","key":"InnerContactField_1CFI3CIBYMXS0",'
        '"extendValue":[{"emplId":"195919104024502869","name":"徐秀梅"}]},'
        '{"label":"报销附件","value":[{"spaceId":"766340708","fileName":"run(2).sh","fileSize":1307,"fileType":"sh","fileId":"104301389804"}],"key":"DDAttachment_2XJXTI1OGEO0"}],'
        '"rowNumber":"TableField_1YRZ7MUNX4JK0_T1LQ02RX38G0"}]'
    )
    (row,) = decode_table(captured)
    assert row["报销金额"] == Decimal("3000")
    assert row["报销联系人"] == [{"userid": "195919104024502869", "name": "徐秀梅"}]
    assert row["报销附件"][0]["fileName"] == "run(2).sh"
    # an empty table that came back as its schema
    assert decode_table('[{"componentName":"TextField","props":{"label":"x"}}]') == []
    assert parse_time("2023-05-09T19:23Z") == "2023-05-09T19:23:00+08:00"
    assert parse_time("2023-05-09T19:23Z", z_is_beijing=False) == "2023-05-09T19:23:00+00:00"
    assert parse_time("2022-05-30 23:46:37") == "2022-05-30T23:46:37+08:00"
    assert parse_time("null") is None
