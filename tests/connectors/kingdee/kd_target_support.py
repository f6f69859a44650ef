"""Helpers for the Kingdee target tests: the flagship's Push request, and what the sandbox holds and counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from kd_client_support import Server

from ferry.connectors.base import WriteOutcome
from ferry.connectors.kingdee.target import KingdeeTarget

TargetFactory = Callable[..., KingdeeTarget]


def push_request(number: Any, *, draft: Any = "true") -> dict[str, Any]:
    """The flagship's rendered Push request, booleans as a Qingyi template leaves them (strings)."""
    return {
        "FormId": "CN_PAYAPPLY",
        "Numbers": number,
        "IsEnableDefaultRule": "true",
        "TargetFormId": "AP_PAYBILL",
        "IsDraftWhenSaveFail": draft,
    }


def paybills(server: Server) -> dict[str, dict[str, Any]]:
    """Payment bills in the sandbox, by their source number (two for one source fail the test)."""
    bills = server.admin("GET", "bills", params={"form_id": "AP_PAYBILL"})["bills"]
    out: dict[str, dict[str, Any]] = {}
    for bill in bills:
        for source in bill["sources"]:
            assert source not in out, f"two payment bills for {source}"
            out[source] = bill
    return out


def served(server: Server) -> Counter[str]:
    """The business calls the sandbox has answered so far, per operation (its own counters)."""
    return Counter(server.admin("GET", "stats")["calls"])


def since(server: Server, before: Counter[str], *ops: str) -> tuple[int, ...]:
    """How many calls of each of ``ops`` the sandbox served since ``before``."""
    now = served(server)
    return tuple(now[op] - before[op] for op in ops)


def by_key(outcomes: Iterable[WriteOutcome]) -> dict[int, WriteOutcome]:
    return {o.key: o for o in outcomes}
