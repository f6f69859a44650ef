"""Helpers for the alert tests: channels pointed at the fixtures' peers, what the robot received, and
records put into the ledger through its own API (collect, claim, finish)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ferry.observe.alerts.channels import build_channel
from ferry.observe.alerts.rules import ChannelSpec
from ferry.store import Collected, Ledger, Outcome

ROBOT_TOKEN = "alerts-robot"
ROBOT_SECRET = "SECalertsrobotsecret000000000000000000000000000000000000000000"
KEYWORD = "Ferry"


def robot_spec(sb: Any, secret: str = ROBOT_SECRET, **over: Any) -> ChannelSpec:
    """The channel as alerts.yaml declares it (secret as a reference), then resolved to ``secret``."""
    values = {
        "name": "ding",
        "type": "dingtalk",
        "url": f"{sb.url}/robot/send?access_token={ROBOT_TOKEN}",
        "secret": "${ROBOT_SECRET}",
        "keyword": KEYWORD,
        **over,
    }
    return ChannelSpec.model_validate(values).model_copy(update={"secret": secret})


def robot_messages(sb: Any) -> list[dict[str, Any]]:
    messages = sb.http.get("/_sandbox/robot/messages", params={"access_token": ROBOT_TOKEN}).json()[
        "messages"
    ]
    return [m["body"] for m in messages]


def robot_text(body: dict[str, Any]) -> str:
    part = body.get("markdown") or body.get("actionCard") or {}
    return str(part.get("text", ""))


def mail_spec(box: Any) -> ChannelSpec:
    spec = ChannelSpec.model_validate(
        {
            "name": "mail",
            "type": "email",
            "host": box.host,
            "port": box.port,
            "username": "ferry",
            "password": "${MAIL_PASSWORD}",
            "sender": "ferry@example.com",
            "to": ["finance@example.com"],
        }
    )
    return spec.model_copy(update={"password": "mail-pass-123"})


def mail_channel(box: Any) -> Any:
    return build_channel(mail_spec(box), ssl_context=box.context)


def add_records(ledger: Ledger, scheme: str, n: int, now: dt.datetime, prefix: str = "R") -> list[int]:
    items = [Collected(f"{prefix}{i:04d}", f"{prefix}-{i}", {"amount": i}) for i in range(n)]
    ledger.collect(scheme, items, now=now)
    return sorted(
        r.id for r in ledger.list_records(scheme=scheme, limit=100_000) if r.source_id.startswith(prefix)
    )


def dispatch(ledger: Ledger, scheme: str, now: dt.datetime, status: str, **error: Any) -> int:
    """Claim every due record of ``scheme`` and finish each with ``status`` (the engine's own path)."""
    claimed = ledger.claim(scheme, owner="test", limit=100_000, lease_seconds=60, now=now)
    outcomes = [
        Outcome(c.id, status, lease_token=c.lease_token, **error)  # type: ignore[arg-type]
        for c in claimed
    ]
    ledger.finish("test", outcomes, now=now)
    return len(claimed)
