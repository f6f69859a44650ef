"""What a run of a scheme reports, and the callbacks a progress display may set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferry.engine.collect import CollectReport
from ferry.engine.dispatch import DispatchReport


@dataclass
class RunSummary:
    scheme: str
    collect: CollectReport | None = None
    remedy: CollectReport | None = None
    dispatch: DispatchReport | None = None
    elapsed_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    #: why a step failed (its run is recorded as failed); the other steps still ran
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "errors": self.errors,
            "collect": self.collect.as_dict() if self.collect else None,
            "remedy": self.remedy.as_dict() if self.remedy else None,
            "dispatch": self.dispatch.as_dict() if self.dispatch else None,
            "elapsed_s": round(self.elapsed_s, 3),
            "statuses": self.statuses,
        }


@dataclass
class Progress:
    """Callbacks for a progress display; all optional."""

    on_page: Callable[[int], None] | None = None
    on_outcome: Callable[[str], None] | None = None
    #: a window's record count, when the source knows it (adds to a progress bar's total)
    on_total: Callable[[int], None] | None = None


__all__ = ["Progress", "RunSummary"]
