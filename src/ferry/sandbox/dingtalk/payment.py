"""The payment-request (付款申请) template: its components and plausible values.

Component ids, names and encodings follow the reference's component table (§3.2) and its reconstructed
付款申请 example (§3.4). Component ids belong to the template, so they are the same on every instance.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ferry.sandbox.dingtalk.config import BEIJING
from ferry.sandbox.dingtalk.store import Component

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_BIG_UNITS = ("", "万", "亿", "万亿")


def money_upper(amount: Decimal | str) -> str:
    """Chinese capital amount (大写金额) as DingTalk's MoneyField writes it: ``12800.50`` → 壹万贰仟捌佰元伍角."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value < 0:
        return "负" + money_upper(-value)
    yuan = int(value)
    jiao = int(value * 10) % 10
    fen = int(value * 100) % 10
    words = ""
    if yuan:
        groups: list[int] = []
        n = yuan
        while n:
            groups.append(n % 10000)
            n //= 10000
        need_zero = False
        for gi in range(len(groups) - 1, -1, -1):
            g = groups[gi]
            if g == 0:
                need_zero = bool(words)
                continue
            if words and (need_zero or g < 1000):
                words += "零"
            need_zero = False
            part = ""
            zero = False
            for pos in range(3, -1, -1):
                d = g // 10**pos % 10
                if d == 0:
                    zero = bool(part)
                    continue
                if zero:
                    part += "零"
                    zero = False
                part += _DIGITS[d] + _SMALL_UNITS[pos]
            words += part + _BIG_UNITS[gi]
        words += "元"
    if jiao == 0 and fen == 0:
        return (words or "零元") + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif words:
        words += "零"
    if fen:
        words += _DIGITS[fen] + "分"
    return words


# (component_type, id, name, bizAlias) of the template, in form order
TEMPLATE: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("TextField", "TextField_KDBILLNO1A2B0", "金蝶单据编号", "kingdeeBillNo"),
    ("TextareaField", "TextareaField_1R5QTEF2J2SG0", "付款事由", "reason"),
    ("MoneyField", "MoneyField_198F0TWR01HC0", "付款金额", "amount"),
    ("DDSelectField", "DDSelectField_DUADVZGJ61S0", "付款方式", "payMethod"),
    ("DDDateField", "DDDateField_1SAHQF4GZ9XC0", "支付日期", "payDate"),
    ("TextField", "TextField_FSPC9O46F080", "支付对象", "payee"),
    ("TextField", "TextField_W5G7KPJ38EO0", "开户行", None),
    ("TextField", "TextField_WNY7YCK27KW0", "银行账户", None),
    ("RecipientAccountField", "RecipientAccountField_1NLQ5J7ZS0W0", "收款账户", None),
    ("NumberField", "NumberField_1K3W9BFT6WG0", "发票张数", None),
    ("DDMultiSelectField", "DDMultiSelectField_2B7WQ1MZQ9S0", "费用类别", None),
    ("DDDateRangeField", "DDDateRangeField_1ZQ8M0VQ3M80", "服务期间", None),
    ("InnerContactField", "InnerContactField_1CFI3CIBYMXS0", "经办人", None),
    ("DepartmentField", "DepartmentField_3G1O6X9LZ8W0", "费用承担部门", None),
    ("PhoneField", "PhoneField_16QK4YV3J5XC0", "联系电话", None),
    ("TableField", "TableField_1BDACPXDIFEO0", "费用明细", "details"),
    ("DDAttachment", "DDAttachment_D37VXHQUCG00", "附件", None),
    ("DDPhotoField", "DDPhotoField_1D89U393Z9LS0", "图片", None),
    ("RelateField", "RelateField_0W4E1YQ8F6O0", "关联审批单", None),
    ("TextField", "TextField_1QX2REMARK0", "备注", None),
    ("TextNote", "TextNote_1HVY4XZ7L2O0", None, None),
)

