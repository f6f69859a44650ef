"""A notification's content, channel-neutral: which alerts it announces, in which state, and its
identity (the same for two planners that see the same change). The channels render it (:mod:`.render`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any


def ident(
    key: str, kind: str, firing: Sequence[Any], ended: Sequence[Any], now: dt.datetime, repeat: dt.timedelta
) -> str:
    """The same for two planners that see the same change: which alerts, in which state, since when."""
    parts = sorted(f"{r.fingerprint}@{r.started_at.isoformat()}" for r in firing)
    parts += sorted(f"{r.fingerprint}/{r.resolved_at.isoformat()}" for r in ended)
    if kind == "repeat":
        parts.append(str(int(now.timestamp() // max(repeat.total_seconds(), 1))))
    return f"{key}|{kind}|" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def compose(
    kind: str, key: str, firing: Sequence[Any], new: Sequence[Any], ended: Sequence[Any], console_url: str
) -> dict[str, Any]:
    """What a message says, channel-neutral: the channels render it (:mod:`.channels`)."""
    severities = [r.severity for r in firing] or [r.severity for r in ended] or ["info"]
    severity = max(severities, key=["info", "warning", "critical"].index)
    new_fps = {r.fingerprint for r in new}

    def item(r: Any, state: str) -> dict[str, Any]:
        detail = r.detail or {}
        return {
            "fingerprint": r.fingerprint,
            "state": state,
            "new": r.fingerprint in new_fps,
            "summary": r.summary,
            "labels": r.labels,
            "records": detail.get("records", []),
            "count": detail.get("count"),
            "link": detail.get("link"),
            "started_at": r.started_at.isoformat(),
        }

    rule = (firing or ended)[0].rule
    scheme = (firing or ended)[0].labels.get("scheme", "")
    if kind == "resolved" and not firing:
        title = f"[RESOLVED] {rule}" + (f" · {scheme}" if scheme else "")
    else:
        title = (
            f"[{severity.upper()}] {rule}"
            + (f" · {scheme}" if scheme else "")
            + (f" ({len(firing)} alerts)" if len(firing) > 1 else "")
        )
    return {
        "title": title,
        "kind": kind,
        "severity": severity,
        "group": key,
        "alerts": [item(r, "firing") for r in firing] + [item(r, "resolved") for r in ended],
        "link": f"{console_url}/alerts",
    }


__all__ = ["compose", "ident"]
