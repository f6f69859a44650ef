"""A DingTalk sandbox, a memory target and a flagship-like scheme, for engine-level DingTalk tests.

The module doubles as a connector: registered under type ``memory`` (its :data:`SPEC`), its
``build_target`` hands out the one :data:`TARGET`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from ferry.connectors.base import TargetDoc, WriteItem, WriteOutcome
from ferry.connectors.spec import ConnectorSpec
from ferry.scheme import Scheme


class MemoryTarget:
    """Keeps every written request; finds them again on probe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written: dict[str, dict[str, Any]] = {}
        self.writes = 0

    async def write(self, items: Sequence[WriteItem]) -> Sequence[WriteOutcome]:
        out = []
        with self.lock:
            for item in items:
                self.writes += 1
                self.written[item.source_id] = item.request
                out.append(WriteOutcome(item.key, TargetDoc(id=f"D-{item.source_id}", number=item.number)))
        return out

    async def probe(self, item: WriteItem) -> TargetDoc | None:
        with self.lock:
            return (
                TargetDoc(id=f"D-{item.source_id}", number=item.number)
                if item.source_id in self.written
                else None
            )

    async def aclose(self) -> None:
        return None


TARGET = MemoryTarget()


def build_target(conn: Any, spec: Any, ctx: Any) -> MemoryTarget:
    return TARGET


def build_source(conn: Any, spec: Any, ctx: Any) -> Any:
    raise NotImplementedError("the memory connector is a target only")


class _AnySettings(BaseModel):
    model_config = ConfigDict(extra="allow")


SPEC = ConnectorSpec(
    name="memory",
    summary="a target that keeps writes in memory (tests)",
    settings=_AnySettings,
    factory=__name__,
    capabilities=frozenset({"target", "probe"}),
)


def payment_scheme(process_code: str, *, initial_days: float = 60) -> Scheme:
    """The flagship's shape: approvals in, one request per approved instance with its Kingdee number."""
    return Scheme.model_validate(
        {
            "id": "dt-engine",
            "source": {
                "connection": "dingtalk_main",
                "api": "topapi/processinstance/get",
                "id": "process_instance_id",
                "number": "business_id",
                "initial_days": initial_days,
                "params": {"process_code": process_code, "max_age_days": 60, "retry_base_s": 0.05},
            },
            "target": {
                "connection": "memory_target",
                "api": "Push",
                "request": [
                    {"field": "Numbers", "type": "array", "value": "{{金蝶单据编号}}"},
                    {"field": "Amount", "value": "{{付款金额}}"},
                ],
            },
            "retry": {"initial_delay": 0.1, "max_delay": 1},
        }
    )


def connections(sandbox_url: str, app_key: str, app_secret: str, style: str = "v1") -> dict[str, Any]:
    return {
        "dingtalk_main": {
            "type": "dingtalk",
            "app_key": app_key,
            "app_secret": "${DT_SECRET}",
            "api_style": style,
            "api_base": sandbox_url,
            "oapi_base": sandbox_url,
        },
        "memory_target": {"type": "memory"},
    }
