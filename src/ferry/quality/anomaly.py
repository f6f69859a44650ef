"""History-aware checks of payment documents (wave2 §4.3): duplicate payment, the same reference number,
amount outlier per payee, total ≠ sum of lines, amount ≠ its 大写 text, new bank account, self-approval.

:meth:`PaymentChecks.facts` reads what a record adds to history; :meth:`PaymentChecks.check` asks the
history (a few indexed lookups) and returns the findings. Contract: a check never raises for a record's
content; a missing value is no finding (the declarative rules say what is required).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ferry.quality.config import ChecksSpec
from ferry.quality.history import BatchHistory, Fact
from ferry.quality.stats import modified_z
from ferry.quality.text import (
    WordsError,
    decimal,
    normalise_reference,
    similarity,
    transpositions,
    words_amount,
)
from ferry.quality.values import as_date, dingtalk_approvers, dingtalk_upper, dotted, empty
from ferry.quality.verdict import Finding

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Payment:
    """The facts of one payment document the checks compare."""

    payee: str | None
    amount: Decimal | None
    date: dt.date | None
    summary: str | None
    reference: str | None
    account: str | None
    #: the amount in cents, and the reference's one-transposition variants: worked out once, every
    #: check of the batch reads them
    cents: int | None = field(init=False, default=None)
    variants: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.amount is not None:
            cents = int((self.amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            object.__setattr__(self, "cents", cents)
        if self.reference is not None:
            object.__setattr__(self, "variants", tuple(transpositions(self.reference)))


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _text(value: Any) -> str | None:
    if empty(value):
        return None
    return str(value).strip()[:200]


class PaymentChecks:
    """The scheme's ``checks:`` block, compiled."""

    def __init__(self, config: ChecksSpec, tz: ZoneInfo) -> None:
        self.config = config
        self.f = config.fields
        self.tz = tz
        c = config
        checks = {
            "duplicate": c.duplicate,
            "reference": c.reference,
            "outlier": c.outlier,
            "total": c.total,
            "amount_words": c.amount_words,
            "new_account": c.new_account,
            "self_approval": c.self_approval,
        }
        #: (name, severity) of the enabled checks, for their pass verdicts
        self._enabled = [(name, spec.severity) for name, spec in checks.items() if spec.enabled]

    def payment(self, content: Mapping[str, Any]) -> Payment:
        f = self.f
        reference = dotted(content, f.reference) if f.reference else None
        return Payment(
            payee=_text(dotted(content, f.payee)),
            amount=decimal(dotted(content, f.amount)),
            date=as_date(dotted(content, f.date), self.tz),
            summary=_text(dotted(content, f.summary)),
            reference=normalise_reference(reference) if not empty(reference) else None,
            account=_text(dotted(content, f.account)),
        )

    def facts(self, p: Payment) -> list[Fact]:
        """What a payment adds to its scheme's history."""
        out: list[Fact] = []
        if p.payee is not None and p.cents is not None:
            out.append(
                Fact(
                    kind="payment",
                    key=f"{p.payee}{_SEP}{p.cents}",
                    at=_at(p.date) if p.date else None,
                    payee=p.payee,
                    amount_cents=p.cents,
                    account=p.account,
                    summary=p.summary,
                )
            )
        if p.reference is not None:
            out.append(Fact(kind="reference", key=p.reference, amount_cents=p.cents))
        return out

    # --- the checks -----------------------------------------------------------------------------

    def prefetch(self, view: BatchHistory, payments: Mapping[int, Payment]) -> None:
        """Fetch what the batch's checks will ask for in one lookup per kind."""
        c = self.config
        if c.duplicate.enabled:
            dated = [p for p in payments.values() if p.payee and p.cents is not None and p.date]
            if dated:
                span = dt.timedelta(days=c.duplicate.days)
                view.prefetch(
                    "payment",
                    {f"{p.payee}{_SEP}{p.cents}" for p in dated},
                    since=min(_at(p.date) for p in dated if p.date) - span,
                    until=max(_at(p.date) for p in dated if p.date) + span,
                )
        if c.reference.enabled:
            refs = {k for p in payments.values() if p.reference for k in (p.reference, *p.variants)}
            view.prefetch("reference", refs)

    def check(
        self, record_id: int, content: Mapping[str, Any], p: Payment, view: BatchHistory
    ) -> list[Finding]:
        c = self.config
        found: list[Finding] = []
        if c.duplicate.enabled:
            found += self._duplicate(record_id, p, view)
        if c.reference.enabled and p.reference is not None:
            found += self._reference(record_id, p, view)
        past: Sequence[Any] = ()
        if p.payee is not None and (c.outlier.enabled or c.new_account.enabled):
            past = view.payee(p.payee, record_id)
        if c.outlier.enabled:
            found += self._outlier(p, past)
        if c.new_account.enabled:
            found += self._new_account(record_id, p, past, view)
        if c.total.enabled:
            found += self._total(content, p)
        if c.amount_words.enabled:
            found += self._words(content, p)
        if c.self_approval.enabled:
            found += self._self_approval(content)
        return found + self._passes(p, found)

    def _passes(self, p: Payment, found: Sequence[Finding]) -> list[Finding]:
        """A pass verdict, with the payment's facts it looked at, for every enabled check that found nothing."""
        seen = {f.rule for f in found}
        values = {"payee": p.payee, "amount": None if p.amount is None else str(p.amount)}
        return [
            Finding(name, name, "pass", severity, "", values)
            for name, severity in self._enabled
            if name not in seen
        ]

    def _duplicate(self, record_id: int, p: Payment, view: BatchHistory) -> list[Finding]:
        cfg = self.config.duplicate
        if p.payee is None or p.cents is None or p.date is None:
            return []
        span = dt.timedelta(days=cfg.days)
        candidates = view.matches(
            "payment",
            [f"{p.payee}{_SEP}{p.cents}"],
            record_id,
            since=_at(p.date) - span,
            until=_at(p.date) + span,
        )
        alike = [(m, similarity(p.summary, m.summary)) for m in candidates]
        alike = [(m, s) for m, s in alike if s >= cfg.similarity]
        if not alike:
            return []
        best, score = max(alike, key=lambda pair: pair[1])
        days = abs((best.at.date() - p.date).days) if best.at else None
        return [
            Finding(
                rule="duplicate",
                kind="duplicate",
                verdict="block",
                severity=cfg.severity,
                message=f"{p.payee} was paid {p.amount} {days} day(s) apart on record "
                f"{best.record_id}{f' ({best.number})' if best.number else ''} (summary {score:.0%} alike)",
                values={
                    "payee": p.payee,
                    "amount": str(p.amount),
                    "date": p.date.isoformat(),
                    "similarity": round(score, 3),
                    "days_apart": days,
                },
                matched=tuple(m.record_id for m, _ in alike),
            )
        ]

    def _reference(self, record_id: int, p: Payment, view: BatchHistory) -> list[Finding]:
        assert p.reference is not None
        found = view.matches("reference", [p.reference, *p.variants], record_id)
        if not found:
            return []
        first = found[0]
        how = "the same" if first.key == p.reference else "one transposition from the"
        return [
            Finding(
                rule="reference",
                kind="reference",
                verdict="block",
                severity=self.config.reference.severity,
                message=f"reference {p.reference} is {how} number of record {first.record_id}"
                f"{f' ({first.number})' if first.number else ''}",
                values={"reference": p.reference, "matched_reference": first.key},
                matched=tuple(m.record_id for m in found),
            )
        ]

    def _outlier(self, p: Payment, past: Sequence[Any]) -> list[Finding]:
        cfg = self.config.outlier
        if p.amount is None or p.payee is None:
            return []
        amounts = [m.amount_cents / 100 for m in past if m.amount_cents is not None]
        x = float(p.amount)
        z = modified_z(x, amounts, mad_floor=cfg.mad_floor) if len(amounts) >= cfg.min_history else None
        if z is not None:
            if z <= cfg.z:
                return []
            message = f"{p.amount} is far above what {p.payee} is usually paid (modified z {z:.1f} > {cfg.z})"
        elif x > cfg.cap:
            message = (
                f"{p.amount} is above the cap {cfg.cap:g} for a payee with {len(amounts)} past payment(s)"
            )
        else:
            return []
        return [
            Finding(
                rule="outlier",
                kind="outlier",
                verdict="warn" if cfg.severity == "warn" else "block",
                severity=cfg.severity,
                message=message,
                values={
                    "amount": str(p.amount),
                    "z": None if z is None else round(z, 2),
                    "history": len(amounts),
                },
            )
        ]

    def _new_account(
        self, record_id: int, p: Payment, past: Sequence[Any], view: BatchHistory
    ) -> list[Finding]:
        if p.payee is None or p.account is None or not past:
            return []
        if any(m.account == p.account for m in past):
            return []
        if view.account_known(p.payee, p.account, record_id):
            return []
        before = next((m.account for m in past if m.account), None)
        cfg = self.config.new_account
        return [
            Finding(
                rule="new_account",
                kind="new_account",
                verdict="warn" if cfg.severity == "warn" else "block",
                severity=cfg.severity,
                message=f"{p.payee} has not been paid on account {p.account} before (last: {before})",
                values={"account": p.account, "previous_account": before},
                matched=tuple(m.record_id for m in past[:1]),
            )
        ]

    def _total(self, content: Mapping[str, Any], p: Payment) -> list[Finding]:
        rows = dotted(content, self.f.details)
        if p.amount is None or not isinstance(rows, list) or not rows:
            return []
        parts = [decimal(dotted(r, self.f.detail_amount)) if isinstance(r, Mapping) else None for r in rows]
        if any(v is None for v in parts):
            return []  # a line without an amount is a rule's business, not a wrong total
        total = sum((v for v in parts if v is not None), Decimal(0))
        if abs(total - p.amount) < Decimal("0.005"):
            return []
        return [
            Finding(
                rule="total",
                kind="total",
                verdict="block",
                severity=self.config.total.severity,
                message=f"the amount {p.amount} is not the sum of its {len(rows)} line(s), {total}",
                values={"amount": str(p.amount), "lines": [str(v) for v in parts], "sum": str(total)},
            )
        ]

    def _words(self, content: Mapping[str, Any], p: Payment) -> list[Finding]:
        f = self.f
        text = dotted(content, f.amount_words) if f.amount_words else dingtalk_upper(content, f.amount)
        if p.amount is None or empty(text):
            return []
        try:
            said = words_amount(str(text))
        except WordsError:
            said = None
        if said is not None and said == p.amount:
            return []
        return [
            Finding(
                rule="amount_words",
                kind="amount_words",
                verdict="block",
                severity=self.config.amount_words.severity,
                message=f"the amount {p.amount} disagrees with its words {text}"
                + ("" if said is not None else " (not an amount in words)"),
                values={
                    "amount": str(p.amount),
                    "words": str(text),
                    "words_amount": None if said is None else str(said),
                },
            )
        ]

    def _self_approval(self, content: Mapping[str, Any]) -> list[Finding]:
        f = self.f
        applicant = dotted(content, f.applicant)
        if empty(applicant):
            return []
        if f.approver:
            given = dotted(content, f.approver)
            approvers = (
                [str(a) for a in given] if isinstance(given, list) else ([] if empty(given) else [str(given)])
            )
        else:
            approvers = dingtalk_approvers(content)
        if str(applicant) not in approvers:
            return []
        return [
            Finding(
                rule="self_approval",
                kind="self_approval",
                verdict="block",
                severity=self.config.self_approval.severity,
                message=f"the applicant {applicant} also approved it",
                values={"applicant": str(applicant), "approvers": approvers},
            )
        ]


__all__ = ["Payment", "PaymentChecks"]
