"""The API report of ``ferry apis`` and the console's API page: per-API figures, quotas and hourly series.

Reads the ledger only through its usage functions (:meth:`ferry.store.Ledger.usage_by_hour`); what it
knows of connections and schedules comes in as plain values (:class:`ConnectionInfo`), so this package
uses nothing but the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ferry.observe.usage.quota import (
    RATE_WINDOW,
    DingTalkQuota,
    KingdeeSessions,
    RestLimitUse,
    dingtalk_quota,
    kingdee_sessions,
    month_bounds,
    rest_limits,
)
from ferry.observe.usage.stats import ApiStats, per_api, percentile

if TYPE_CHECKING:
    from ferry.store import HourUsage, Ledger

DEFAULT_MONTHLY_QUOTA = 5000


@dataclass(frozen=True)
class ConnectionInfo:
    """What the quota model needs to know of one connection."""

    name: str
    type: str
    monthly_quota: int = DEFAULT_MONTHLY_QUOTA
    #: the limiter's configured rate (calls per second per API), when the connection has one
    qps: float | None = None
    #: declared limits of a REST connection: per_second, per_minute, per_day, per_month
    limits: Mapping[str, float | None] = field(default_factory=dict)
    #: the shortest poll interval of the schemes reading this connection
    poll_interval_s: float | None = None
    events_on: bool = False


def connection_infos(
    connections: Mapping[str, Any], schemes: Iterable[Any] = ()
) -> dict[str, ConnectionInfo]:
    """:class:`ConnectionInfo` by name from resolved connections (``.type``, ``.settings``) and schemes
    (their source's connection and schedule), duck-typed so this package imports neither."""
    polls: dict[str, float] = {}
    for scheme in schemes:
        source = getattr(scheme, "source", None)
        schedule = getattr(source, "schedule", None)
        interval = getattr(schedule, "interval", None)
        name = getattr(source, "connection", None)
        if name and interval:
            polls[name] = min(float(interval), polls.get(name, float(interval)))
    found: dict[str, ConnectionInfo] = {}
    for name, conn in connections.items():
        settings: Mapping[str, Any] = getattr(conn, "settings", None) or {}
        kind = str(getattr(conn, "type", ""))
        limits = settings.get("limits") or {}
        found[name] = ConnectionInfo(
            name=name,
            type=kind,
            monthly_quota=int(settings.get("monthly_quota", DEFAULT_MONTHLY_QUOTA)),
            qps=float(settings["qps"]) if settings.get("qps") else None,
            limits=dict(limits) if isinstance(limits, Mapping) else {},
            poll_interval_s=polls.get(name),
            events_on=bool(settings.get("event_token") or settings.get("stream")),
        )
    return found


@dataclass
class ApiReport:
    since: dt.datetime
    until: dt.datetime
    apis: list[ApiStats]
    quotas: list[DingTalkQuota | KingdeeSessions | RestLimitUse]
    hours: list[HourUsage]
    infos: dict[str, ConnectionInfo]

    def as_dict(self) -> dict[str, Any]:
        apis = []
        for s in self.apis:
            d = s.as_dict()
            info = self.infos.get(s.connection)
            d["limit_per_s"] = info.qps if info else None
            apis.append(d)
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "apis": apis,
            "quotas": [q.as_dict() for q in self.quotas],
        }

    def series(self) -> dict[str, Any]:
        """What the console's charts draw: calls per hour by API, latency percentiles and errors by code."""
        hours = sorted({u.hour for u in self.hours})
        index = {h: i for i, h in enumerate(hours)}
        calls: dict[str, list[int]] = {}
        errors: dict[str, int] = {}
        buckets: dict[dt.datetime, list[int]] = {}
        for u in self.hours:
            line = calls.setdefault(f"{u.connection} {u.api}", [0] * len(hours))
            line[index[u.hour]] += u.calls
            for code, n in u.errors_by_code.items():
                errors[code] = errors.get(code, 0) + n
            b = buckets.setdefault(u.hour, [0] * len(u.latency_buckets))
            buckets[u.hour] = [x + y for x, y in zip(b, u.latency_buckets, strict=True)]
        return {
            "hours": [h.isoformat() for h in hours],
            "calls": calls,
            "latency": {
                q: [percentile(buckets[h], p) for h in hours]
                for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            },
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        }


def api_report(
    ledger: Ledger,
    infos: Mapping[str, ConnectionInfo],
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
    connection: str | None = None,
) -> ApiReport:
    """Per-API figures over ``[since, until)`` and each connection's quota as of ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    until = until or now
    # the quota needs the whole month and the rate window, whatever period the figures cover
    month_start, _ = month_bounds(now)
    reach = min(since, month_start, now - RATE_WINDOW)
    every = ledger.usage_by_hour(since=reach, until=max(until, now), connection=connection)
    first_hour = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = [u for u in every if first_hour <= u.hour < until]
    names = sorted({u.connection for u in every} | ({connection} if connection else set(infos)))
    quotas: list[DingTalkQuota | KingdeeSessions | RestLimitUse] = []
    for name in names:
        if connection is not None and name != connection:
            continue
        info = infos.get(name) or ConnectionInfo(name=name, type=_guess_type(name, every))
        if info.type == "dingtalk":
            quotas.append(
                dingtalk_quota(
                    name,
                    every,
                    allowance=info.monthly_quota,
                    now=now,
                    poll_interval_s=info.poll_interval_s,
                    events_on=info.events_on,
                )
            )
        elif info.type == "kingdee":
            quotas.append(kingdee_sessions(name, hours))
        elif info.type == "http" and info.limits:
            quotas.append(rest_limits(name, hours, info.limits))
    return ApiReport(since, until, per_api(hours), quotas, hours, dict(infos))


def _guess_type(name: str, hours: Iterable[HourUsage]) -> str:
    # without a connections file: DingTalk meters its calls, Kingdee logs in; the name is the last hint
    apis = {u.api for u in hours if u.connection == name}
    if any(u.metered for u in hours if u.connection == name) or "dingtalk" in name.lower():
        return "dingtalk"
    if any(a.startswith("Login") for a in apis) or "kingdee" in name.lower():
        return "kingdee"
    return "http"
