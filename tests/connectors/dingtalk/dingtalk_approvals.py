"""Helpers for the approval-source tests: a source, a scheme and a ledger around a running sandbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ferry.connectors.dingtalk import DingTalkClient, DingTalkSettings
from ferry.connectors.dingtalk.source import ApprovalParams, ApprovalSource, utcnow
from ferry.observe.calls import MemoryCallRecorder
from ferry.scheme import Scheme
from ferry.store import Ledger

SCHEME_ID = "dt-approvals"
V1_LIST = "v1.0/workflow/processes/instanceIds/query"
V1_GET = "v1.0/workflow/processInstances"
OAPI_LIST = "topapi/processinstance/listids"
OAPI_GET = "topapi/processinstance/get"


def settings_for(sb: Any, style: str = "v1", **kw: Any) -> DingTalkSettings:
    return DingTalkSettings(
        connection="dt_test",
        app_key=sb.config.app_key,
        app_secret=sb.config.app_secret,
        api_style=style,
        oapi_base=sb.url,
        api_base=sb.url,
        **kw,
    )


def source_for(
    sb: Any,
    style: str = "v1",
    *,
    ledger: Ledger | None = None,
    clock: Any = utcnow,
    recorder: Any = None,
    **params: Any,
) -> ApprovalSource:
    p = ApprovalParams.model_validate(
        {"process_code": sb.config.process_code, "retry_base_s": 0.05, **params}
    )
    client = DingTalkClient(settings_for(sb, style), recorder or MemoryCallRecorder())
    return ApprovalSource(client, p, ledger=ledger, scheme_id=SCHEME_ID, clock=clock)


def approval_scheme(process_code: str, **params: Any) -> Scheme:
    return Scheme.model_validate(
        {
            "id": SCHEME_ID,
            "source": {
                "connection": "dingtalk_main",
                "api": "processinstance",
                "id": "process_instance_id",
                "number": "business_id",
                "initial_days": 60,
                "params": {"process_code": process_code, "retry_base_s": 0.05, **params},
            },
            "target": {"connection": "none", "api": "noop"},
        }
    )


def new_ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ferry.db'}")
    ledger.migrate()
    return ledger


def requests(sb: Any, api: str) -> int:
    """How many requests the sandbox served on ``api``: received, less those it throttled (on a loaded
    machine a stalled event loop can bunch paced calls; a throttled call is retried and costs nothing)."""
    counts = sb.state.calls.get(api, {})
    return int(counts.get("requests", 0)) - int(counts.get("throttled", 0))


def create_running(sb: Any, **body: Any) -> str:
    answer = sb.http.post("/_sandbox/instances", json={"form": {}, **body})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["process_instance_id"])


def past(minutes: float = 1) -> dt.datetime:
    return utcnow() - dt.timedelta(minutes=minutes)
