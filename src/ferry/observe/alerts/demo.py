"""For ``ferry demo``: send what the run left (a quarantined amount mismatch, dead records) to a robot now."""

from __future__ import annotations

import datetime as dt

from ferry.observe.alerts.channels import build_channel
from ferry.observe.alerts.rules import AlertsFile, ChannelSpec, Rules
from ferry.observe.alerts.service import AlertService
from ferry.store import Ledger


async def alert_the_robot(
    ledger: Ledger, robot_url: str, secret: str | None, *, console_url: str = "http://127.0.0.1:8000"
) -> list[str]:
    """Evaluate the built-in rules once and send every alert to the DingTalk robot at ``robot_url`` (with its
    access token) at once (no group wait); returns the titles sent. The robot's refusals are raised."""
    rules = Rules(AlertsFile.model_validate({"defaults": {"group_wait": 0, "console_url": console_url}}))
    spec = ChannelSpec(name="demo-robot", type="dingtalk", url=robot_url, msgtype="actionCard")
    channel = build_channel(spec.model_copy(update={"secret": secret}))
    service = AlertService(ledger, rules, [channel], owner="ferry-demo")
    result = await service.tick(dt.datetime.now(dt.UTC))
    if result.errors:
        raise RuntimeError("; ".join(result.errors))
    return [str(n["body"]["title"]) for n in service.outbox.notifications() if n["status"] == "sent"]


__all__ = ["alert_the_robot"]
