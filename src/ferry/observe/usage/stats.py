"""Per-API figures over a period, from the ledger's hourly usage: calls, errors by code, latency percentiles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry.store import LATENCY_BUCKETS_MS, HourUsage


def percentile(buckets: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in milliseconds from bucket counts, interpolated inside the bucket as
    Prometheus' ``histogram_quantile`` does; None without calls. Calls beyond the last bound read as it."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i >= len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            lower = LATENCY_BUCKETS_MS[i - 1] if i > 0 else 0.0
            upper = LATENCY_BUCKETS_MS[i]
            return float(lower + (upper - lower) * (rank - seen) / n)
        seen += n
    return float(LATENCY_BUCKETS_MS[-1])


@dataclass
class ApiStats:
    """One (connection, api) over a period."""

    connection: str
    api: str
    calls: int = 0
    metered: int = 0
    errors: int = 0
    throttles: int = 0
    latency_sum_ms: float = 0.0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None

    def add(self, u: HourUsage) -> None:
        self.calls += u.calls
        self.metered += u.metered
        self.errors += u.errors
        self.throttles += u.throttles
        self.latency_sum_ms += u.latency_sum_ms
        for code, n in u.errors_by_code.items():
            self.errors_by_code[code] = self.errors_by_code.get(code, 0) + n
        for status, n in u.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n
        self.buckets = [a + b for a, b in zip(self.buckets, u.latency_buckets, strict=True)]
        self.first_at = u.hour if self.first_at is None else min(self.first_at, u.hour)
        self.last_at = u.hour if self.last_at is None else max(self.last_at, u.hour)

    @property
    def avg_ms(self) -> float | None:
        return self.latency_sum_ms / self.calls if self.calls else None

    def p(self, q: float) -> float | None:
        return percentile(self.buckets, q)

    def as_dict(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {
            "connection": self.connection,
            "api": self.api,
            "calls": self.calls,
            "metered": self.metered,
            "errors": self.errors,
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "throttles": self.throttles,
            # each throttling answer costs the limiter a one-second pause
            "pauses": self.throttles,
            "latency_ms": {
                "avg": ms(self.avg_ms),
                "p50": ms(self.p(0.5)),
                "p95": ms(self.p(0.95)),
                "p99": ms(self.p(0.99)),
            },
        }


def per_api(hours: Iterable[HourUsage]) -> list[ApiStats]:
    """Hourly usage folded into one :class:`ApiStats` per (connection, api), sorted."""
    found: dict[tuple[str, str], ApiStats] = {}
    for u in hours:
        key = (u.connection, u.api)
        stats = found.get(key)
        if stats is None:
            stats = found[key] = ApiStats(u.connection, u.api)
        stats.add(u)
    return [found[k] for k in sorted(found)]
