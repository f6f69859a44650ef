"""Population figures: the robust outlier score, Benford's first-digit test, volume anomalies.

Benford and volume are reports and alert inputs, never a gate on one record.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal


def modified_z(x: float, history: Sequence[float], *, mad_floor: float = 0.0) -> float | None:
    """``0.6745·(x − median)/MAD`` over ``history`` (Iglewicz & Hoaglin); None when the MAD is 0.

    ``mad_floor``: the MAD is taken as at least this fraction of the median, so a short history whose
    amounts happen to lie close together does not make an ordinary payment an outlier."""
    if not history:
        return None
    median = statistics.median(history)
    mad = max(statistics.median([abs(v - median) for v in history]), mad_floor * abs(median))
    if mad == 0:
        return None
    return 0.6745 * (x - median) / mad


#: Benford's law: P(d) = log10(1 + 1/d)
BENFORD = tuple(math.log10(1 + 1 / d) for d in range(1, 10))


def first_digit(amount: Decimal | float) -> int | None:
    """The first significant digit of a positive amount, or None."""
    a = abs(Decimal(str(amount)))
    if a == 0:
        return None
    digits = a.normalize().as_tuple().digits
    return int(digits[0]) if digits else None


@dataclass(frozen=True, slots=True)
class BenfordResult:
    """First-digit counts against Benford's law: chi-square (8 degrees of freedom) and the mean absolute
    deviation, with Nigrini's reading of the MAD."""

    n: int
    counts: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    mad: float

    @property
    def conformity(self) -> str:
        """Nigrini's first-digit MAD bands (Forensic Analytics, ch. 5); too few amounts say nothing."""
        if self.n < 100:
            return "too few"
        if self.mad < 0.006:
            return "close"
        if self.mad < 0.012:
            return "acceptable"
        if self.mad < 0.015:
            return "marginal"
        return "nonconforming"

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "counts": list(self.counts),
            "observed": [c / self.n if self.n else 0.0 for c in self.counts],
            "expected": list(self.expected),
            "chi2": round(self.chi2, 3),
            "mad": round(self.mad, 5),
            "conformity": self.conformity,
        }


def benford(amounts: Iterable[Decimal | float]) -> BenfordResult:
    counts = [0] * 9
    for a in amounts:
        d = first_digit(a)
        if d is not None:
            counts[d - 1] += 1
    n = sum(counts)
    chi2 = sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts, BENFORD, strict=True)) if n else 0.0
    mad = sum(abs(c / n - p) for c, p in zip(counts, BENFORD, strict=True)) / 9 if n else 0.0
    return BenfordResult(n=n, counts=tuple(counts), expected=BENFORD, chi2=chi2, mad=mad)


@dataclass(frozen=True, slots=True)
class VolumeVerdict:
    """How this hour's new records compare with the same hour on past days."""

    current: int
    median: float
    low: float
    high: float

    @property
    def anomaly(self) -> str | None:
        """``low`` or ``high`` when outside the band, else None."""
        if self.current < self.low:
            return "low"
        if self.current > self.high:
            return "high"
        return None


def volume_anomaly(
    past: Sequence[int], current: int, *, factor: float = 3.0, floor: int = 5
) -> VolumeVerdict:
    """Is ``current`` (new records this hour) far from ``past`` (the same hour on earlier days)? The band
    is the median ± ``factor`` robust spreads (1.4826·MAD, at least ``floor`` records), so a quiet
    scheme's hour of three records is not an alert. For alert rules, never a hold."""
    if not past:
        return VolumeVerdict(current, float(current), 0.0, math.inf)
    median = float(statistics.median(past))
    spread = max(1.4826 * statistics.median(abs(v - median) for v in past), float(floor))
    return VolumeVerdict(current, median, max(0.0, median - factor * spread), median + factor * spread)


__all__ = [
    "BENFORD",
    "BenfordResult",
    "VolumeVerdict",
    "benford",
    "first_digit",
    "modified_z",
    "volume_anomaly",
]
