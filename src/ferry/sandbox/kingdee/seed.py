"""Seeded documents: audited payment requests (付款申请单, ``CN_PAYAPPLY``) ready to be pushed.

Numbers follow the real default coding rule ``FKSQ000001``...; suppliers, settle types and purposes are
standard Kingdee preset numbers (``JSFS04_SYS`` 电汇, ``SFKYT01_SYS`` 采购付款).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from typing import Any

from ferry.sandbox.kingdee.bills import CN_PAYAPPLY, Bill, BillStore, now_text

SUPPLIERS = ("VEN00001", "VEN00002", "VEN00003", "VEN00004", "VEN00005", "VEN00006")
SETTLE_TYPES = ("JSFS04_SYS", "JSFS01_SYS", "JSFS02_SYS")
BANKS = ("招商银行深圳分行", "中国工商银行上海分行", "中国建设银行北京分行")

#: marker for "leave the settle type out" (the case where Push can only keep a draft)
NO_SETTLE_TYPE = None


def payment_request(
    store: BillStore,
    rng: random.Random,
    *,
    number: str | None = None,
    amount: float | None = None,
    amounts: Sequence[float] | None = None,
    status: str = "C",
    settle_type: str | None = "JSFS04_SYS",
    supplier: str | None = None,
    purpose: str = "SFKYT01_SYS",
    date: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Bill:
    """Create one CN_PAYAPPLY bill straight into the store (no API call) and return it.

    ``amounts`` gives one entry row per amount; otherwise one row of ``amount`` (random if absent).
    ``settle_type=None`` leaves ``FSETTLETYPEID`` out of every row.
    """
    if status not in ("Z", "A", "B", "C", "D"):
        raise ValueError("status must be one of Z, A, B, C, D")
    if amounts is None:
        amounts = [amount if amount is not None else round(rng.uniform(1000, 100000), 2)]
    supplier = supplier or rng.choice(SUPPLIERS)
    day = date or (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 300))).isoformat() + "T00:00:00"
    rows: list[dict[str, Any]] = []
    for i, value in enumerate(amounts, start=1):
        row: dict[str, Any] = {}
        if settle_type is not None:
            row["FSETTLETYPEID"] = {"FNumber": settle_type}
        row["FPAYPURPOSEID"] = {"FNumber": purpose}
        row["FENDDATE"] = day
        row["FEXPECTPAYDATE"] = day
        row["FAPPLYAMOUNTFOR"] = round(float(value), 2)
        row["FPAYAMOUNTFOR"] = round(float(value), 2)
        row["FEACHBANKACCOUNT"] = f"6222{rng.randrange(10**11, 10**12)}"
        row["FEACHCCOUNTNAME"] = f"供应商{supplier}"
        row["FEACHBANKNAME"] = rng.choice(BANKS)
        row["FDescription"] = f"付款申请第{i}行"
        rows.append(row)
    total = round(sum(float(a) for a in amounts), 2)
    model: dict[str, Any] = {
        "FBillTypeID": {"FNUMBER": "FKSQLX01_SYS"},
        "FDATE": day,
        "FCONTACTUNITTYPE": "BD_Supplier",
        "FCONTACTUNIT": {"FNumber": supplier},
        "FRECTUNITTYPE": "BD_Supplier",
        "FRECTUNIT": {"FNumber": supplier},
        "FCURRENCYID": {"FNumber": "PRE001"},
        "FPAYORGID": {"FNumber": "100"},
        "FSETTLEORGID": {"FNumber": "100"},
        "FAPPLYORGID": {"FNumber": "100"},
        "FSETTLECUR": {"FNumber": "PRE001"},
        "FCANCELSTATUS": "A",
        "FAPPLYAMOUNTFOR_H": total,
        "FPAYAMOUNTFOR_H": total,
        "FREMARK": "sandbox seed",
    }
    for key, value in (fields or {}).items():
        model[key] = value
    model["FPAYAPPLYENTRY"] = rows
    stamp = now_text()
    bill = Bill(
        CN_PAYAPPLY.form_id,
        0,
        number or "",
        status,
        model,
        stamp,
        stamp,
        approved=stamp if status == "C" else None,
    )
    with store.lock:
        if number and store.get(CN_PAYAPPLY.form_id, number=number) is not None:
            raise ValueError(f"bill number {number} already exists")
        return store.add_seeded(bill)


def seed_payment_requests(store: BillStore, count: int, rng: random.Random) -> list[Bill]:
    """``count`` audited payment requests with random suppliers and amounts; about one in five has two rows."""
    out = []
    for _ in range(count):
        if rng.random() < 0.2:
            amounts = [round(rng.uniform(500, 50000), 2) for _ in range(2)]
            out.append(payment_request(store, rng, amounts=amounts, settle_type=rng.choice(SETTLE_TYPES)))
        else:
            out.append(payment_request(store, rng, settle_type=rng.choice(SETTLE_TYPES)))
    return out


__all__ = ["NO_SETTLE_TYPE", "payment_request", "seed_payment_requests"]
