"""Linked sandboxes: audited Kingdee payment requests and the DingTalk approvals that name them.

The flagship flow starts with a payment request (付款申请单, ``CN_PAYAPPLY``) made and audited in
Kingdee, sent to DingTalk for approval with its bill number (金蝶单据编号) on the form. Seeding
creates both sides through each sandbox's admin API, so it works the same in-process (``ferry demo``)
and against ``ferry sandbox both``. The plan says what each instance is for, so a run can be checked
against the sandboxes' own state afterwards.

Part of the sandbox package: it talks to the sandboxes over HTTP and imports nothing else of Ferry's.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import httpx

Kind = Literal[
    "approved",
    "refused",
    "revoked",
    "canceled",
    "running",
    "late",
    "no_number",
    "unknown_bill",
    "mismatch",
    "draft",
    "duplicate",
    "outlier",
    "bad_total",
]

#: (payee, bank, account) of the seeded payment requests
PAYEES = (
    ("杭州云栈科技有限公司", "招商银行杭州分行", "571908765410201"),
    ("上海启明信息技术有限公司", "中国工商银行上海张江支行", "1001234509876543210"),
    ("北京智联物流有限公司", "中国建设银行北京朝阳支行", "11050188360000001234"),
    ("深圳华信电子有限公司", "平安银行深圳分行", "15000098765432"),
    ("苏州东方印务有限公司", "交通银行苏州分行", "325605000018010123456"),
)
REASONS = ("服务器租赁费", "办公用品采购", "物流运输费", "印刷制作费", "技术服务费", "设备维修费")
#: planted anomalies the flagship's checks hold for review (待复核): a duplicate request a week after the
#: first, an amount far above what the payee is paid, detail lines that do not add up to the amount
ANOMALIES: tuple[Kind, ...] = ("duplicate", "outlier", "bad_total")

DAY_MS = 86_400_000


@dataclass
class Planned:
    """One payment request and its approval, and what the flagship scheme should make of it."""

    kind: Kind
    bill_number: str | None
    amount: Decimal
    #: the amount written on the DingTalk form (differs from the bill's only for ``mismatch``)
    form_amount: Decimal
    created_days_ago: float
    instance_id: str | None = None
    payee: int = 0
    summary: str = ""
    #: detail lines as written on the form (None: one line of the whole amount)
    lines: list[Decimal] | None = None
    #: for a ``duplicate``: the bill number of the ordinary request it repeats
    duplicate_of: str | None = None

    @property
    def approved(self) -> bool:
        """Approved in DingTalk by the end of the demo (whether or not it may become a payment bill)."""
        return self.kind in ("approved", "late", "draft", "no_number", "unknown_bill", "mismatch", *ANOMALIES)

    @property
    def expects_payment_bill(self) -> bool:
        """Approved, with a bill Kingdee knows and an amount that agrees: exactly one payment bill."""
        return self.kind in ("approved", "late", "draft")

    @property
    def expects_hold(self) -> bool:
        """A planted anomaly: held for review, never paid until a person releases it."""
        return self.kind in ANOMALIES


@dataclass
class LinkedPlan:
    items: list[Planned] = field(default_factory=list)

    def count(self) -> Counter[str]:
        return Counter(p.kind for p in self.items)

    def by_kind(self, kind: Kind) -> list[Planned]:
        return [p for p in self.items if p.kind == kind]


def plan(n: int, *, seed: int = 7) -> LinkedPlan:
    """A realistic mix of ``n`` (at least 10) payment requests: most approved; some refused, revoked,
    cancelled or still running; and one each of: no bill number on the form, a bill Kingdee does not
    know, an amount that disagrees, a bill Kingdee can only save as a draft, and one approved only
    after the first pass (delivered as an event). From 40 instances on, the planted anomalies too
    (:data:`ANOMALIES`)."""
    if n < 10:
        raise ValueError("the linked demo needs at least 10 instances")
    rng = random.Random(seed)
    special: list[Kind] = ["no_number", "unknown_bill", "mismatch", "draft", "late"]
    if n >= 40:
        special += list(ANOMALIES)
    kinds: list[Kind] = list(special)
    for _ in range(n - len(special)):
        r = rng.random()
        kinds.append(
            "approved"
            if r < 0.78
            else "refused"
            if r < 0.86
            else "revoked"
            if r < 0.91
            else "canceled"
            if r < 0.93
            else "running"
        )
    rng.shuffle(kinds)
    out = LinkedPlan()
    for i, kind in enumerate(kinds, start=1):
        amount = Decimal(rng.randrange(10_000, 5_000_000)) / 100
        number = f"FKSQ{700000 + i:06d}"
        out.items.append(
            Planned(
                kind=kind,
                bill_number=None if kind == "no_number" else number,
                amount=amount,
                form_amount=amount + Decimal("100.00") if kind == "mismatch" else amount,
                created_days_ago=rng.uniform(0.2, 25.0),
                payee=rng.randrange(len(PAYEES)),
                summary=f"支付{rng.choice(REASONS)}（合同{rng.randint(100, 999)}号）",
            )
        )
    _plant(out, rng)
    return out


def _plant(out: LinkedPlan, rng: random.Random) -> None:
    """Shape the planted anomalies after the ordinary requests they imitate."""
    ordinary = [p for p in out.items if p.kind == "approved"]
    for p in out.items:
        if p.kind == "duplicate":
            # the same request again a week after the first one, its summary reworded a little
            first = rng.choice([o for o in ordinary if o.created_days_ago >= 9] or ordinary)
            first.created_days_ago = max(first.created_days_ago, 9.0)
            p.payee, p.amount, p.form_amount = first.payee, first.amount, first.amount
            p.summary = first.summary + " 再次提交"
            p.created_days_ago = first.created_days_ago - 7
            p.duplicate_of = first.bill_number
        elif p.kind == "outlier":
            p.amount = p.form_amount = Decimal("2380000.00")
        elif p.kind == "bad_total":
            p.lines = [(p.amount * Decimal("0.6")).quantize(Decimal("0.01")), Decimal("100.00")]


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(
            f"sandbox admin call {response.request.url.path} failed: {response.status_code} {response.text}"
        )
    return response.json()


def seed(dingtalk_url: str, kingdee_url: str, linked: LinkedPlan, *, now_ms: int | None = None) -> LinkedPlan:
    """Create the Kingdee bills and the DingTalk approvals of ``linked``; fills in instance ids."""
    now_ms = now_ms or int(time.time() * 1000)
    with httpx.Client(timeout=30) as http:
        bills = [
            {
                "number": p.bill_number,
                "amount": float(p.amount),
                **({"missing_settle_type": True} if p.kind == "draft" else {}),
            }
            for p in linked.items
            if p.bill_number and p.kind != "unknown_bill"
        ]
        for start in range(0, len(bills), 500):
            _ok(http.post(f"{kingdee_url}/_sandbox/bills", json={"bills": bills[start : start + 500]}))
        for p in linked.items:
            created = now_ms - int(p.created_days_ago * DAY_MS)
            payee, bank, account = PAYEES[p.payee]
            form: dict[str, Any] = {
                "金蝶单据编号": p.bill_number if p.bill_number else "null",
                "付款金额": f"{p.form_amount:.2f}",
                "支付对象": payee,
                "开户行": bank,
                "银行账户": account,
                **({"付款事由": p.summary} if p.summary else {}),
            }
            if p.lines is not None:
                form["费用明细"] = [
                    {
                        "rowValue": [
                            {"label": "费用项目", "value": "付款", "key": "TextField_ONWDW0U26YO0"},
                            {"label": "金额（元）", "value": f"{v:.2f}", "key": "MoneyField_1S85G4YLMM5C0"},
                        ],
                        "rowNumber": f"TableField_1BDACPXDIFEO0_{n}",
                    }
                    for n, v in enumerate(p.lines, start=1)
                ]
            inst = _ok(
                http.post(
                    f"{dingtalk_url}/_sandbox/instances", json={"form": form, "create_time_ms": created}
                )
            )
            p.instance_id = str(inst.get("process_instance_id") or inst.get("id") or inst["instance_id"])
            action = {
                "refused": "refuse",
                "revoked": "revoke",
                "canceled": "cancel",
                "running": None,
                "late": None,
            }.get(p.kind, "approve")
            if action:
                # decided some hours after it was made, never in the future
                at = min(
                    now_ms - 60_000, created + int(random.Random(p.instance_id).uniform(0.05, 0.9) * DAY_MS)
                )
                _ok(
                    http.post(
                        f"{dingtalk_url}/_sandbox/instances/{p.instance_id}/{action}", json={"at_ms": at}
                    )
                )
    return linked


def approve(dingtalk_url: str, instance_id: str) -> None:
    """Approve a running instance now (the sandbox raises the finish event)."""
    with httpx.Client(timeout=30) as http:
        _ok(http.post(f"{dingtalk_url}/_sandbox/instances/{instance_id}/approve", json={}))


@dataclass
class Reconciliation:
    """What the sandboxes hold, compared with what the plan expects."""

    expected: int
    payment_bills: int
    drafts: int
    missing: list[str]
    duplicates: list[str]
    #: payment bills made for requests that should have none (refused, mismatched, held, ...)
    unexpected: list[str]


def paybill_counts(kingdee_url: str, numbers: list[str]) -> dict[str, int]:
    """Payment bills (drafts included) per source bill number, as the Kingdee sandbox holds them."""
    counts: dict[str, int] = {}
    with httpx.Client(timeout=30) as http:
        for start in range(0, len(numbers), 200):
            chunk = numbers[start : start + 200]
            answer = _ok(
                http.get(f"{kingdee_url}/_sandbox/paybills/count", params=[("source", n) for n in chunk])
            )
            counts.update({str(k): int(v) for k, v in answer["counts"].items()})
    return counts


def reconcile(kingdee_url: str, linked: LinkedPlan) -> Reconciliation:
    """Count payment bills per source bill number in the Kingdee sandbox."""
    counts = paybill_counts(kingdee_url, [p.bill_number for p in linked.items if p.bill_number])
    with httpx.Client(timeout=30) as http:
        drafts_answer = _ok(
            http.get(f"{kingdee_url}/_sandbox/bills", params={"form_id": "AP_PAYBILL", "status": "Z"})
        )
        all_answer = _ok(http.get(f"{kingdee_url}/_sandbox/bills", params={"form_id": "AP_PAYBILL"}))
    missing = [
        p.bill_number or ""
        for p in linked.items
        if p.expects_payment_bill and counts.get(p.bill_number or "", 0) == 0
    ]
    duplicates = [
        p.bill_number or "" for p in linked.items if p.bill_number and counts.get(p.bill_number, 0) > 1
    ]
    unexpected = [
        p.bill_number
        for p in linked.items
        if p.bill_number and not p.expects_payment_bill and counts.get(p.bill_number, 0) > 0
    ]
    return Reconciliation(
        expected=sum(1 for p in linked.items if p.expects_payment_bill),
        payment_bills=len(_bills(all_answer)),
        drafts=len(_bills(drafts_answer)),
        missing=missing,
        duplicates=duplicates,
        unexpected=[u for u in unexpected if u],
    )


def _bills(answer: Any) -> list[Any]:
    if isinstance(answer, dict) and isinstance(answer.get("bills"), list):
        return list(answer["bills"])
    if isinstance(answer, list):
        return answer
    raise RuntimeError(f"unexpected bills answer: {answer!r}")


def start_both(
    args: list[str], *, cwd: str | None = None, timeout_s: float = 120.0, output: bool = False
) -> Any:
    """Start ``ferry sandbox both ARGS`` as its own process; returns it with the DingTalk and Kingdee
    base URLs once it says it is ready (seeding done), and with ``output`` what it printed until then.
    Stop it with SIGTERM."""
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "ferry.cli.main", "sandbox", "both", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if line.strip() == "ready":
            break
    dingtalk = re.search(r"DingTalk sandbox: (http://\S+)", seen)
    kingdee = re.search(r"Kingdee sandbox:\s+(http://\S+)/k3cloud/", seen)
    if not (dingtalk and kingdee) or not seen.rstrip().endswith("ready"):
        proc.kill()
        errors = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"ferry sandbox both did not start: {seen}{errors}")
    if output:
        return proc, dingtalk.group(1), kingdee.group(1), seen
    return proc, dingtalk.group(1), kingdee.group(1)