_PAYEES = (
    ("杭州云栈科技有限公司", "招商银行杭州分行", "571908765410201"),
    ("上海启明信息技术有限公司", "中国工商银行上海张江支行", "1001234509876543210"),
    ("北京智联物流有限公司", "中国建设银行北京朝阳支行", "11050188360000001234"),
    ("深圳华信电子有限公司", "平安银行深圳分行", "15000098765432"),
    ("苏州东方印务有限公司", "交通银行苏州分行", "325605000018010123456"),
)
_REASONS = ("服务器租赁费", "办公用品采购", "物流运输费", "印刷制作费", "技术服务费", "设备维修费")
_ITEMS = ("服务器租赁", "带宽费用", "办公耗材", "运输费", "印刷费", "维修配件", "技术支持")
_CATEGORIES = ("办公费", "差旅费", "运输费", "技术服务费", "租赁费")
_DEPTS = (
    (582976341, "财务中心-核算部"),
    (62147607, "跨境电商部"),
    (410288915, "技术部"),
    (391200871, "行政部"),
)
_PEOPLE = (
    ("0123456789012345", "张三"),
    ("205937523932471911", "李四"),
    ("14256020681178090", "王五"),
    ("195919104024502869", "徐秀梅"),
    ("1303095609748656", "赵六"),
    ("0947352186201837", "邬湘东"),
)
_METHODS = (("银行转账", "option_0"), ("支票", "option_1"), ("现金", "option_2"))


def people() -> tuple[tuple[str, str], ...]:
    """(userid, name) pairs of the seeded organisation."""
    return _PEOPLE


def departments() -> tuple[tuple[int, str], ...]:
    """(dept id, name) pairs of the seeded organisation."""
    return _DEPTS


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _day(ms: int, plus_days: int = 0) -> str:
    return (dt.datetime.fromtimestamp(ms / 1000, BEIJING) + dt.timedelta(days=plus_days)).strftime("%Y-%m-%d")


def _table_rows(rng: random.Random, total: Decimal, table_id: str) -> list[dict[str, Any]]:
    """Detail rows (TableField ``rowValue``/``rowNumber``) whose amounts add up to ``total``."""
    count = rng.randint(1, 3)
    cents = int(total * 100)
    cuts = sorted(rng.sample(range(1, cents), count - 1)) if count > 1 and cents > count else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, cents], strict=True)]
    rows = []
    for n, part in enumerate(parts):
        amount = Decimal(part) / 100
        cells: list[dict[str, Any]] = [
            {"label": "费用项目", "value": rng.choice(_ITEMS), "key": "TextField_ONWDW0U26YO0"},
            {"label": "金额（元）", "value": f"{amount:.2f}", "key": "MoneyField_1S85G4YLMM5C0"},
            {"label": "数量", "value": str(rng.randint(1, 12)), "key": "NumberField_XGX5H2MEMWG0"},
        ]
        # inside rows, multi-value cells are real JSON arrays, not strings (reference §3.2)
        if rng.random() < 0.5:
            label = rng.choice(_CATEGORIES)
            cells.append(
                {
                    "label": "类别",
                    "value": [label],
                    "key": "DDMultiSelectField_1T0ROWCAT00",
                    "extendValue": [{"label": label, "value": label, "key": "option_0"}],
                }
            )
        if rng.random() < 0.3:
            cells.append(
                {
                    "label": "凭证",
                    "value": [_attachment(rng, "pdf")],
                    "key": "DDAttachment_2XJXTI1OGEO0",
                }
            )
        rows.append({"rowValue": cells, "rowNumber": f"{table_id}_{rng.getrandbits(40):010X}{n}"})
    return rows


def _attachment(rng: random.Random, ext: str) -> dict[str, Any]:
    return {
        "spaceId": str(rng.randrange(100000000, 999999999)),
        "fileName": f"发票{rng.randint(1, 99)}.{ext}",
        "fileSize": rng.randrange(20000, 900000),
        "fileType": ext,
        "fileId": str(rng.randrange(10**10, 10**11)),
    }


