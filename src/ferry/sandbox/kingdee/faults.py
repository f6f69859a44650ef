"""Fault injection and latency for the Kingdee sandbox.

Faults are named, each with a rate in [0, 1], optionally limited to some operations and to a number of
firings (``count``), so a test can say "the next Push is dropped after commit" and nothing else.

| name                | effect                                                                              |
|---------------------|-------------------------------------------------------------------------------------|
| ``session_loss``    | the caller's session is dropped before the call: MsgCode 1 (session modes)          |
| ``conflict``        | MsgCode 13 网控冲突, nothing done                                                    |
| ``limit``           | MsgCode 14 调用限制, nothing done                                                    |
| ``error5xx``        | HTTP 500, nothing done                                                              |
| ``response_error``  | HTTP 200 ``response_error:{...}`` body, nothing done                                |
| ``drop_after_commit``| write operations only: the operation is applied, then the connection is closed     |
|                     | without any answer                                                                  |
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FAULT_NAMES = ("session_loss", "conflict", "limit", "error5xx", "response_error", "drop_after_commit")


@dataclass(slots=True)
class FaultRule:
    """One armed fault."""

    name: str
    rate: float
    #: lower-case operation names the fault applies to; ``None`` = every business operation
    ops: frozenset[str] | None = None
    #: how many more times it may fire; ``None`` = unlimited
    remaining: int | None = None

    def describe(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        return {
            "rate": self.rate,
            "ops": sorted(self.ops) if self.ops is not None else None,
            "remaining": self.remaining,
        }


def parse_faults(text: str) -> dict[str, float]:
    """``"conflict=0.1,limit=0.05"`` → ``{"conflict": 0.1, "limit": 0.05}``; unknown names are refused."""
    out: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, rate_text = part.partition("=")
        name = name.strip()
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        rate = float(rate_text) if sep else 1.0
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate for {name} must be between 0 and 1")
        out[name] = rate
    return out


def parse_latency(text: str) -> tuple[int, int]:
    """``"20-80"`` → ``(20, 80)`` milliseconds; ``"50"`` → ``(50, 50)``."""
    low, sep, high = text.partition("-")
    lo = int(low.strip())
    hi = int(high.strip()) if sep else lo
    if lo < 0 or hi < lo:
        raise ValueError("latency must be MIN-MAX milliseconds with 0 <= MIN <= MAX")
    return lo, hi


class Faults:
    """The armed faults, the latency range and counters of what fired."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()
        self.rules: dict[str, FaultRule] = {}
        self.latency_ms: tuple[int, int] = (0, 0)
        self.fired: Counter[str] = Counter()

    def set(self, name: str, rate: float, ops: Iterable[str] | None = None, count: int | None = None) -> None:
        """Arm (or with rate 0, disarm) one fault."""
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            if rate == 0.0 or count == 0:
                self.rules.pop(name, None)
                return
            op_set = frozenset(o.casefold() for o in ops) if ops is not None else None
            self.rules[name] = FaultRule(name, rate, op_set, count)

    def set_many(self, spec: Mapping[str, Any]) -> None:
        """Arm from the admin API's JSON: ``{"conflict": 0.5}`` or ``{"conflict": {"rate":1,"ops":[..],"count":1}}``."""
        for name, value in spec.items():
            if isinstance(value, Mapping):
                self.set(name, float(value.get("rate", 1.0)), value.get("ops"), value.get("count"))
            else:
                self.set(name, float(value))

    def clear(self) -> None:
        """Disarm everything and zero the latency."""
        with self._lock:
            self.rules.clear()
            self.latency_ms = (0, 0)

    def fire(self, name: str, op: str) -> bool:
        """Whether fault ``name`` hits this call of ``op`` (and count it if so)."""
        with self._lock:
            rule = self.rules.get(name)
            if rule is None or (rule.ops is not None and op.casefold() not in rule.ops):
                return False
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                return False
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self.rules[name]
            self.fired[name] += 1
            return True

    def delay_seconds(self) -> float:
        """A latency to add to this call, drawn uniformly from the range."""
        lo, hi = self.latency_ms
        if hi <= 0:
            return 0.0
        return self._rng.uniform(lo, hi) / 1000.0

    def describe(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        with self._lock:
            return {
                "faults": {name: rule.describe() for name, rule in self.rules.items()},
                "latency_ms": list(self.latency_ms),
                "fired": dict(self.fired),
            }


__all__ = ["FAULT_NAMES", "FaultRule", "Faults", "parse_faults", "parse_latency"]
