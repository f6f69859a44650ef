"""The quality report, from plain rows the ledger gives (so console and CLI show the same figures):
findings by rule per day, records waiting for review and their age, top payees by findings, and a
monthly Benford first-digit test of amounts per scheme (a report, never a gate)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from ferry.errors import UsageError
from ferry.quality.stats import benford


class HeldLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def scheme(self) -> str: ...
    @property
    def source_id(self) -> str: ...
    @property
    def number(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def held_since(self) -> dt.datetime: ...


class ReportSource(Protocol):
    """The ledger reads a report needs (:class:`ferry.store.Ledger` has them)."""

    def findings_between(
        self, *, scheme: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Sequence[tuple[str, dt.datetime, str, str, str | None, str | None]]: ...

    def held(self, scheme: str | None = None, *, limit: int = 200) -> Sequence[HeldLike]: ...

    def payment_amounts(
        self, *, scheme: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Sequence[tuple[str, dt.datetime | None, int]]: ...

    def findings_of(self, record_id: int) -> Sequence[Any]: ...


def report_of(
    ledger: ReportSource, scheme: str | None, month: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The report of ``month`` (YYYY-MM, default this month; raises UsageError) from ``ledger``. Findings
    count by when they were made, amounts by their business date."""
    start, end, label = month_bounds(month, now)
    held = ledger.held(scheme)
    report = build_report(
        month=label,
        findings=ledger.findings_between(scheme=scheme, since=start, until=end),
        held=held,
        amounts=ledger.payment_amounts(scheme=scheme, since=start, until=end),
        now=now,
    )
    # what stopped each held record and the records it matched (the earlier payment it may duplicate)
    for item in report["held"]:
        open_findings = [
            f for f in ledger.findings_of(item["id"]) if f.resolution is None and f.verdict != "warn"
        ]
        item["rules"] = sorted({f.rule for f in open_findings})
        item["matched"] = sorted({m for f in open_findings for m in f.matched})
    return report


def month_bounds(month: str | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, str]:
    """[start, end) of ``YYYY-MM`` (default: this month, UTC) and its label; raises UsageError."""
    if month is None:
        month = now.astimezone(dt.UTC).strftime("%Y-%m")
    try:
        start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
    except ValueError:
        raise UsageError(f"--month takes YYYY-MM (e.g. 2026-12), not {month!r}") from None
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end, month


def build_report(
    *,
    month: str,
    findings: Iterable[tuple[str, dt.datetime, str, str, str | None, str | None]],
    held: Sequence[HeldLike],
    amounts: Iterable[tuple[str, dt.datetime | None, int]],
    now: dt.datetime,
    top: int = 10,
) -> dict[str, Any]:
    """The report as one JSON-able dict (see the module docstring)."""
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    verdicts: Counter[str] = Counter()
    payees: Counter[str] = Counter()
    for _scheme, at, rule, verdict, payee, _resolution in findings:
        by_rule[rule][at.astimezone(dt.UTC).strftime("%Y-%m-%d")] += 1
        verdicts[verdict] += 1
        if payee:
            payees[payee] += 1
    days = sorted({d for c in by_rule.values() for d in c})
    per_scheme: dict[str, list[Decimal]] = defaultdict(list)
    for scheme, _at, cents in amounts:
        per_scheme[scheme].append(Decimal(cents) / 100)
    return {
        "month": month,
        "findings": {
            "total": sum(verdicts.values()),
            "by_verdict": dict(verdicts),
            "days": days,
            "by_rule": {rule: [c.get(d, 0) for d in days] for rule, c in sorted(by_rule.items())},
        },
        "held": [
            {
                "id": h.id,
                "scheme": h.scheme,
                "source_id": h.source_id,
                "number": h.number,
                "reason": h.reason,
                "held_since": h.held_since.isoformat(),
                "age_hours": round((now - h.held_since).total_seconds() / 3600, 1),
            }
            for h in held
        ],
        "top_payees": [{"payee": p, "findings": n} for p, n in payees.most_common(top)],
        "benford": {scheme: benford(values).as_dict() for scheme, values in sorted(per_scheme.items())},
    }


__all__ = ["ReportSource", "build_report", "month_bounds", "report_of"]