def build_form(
    rng: random.Random,
    create_ms: int,
    seq: int,
    originator: tuple[str, str],
    dept: tuple[int, str],
    overrides: dict[str, Any] | None = None,
) -> list[Component]:
    """A filled-in 付款申请 form; ``overrides`` maps component names (or bizAlias) to new values."""
    overrides = dict(overrides or {})
    total = Decimal(rng.randrange(5000, 5000000)) / 100
    amount_override = overrides.get("付款金额", overrides.get("amount"))
    if amount_override is not None:
        total = Decimal(str(amount_override))
    payee, bank, account = rng.choice(_PAYEES)
    method, method_key = rng.choice(_METHODS)
    handler = rng.choice(_PEOPLE)
    cats = rng.sample(_CATEGORIES, rng.randint(1, 2))
    values: dict[str, tuple[str | None, str | None]] = {
        "金蝶单据编号": (f"FKSQ{_day(create_ms).replace('-', '')}{seq:04d}", None),
        "付款事由": (f"支付{rng.choice(_REASONS)}\n请于{_day(create_ms, 3)}前付款", None),
        "付款金额": (f"{total:.2f}", _dumps({"upper": money_upper(total), "componentName": "MoneyField"})),
        "付款方式": (method, _dumps({"label": method, "key": method_key})),
        "支付日期": (_day(create_ms, rng.randint(1, 10)), None),
        "支付对象": (payee, None),
        "开户行": (bank, None),
        "银行账户": (account, None),
        "收款账户": (
            originator[1],
            _dumps(
                {
                    "identityType": "DINGTALK_ACCOUNT",
                    "name": originator[1],
                    "id": "1",
                    "jobNumber": "",
                    "isSelf": "1",
                }
            ),
        ),
        "发票张数": (str(rng.randint(0, 8)), None),
        "费用类别": (
            _dumps(cats),
            _dumps([{"label": c, "value": c, "key": f"option_{_CATEGORIES.index(c)}"} for c in cats]),
        ),
        "服务期间": (_dumps([_day(create_ms, -30), _day(create_ms, -1)]), None),
        "经办人": (
            handler[1],
            _dumps([{"emplId": handler[0], "name": handler[1], "avatar": ""}]),
        ),
        "费用承担部门": (dept[1], _dumps([{"number": 0, "name": dept[1], "id": dept[0]}])),
        "联系电话": (
            f"1{rng.randint(3, 9)}{rng.randrange(10**8, 10**9)}",
            _dumps({"mode": "phone", "countryCode": "+86", "flag": "C"}),
        ),
        "费用明细": (
            _dumps(_table_rows(rng, total, "TableField_1BDACPXDIFEO0")),
            _dumps({"statValue": [], "componentName": "TableField"}),
        ),
        "附件": (
            _dumps([_attachment(rng, "pdf") for _ in range(rng.randint(1, 2))])
            if rng.random() < 0.7
            else "null",
            None,
        ),
        "图片": (
            _dumps([f"https://static.dingtalk.com/media/lALP{rng.getrandbits(48):012x}.jpg"])
            if rng.random() < 0.3
            else "null",
            None,
        ),
        "关联审批单": ("null", None),
        # empty optional fields come back as the string "null" (reference §3.2)
        "备注": ("null" if rng.random() < 0.6 else "加急", None),
    }
    if amount_override is not None and "费用明细" not in overrides:
        row = [
            {
                "rowValue": [
                    {"label": "费用项目", "value": "付款", "key": "TextField_ONWDW0U26YO0"},
                    {"label": "金额（元）", "value": f"{total:.2f}", "key": "MoneyField_1S85G4YLMM5C0"},
                ],
                "rowNumber": "TableField_1BDACPXDIFEO0_1",
            }
        ]
        values["费用明细"] = (_dumps(row), values["费用明细"][1])
    form: list[Component] = []
    for ctype, cid, name, alias in TEMPLATE:
        if name is None:
            form.append(Component(ctype, None, "付款前请核对收款账户与金蝶单据编号", id=cid))
            continue
        value, ext = values[name]
        given = overrides.get(name, overrides.get(alias) if alias else None)
        if given is not None:
            value = given if isinstance(given, str) else _dumps(given)
            if ctype == "MoneyField":
                ext = _dumps({"upper": money_upper(value), "componentName": "MoneyField"})
        form.append(Component(ctype, name, value, id=cid, ext_value=ext, biz_alias=alias))
    return form
