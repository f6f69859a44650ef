"""What a check says about one record: a typed verdict, with the values it looked at.

A :class:`Finding` is one rule's or check's verdict that is not a plain pass; :class:`Assessment` is all
of a record's findings and what they decide together (the strongest wins: quarantine, hold, then go).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

#: pass: nothing to say; warn: a note, the record goes on; block: stopped, with a reason; error: the
#: check could not be made (treated as its severity says, never as a pass)
Verdict = Literal["pass", "warn", "block", "error"]
#: what the record's findings decide
Decision = Literal["go", "hold", "quarantine"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's or check's verdict about one record."""

    rule: str
    #: the rule kind (``required``, ``regex``, ...) or the check (``duplicate``, ``outlier``, ...)
    kind: str
    verdict: Verdict
    #: what the verdict does when it is not a pass: quarantine, block (hold) or warn
    severity: str
    message: str
    #: the values the check looked at (amounts, dates, the normalised number, the z-score...)
    values: dict[str, Any] = field(default_factory=dict)
    #: ledger ids of the records it matched (the earlier payment it may duplicate)
    matched: tuple[int, ...] = ()

    @property
    def effect(self) -> Decision:
        """What this finding alone does to the record."""
        if self.verdict in ("pass", "warn") or self.severity == "warn":
            return "go"
        return "quarantine" if self.severity == "quarantine" else "hold"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "verdict": self.verdict,
            "severity": self.severity,
            "message": self.message,
            "values": self.values,
            "matched": list(self.matched),
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    """A record's findings (the verdicts that are not a pass) and what they decide; ``passed`` keeps the
    pass verdicts with the values they looked at."""

    findings: tuple[Finding, ...] = ()
    passed: tuple[Finding, ...] = ()

    @classmethod
    def of(cls, verdicts: Sequence[Finding]) -> Assessment:
        return cls(
            tuple(f for f in verdicts if f.verdict != "pass"),
            tuple(f for f in verdicts if f.verdict == "pass"),
        )

    @property
    def decision(self) -> Decision:
        effects = {f.effect for f in self.findings}
        if "quarantine" in effects:
            return "quarantine"
        return "hold" if "hold" in effects else "go"

    def stopping(self) -> list[Finding]:
        """The findings that stop the record (none when it goes on)."""
        decision = self.decision
        return [f for f in self.findings if f.effect == decision] if decision != "go" else []

    def reason(self) -> str | None:
        """The reason a person reads, or None when the record goes on."""
        stopping = self.stopping()
        if not stopping:
            return None
        if self.decision == "quarantine":
            return _line(stopping[0])  # the first rule that failed, as before rules were findings
        return "; ".join(_line(f) for f in stopping)


def _line(f: Finding) -> str:
    if f.kind == "expression" and f.severity == "quarantine":
        return f.message  # today's wording: "quality rule 'x' failed: ..."
    return f"{f.rule}: {f.message}"


__all__ = ["Assessment", "Decision", "Finding", "Verdict"]
