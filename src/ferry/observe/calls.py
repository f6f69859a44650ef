"""Every outbound API call is reported as an :class:`ApiCall` to a :class:`CallRecorder`.

Connectors take a recorder in their constructor; the engine passes one that writes the ``api_calls``
table. Tests and the command line may pass :class:`MemoryCallRecorder`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ApiCall:
    connection: str
    api: str
    #: "ok" or the error action ("retry", "slow_down", "reauthenticate", "reconcile", "give_up")
    status: str
    latency_ms: float
    http_status: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    #: True when the call counts against a metered quota (DingTalk's monthly calls)
    metered: bool = False
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class CallRecorder(Protocol):
    def record(self, call: ApiCall) -> None: ...


class MemoryCallRecorder:
    """Keeps calls in a list; for tests and one-off commands."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []

    def record(self, call: ApiCall) -> None:
        self.calls.append(call)

    def count(self, api: str | None = None, status: str | None = None) -> int:
        return sum(
            1 for c in self.calls if (api is None or c.api == api) and (status is None or c.status == status)
        )


class NullCallRecorder:
    def record(self, call: ApiCall) -> None:
        return None
