"""Benchmark: how well the payment checks find planted anomalies, and what they cost dispatch.

    .venv/bin/python bench/bench_quality.py                       # accuracy over 5 seeds, throughput at 100k
    .venv/bin/python bench/bench_quality.py --seeds 3 --payments 2000 --history 20000 --dispatch 2000

**Accuracy.** Each seed generates a history of ``--payments`` payments (40 payees, each with its usual
amount level, its bank account and its kinds of summary, over a year), with hard negatives that a naive
rule would flag (monthly rent: same payee, same amount every month; two different services of the same
price within a week), and plants anomalies of each kind (about 2% each): a duplicate request 1-13 days
after the first with a reworded summary and a new invoice number, a resubmitted invoice number (spaces,
case, O for 0, a suffix letter, one transposition), an amount far above the payee's usual, a total that
is not the sum of its lines, 大写 words of another amount, a new bank account, the applicant approving.
The records go through :class:`ferry.quality.Checker` on a real ledger (SQLite) in batches of 20, in
order. Printed per check: planted, flagged, precision and recall, per seed and over all seeds.

**Throughput.** A ledger with ``--history`` written payments (and their facts, as the checks store them)
is copied twice; ``--dispatch`` new payments are dispatched through the real Dispatcher on each copy,
once with the scheme's default checks (``checks: {}`` with the field paths) and once without, side by
side in one process, alternating ``--repeat`` times. The target answers at once (ledger-bound: the
worst case for the checks' share) and, with ``--latency-ms``, after that many milliseconds per batch
call (a Kingdee Push takes 30-80 ms in the sandbox). Printed: records per second and the ratio on/off.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ferry import expr
from ferry.connectors.base import TargetDoc, WriteItem, WriteOutcome
from ferry.engine.dispatch import Dispatcher
from ferry.engine.transform import Transform
from ferry.quality import Checker
from ferry.quality.anomaly import PaymentChecks
from ferry.sandbox.dingtalk.payment import money_upper
from ferry.scheme import AnomalyChecks, Scheme
from ferry.store import Collected, Ledger
from ferry.store.schema import records

TZ = ZoneInfo("Asia/Shanghai")
START = dt.date(2025, 11, 1)
FIELDS = {
    "payee": "payee",
    "amount": "amount",
    "date": "date",
    "summary": "summary",
    "reference": "invoice",
    "account": "account",
    "details": "lines",
    "detail_amount": "amount",
    "amount_words": "words",
    "applicant": "applicant",
    "approver": "approver",
}
KINDS = ("duplicate", "reference", "outlier", "total", "amount_words", "new_account", "self_approval")
SERVICES = (
    "服务器租赁费",
    "办公用品采购",
    "物流运输费",
    "印刷制作费",
    "技术服务费",
    "设备维修费",
    "咨询费",
    "广告投放费",
)
PEOPLE = [f"u{i:03d}" for i in range(30)]


@dataclass
class Payee:
    name: str
    level: float
    account: str
    services: list[str]
    rent: Decimal | None = None


@dataclass
class Generated:
    contents: list[dict[str, Any]] = field(default_factory=list)
    planted: list[set[str]] = field(default_factory=list)


def _lines(rng: random.Random, amount: Decimal) -> list[dict[str, str]]:
    cents = int(amount * 100)
    n = rng.randint(1, 3)
    cuts = sorted(rng.sample(range(1, cents), n - 1)) if n > 1 and cents > n else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, cents], strict=True)]
    return [{"amount": f"{Decimal(p) / 100:.2f}"} for p in parts]


def _invoice_variant(rng: random.Random, number: str) -> str:
    digits = number.split("-")[-1]
    how = rng.choice(["spaces", "case", "zero", "suffix", "swap"])
    if how == "spaces":
        return number.replace("-", " ")
    if how == "case":
        return number.lower()
    if how == "zero" and "0" in number:
        return number.replace("0", "O", 1)
    if how == "swap":
        i = rng.randrange(len(digits) - 1)
        if digits[i] != digits[i + 1]:
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            return number[: -len(digits)] + swapped
    return number + rng.choice("ABC")


def generate(seed: int, n: int) -> Generated:
    rng = random.Random(seed)
    payees = [
        Payee(
            name=f"供应商{i:02d}有限公司",
            level=10 ** rng.uniform(2.5, 5.2),
            account=f"6222{rng.randrange(10**11, 10**12)}",
            services=rng.sample(SERVICES, 2),
        )
        for i in range(40)
    ]
    for p in payees[:6]:
        p.rent = Decimal(f"{round(p.level, -2):.2f}")
    out = Generated()
    day = 0.0
    step = 365 / n
    seq = 0
    seen_accounts: dict[str, set[str]] = defaultdict(set)
    paid: Counter[str] = Counter()

    def invoice() -> str:
        nonlocal seq
        seq += 1
        return f"INV-{seed:02d}-{100000 + seq * 7919 % 900000:06d}"

    def add(content: dict[str, Any], planted: set[str]) -> None:
        out.contents.append(content)
        out.planted.append(planted)
        seen_accounts[content["payee"]].add(content["account"])
        paid[content["payee"]] += 1

    def normal(p: Payee, when: dt.date) -> dict[str, Any]:
        amount = Decimal(f"{p.level * rng.lognormvariate(0, 0.25):.2f}")
        applicant = rng.choice(PEOPLE)
        approver = rng.choice([x for x in PEOPLE if x != applicant])
        return {
            "payee": p.name,
            "amount": f"{amount:.2f}",
            "date": when.isoformat(),
            "summary": f"支付{rng.choice(p.services)} {when:%m}月第{rng.randint(1, 4)}批",
            "invoice": invoice(),
            "account": p.account,
            "lines": _lines(rng, amount),
            "words": money_upper(amount),
            "applicant": applicant,
            "approver": [approver],
        }

    while len(out.contents) < n:
        day += step
        when = START + dt.timedelta(days=int(day))
        p = rng.choice(payees)
        content = normal(p, when)
        planted: set[str] = set()
        r = rng.random()
        earlier = [
            (i, c)
            for i, c in enumerate(out.contents[-300:], start=max(0, len(out.contents) - 300))
            if "duplicate" not in out.planted[i]
        ]
        if r < 0.02 and earlier:
            o, orig = rng.choice(earlier[-120:])
            gap = rng.randint(1, 13)
            then = dt.date.fromisoformat(orig["date"]) + dt.timedelta(days=gap)
            content = {**orig, "date": max(then, when).isoformat() if gap else then.isoformat()}
            content["date"] = (dt.date.fromisoformat(orig["date"]) + dt.timedelta(days=gap)).isoformat()
            content["summary"] = orig["summary"] + rng.choice(["", " 请尽快", "（补）", " 再次提交"])
            content["invoice"] = invoice()
            # a copy carries its original's defects too
            planted = {"duplicate"} | (out.planted[o] & {"outlier", "total", "amount_words", "self_approval"})
        elif r < 0.04 and earlier:
            _, orig = rng.choice(earlier)
            content["invoice"] = _invoice_variant(rng, orig["invoice"])
            planted.add("reference")
        elif r < 0.06 and paid[p.name] >= 3:
            amount = Decimal(f"{p.level * rng.uniform(10, 30):.2f}")
            content.update(amount=f"{amount:.2f}", lines=_lines(rng, amount), words=money_upper(amount))
            planted.add("outlier")
        elif r < 0.08 and len(content["lines"]) > 0:
            content["lines"] = [*content["lines"], {"amount": f"{rng.randint(1, 999)}.00"}]
            planted.add("total")
        elif r < 0.10:
            other = Decimal(content["amount"]) + Decimal(rng.choice([1, 10, 100, 1000]))
            content["words"] = money_upper(other)
            planted.add("amount_words")
        elif r < 0.12 and paid[p.name] >= 1:
            content["account"] = f"6217{rng.randrange(10**11, 10**12)}"
            planted.add("new_account")
        elif r < 0.14:
            content["approver"] = [content["applicant"]]
            planted.add("self_approval")
        elif r < 0.17 and p.rent is not None:
            # monthly rent: same payee, same amount, a month apart: not a duplicate
            content.update(
                amount=f"{p.rent:.2f}", lines=[{"amount": f"{p.rent:.2f}"}], words=money_upper(p.rent)
            )
            content["summary"] = f"支付{when:%Y年%m月}房租"
        elif r < 0.20 and out.contents:
            # the same price for another service within a week: not a duplicate
            prev = out.contents[-1]
            if not out.planted[-1] and (prev["payee"] == p.name or rng.random() < 0.5):
                content.update(payee=prev["payee"], account=prev["account"], amount=prev["amount"])
                content.update(lines=prev["lines"], words=prev["words"])
                other_service = [s for s in SERVICES if s not in prev["summary"]]
                content["summary"] = f"支付{rng.choice(other_service)} 合同{rng.randint(100, 999)}号"
        add(content, planted)
    # a record planted as one kind may truly be another (a rent that is also an outlier): score only the
    # planted kind; the rest of a record's findings count against precision
    return out


def run_seed(seed: int, n: int, workdir: Path) -> dict[str, Counter[str]]:
    ledger = Ledger(f"sqlite:///{workdir / f'accuracy-{seed}.db'}")
    ledger.migrate()
    gen = generate(seed, n)
    items = [
        Collected(source_id=f"P{i:06d}", number=f"FKSQ{i:06d}", content=c) for i, c in enumerate(gen.contents)
    ]
    for start in range(0, len(items), 500):
        ledger.collect("bench", items[start : start + 500])
    with ledger.engine.connect() as conn:
        ids = [row[0] for row in conn.execute(sa.select(records.c.id).order_by(records.c.id))]
    checker = Checker("bench", [], AnomalyChecks.model_validate({"fields": FIELDS}), tz=TZ, history=ledger)
    ctx = expr.Context(tz=TZ)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    flagged: list[set[str]] = []
    for start in range(0, len(ids), 20):
        batch = list(zip(ids[start : start + 20], gen.contents[start : start + 20], strict=True))
        result = checker.assess(batch, ctx, now)
        flagged += [{f.rule for f in result[rid].findings} for rid, _ in batch]
    ledger.close()
    score: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    for planted, found in zip(gen.planted, flagged, strict=True):
        for k in KINDS:
            score[k]["planted"] += k in planted
            score[k]["flagged"] += k in found
            score[k]["tp"] += k in planted and k in found
    return score


def accuracy(seeds: int, n: int, workdir: Path) -> None:
    total: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    print(f"accuracy: {seeds} seeds x {n} payments, checked in batches of 20 on SQLite")
    print(f"{'check':<14}" + "".join(f"  seed{s:<2} P/R   " for s in range(seeds)))
    rows: dict[str, list[str]] = defaultdict(list)
    for seed in range(seeds):
        score = run_seed(seed, n, workdir)
        for k in KINDS:
            total[k] += score[k]
            rows[k].append(_pr(score[k]))
    for k in KINDS:
        print(f"{k:<14}" + "".join(f"  {cell:<14}" for cell in rows[k]))
    print(f"\n{'over all seeds':<14}  planted  flagged  precision  recall")
    for k in KINDS:
        s = total[k]
        p = s["tp"] / s["flagged"] if s["flagged"] else float("nan")
        r = s["tp"] / s["planted"] if s["planted"] else float("nan")
        print(f"{k:<14}  {s['planted']:>7}  {s['flagged']:>7}  {p:>9.3f}  {r:>6.3f}")


def _pr(s: Counter[str]) -> str:
    p = s["tp"] / s["flagged"] if s["flagged"] else float("nan")
    r = s["tp"] / s["planted"] if s["planted"] else float("nan")
    return f"{p:.2f}/{r:.2f}"


# --- throughput -------------------------------------------------------------------------------------


class Target:
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.written = 0

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        self.written += len(items)
        return [WriteOutcome(it.key, TargetDoc(id=f"T{it.key}", number=f"FKD{it.key}")) for it in items]

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        return None

    async def aclose(self) -> None:
        return None


def scheme(checks: bool) -> Scheme:
    data: dict[str, Any] = {
        "id": "bench",
        "source": {"api": "/x", "id": "id", "number": "no"},
        "target": {
            "api": "/y",
            "batch_size": 20,
            "request": [
                {"field": "FormId", "value": "AP_PAYBILL"},
                {"field": "FBillNo", "value": "{{no}}"},
                {"field": "FAmount", "type": "number", "value": "{{amount}}"},
                {"field": "FSupplier", "value": "{{payee}}"},
                {"field": "FRemark", "value": "{{summary}}"},
            ],
        },
    }
    if checks:
        data["checks"] = {"fields": FIELDS}
    return Scheme.model_validate(data)


def build_history(path: Path, history: int, fresh: int) -> None:
    """``history`` written payments with their facts, then ``fresh`` pending ones."""
    ledger = Ledger(f"sqlite:///{path}")
    ledger.migrate()
    gen = generate(99, history + fresh)
    payments = PaymentChecks(AnomalyChecks.model_validate({"fields": FIELDS}), TZ)
    for start in range(0, history + fresh, 1000):
        chunk = gen.contents[start : start + 1000]
        ledger.collect(
            "bench",
            [
                Collected(
                    source_id=f"P{start + i:07d}",
                    number=f"FKSQ{start + i:07d}",
                    content={"id": f"P{start + i:07d}", "no": f"FKSQ{start + i:07d}", **c},
                )
                for i, c in enumerate(chunk)
            ],
        )
    with ledger.engine.begin() as conn:
        ids = [row[0] for row in conn.execute(sa.select(records.c.id).order_by(records.c.id))]
        conn.execute(sa.update(records).where(records.c.id <= ids[history - 1]).values(status="written"))
    for start in range(0, history, 2000):
        part = range(start, min(history, start + 2000))
        ledger.note_facts("bench", {ids[i]: payments.facts(payments.payment(gen.contents[i])) for i in part})
    ledger.close()


async def dispatch_pass(path: Path, checks: bool, latency_s: float, fresh: int) -> float:
    ledger = Ledger(f"sqlite:///{path}")
    s = scheme(checks)
    target = Target(latency_s)
    t0 = time.perf_counter()
    report = await Dispatcher(s, ledger, target, Transform(s), owner="bench").run()
    elapsed = time.perf_counter() - t0
    assert report.claimed == fresh, report
    ledger.close()
    return fresh / elapsed


def throughput(history: int, fresh: int, repeat: int, latencies: list[float], workdir: Path) -> None:
    base = workdir / "history.db"
    t0 = time.perf_counter()
    build_history(base, history, fresh)
    print(
        f"\nthroughput: {history:,} payments of history (built in {time.perf_counter() - t0:.0f}s), "
        f"{fresh:,} dispatched per pass, batch 20, SQLite, median of {repeat}"
    )
    print(f"{'target latency':<16}{'checks off rec/s':>18}{'checks on rec/s':>18}{'on/off':>9}")
    for latency in latencies:
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeat):
            for checks in (False, True):
                copy = workdir / f"pass-{checks}.db"
                shutil.copy(base, copy)
                runs[checks].append(asyncio.run(dispatch_pass(copy, checks, latency / 1000, fresh)))
                copy.unlink()
        off, on = statistics.median(runs[False]), statistics.median(runs[True])
        print(f"{f'{latency:g} ms':<16}{off:>18.0f}{on:>18.0f}{on / off:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--payments", type=int, default=2500)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--dispatch", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--latency-ms", default="0,50", help="comma-separated target latencies per batch call"
    )
    parser.add_argument("--skip", choices=["accuracy", "throughput"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-quality-") as tmp:
        workdir = Path(tmp)
        if args.skip != "accuracy":
            accuracy(args.seeds, args.payments, workdir)
        if args.skip != "throughput":
            latencies = [float(x) for x in args.latency_ms.split(",") if x]
            throughput(args.history, args.dispatch, args.repeat, latencies, workdir)


if __name__ == "__main__":
    main()
